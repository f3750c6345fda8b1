#pragma once
// The documented maximums on input that vkllm reads from files and requests (README, "Limits on
// hostile input"). Each is far above what real models and prompts use and low enough that a
// hostile file fails fast with an error naming the limit, instead of exhausting memory, stack
// or time. Each has a test (core/tests/test_limits.cpp).
#include <cstdint>

namespace vkllm::core::limits {

// JSON files a model folder holds (config.json, tokenizer_config.json, generation_config.json,
// preprocessor_config.json, model.safetensors.index.json); tokenizer.json has its own.
inline constexpr uint64_t kJsonFileBytes = uint64_t(16) << 20;
inline constexpr uint64_t kTokenizerJsonBytes = uint64_t(256) << 20;

// safetensors: the JSON header, tensors per file, dimensions per tensor.
inline constexpr uint64_t kSafetensorsHeaderBytes = uint64_t(100) << 20;
inline constexpr uint64_t kSafetensorsTensors = uint64_t(1) << 17;
inline constexpr int kTensorRank = 8;

// Tokenizer: vocabulary entries and added tokens (the largest real vocabularies hold ~262k),
// bytes of text per encode call.
inline constexpr uint64_t kVocabEntries = uint64_t(1) << 20;
inline constexpr uint64_t kEncodeBytes = uint64_t(64) << 20;

// Chat templates: source bytes, nesting of the parsed syntax (expressions and blocks), macro
// recursion, loop iterations and macro calls per render, rendered bytes (also the longest
// string a render may build).
inline constexpr uint64_t kTemplateBytes = uint64_t(1) << 20;
inline constexpr int kTemplateNesting = 256;
inline constexpr int kTemplateMacroDepth = 200;
inline constexpr uint64_t kTemplateSteps = uint64_t(1) << 20;
inline constexpr uint64_t kTemplateOutputBytes = uint64_t(16) << 20;

// Images: encoded bytes (a file or a data: URL) and decoded pixels.
inline constexpr uint64_t kImageBytes = uint64_t(256) << 20;
inline constexpr int64_t kImagePixels = int64_t(1) << 26;  // 64 Mpixel

}  // namespace vkllm::core::limits
