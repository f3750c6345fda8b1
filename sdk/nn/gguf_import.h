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

// config.json's bos_token_id / eos_token_id from tokenizer.ggml.*_token_id, where present.
void add_gguf_token_ids(const sdk::GgufFile& f, int64_t vocab, nlohmann::json& config);

// ModelError naming the first tensor `m` refers to that the file does not hold.
void check_gguf_tensors(const sdk::GgufFile& f, const GgufTensorMap& m);

}  // namespace vkllm::nn
