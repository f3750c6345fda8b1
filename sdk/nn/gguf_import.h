#pragma once
// What every family's GGUF import shares (plugin::Family::import_gguf): llama.cpp's names of the
// SDK decoder's tensors, the token ids it keeps in the vocabulary, and the final check that the
// file holds every tensor the map names.
#include <map>
#include <string>

#include "sdk/gguf_file.h"
#include "sdk/plugin_api/family.h"

namespace vkllm::nn {

using GgufTensorMap = std::map<std::string, plugin::GgufTensorRef>;

// Layer `g` ("blk.N.") of a GGUF file as checkpoint layer `p` ("model.layers.N."): attention
// q/k/v/output and MLP gate/up/down projections; q's and k's rows un-permuted for this many
// heads (0: stored as is).
void add_gguf_projections(GgufTensorMap& m, const std::string& p, const std::string& g,
                          int unpermute_q = 0, int unpermute_k = 0);

// The config.json keys every decoder reads, from the architecture's keys (`ARCH.block_count`,
// `.embedding_length`, `.attention.head_count[_kv]`, `.attention.key_length` (default hidden /
// heads), `.feed_forward_length`, `.context_length` (default `default_context`),
// `.attention.layer_norm_rms_epsilon`, `.rope.freq_base` where present), the vocabulary size
// from token_embd.weight and bos/eos_token_id from tokenizer.ggml.*_token_id where present.
// Counts are bounded so a corrupt file cannot make a loader allocate by them.
nlohmann::json gguf_decoder_config(const sdk::GgufFile& f, int64_t default_context);

// ModelError naming the first tensor `m` refers to that the file does not hold.
void check_gguf_tensors(const sdk::GgufFile& f, const GgufTensorMap& m);

}  // namespace vkllm::nn
