#pragma once
// A GGUF file's vocabulary (tokenizer.ggml.*) as the tokenizer.json and tokenizer_config.json
// the tokenizer pipeline reads, and the byte-level pre-tokenizers llama.cpp knows by name
// (tokenizer.ggml.pre), shared with the exporter.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "sdk/gguf_file.h"

namespace vkllm::core {

struct GgufTokenizerFiles {
  nlohmann::json tokenizer;  // tokenizer.json
  nlohmann::json config;     // tokenizer_config.json (bos/eos tokens, chat template)
};

// nullopt when the file has no vocabulary (tokenizer.ggml.model absent); ModelError naming the
// key for one this build cannot read. Byte-level BPE vocabularies with a pre-tokenizer
// registry/gguf_tokenizers.json names, and SentencePiece ones (scores become BPE merges ranked
// by the merged token's score, byte fallback, the space prefix).
std::optional<GgufTokenizerFiles> tokenizer_from_gguf(const sdk::GgufFile& f);

// The llama.cpp name of a byte-level split regex; empty when none matches.
std::string byte_level_pre_name(const std::string& regex);

}  // namespace vkllm::core
