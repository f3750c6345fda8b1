#pragma once
// GGUF export of a Gemma 3 text model for llama.cpp (architecture "gemma3").
#include <string>

#include "sdk/gguf.h"
#include "sdk/nn/decoder_config.h"
#include "sdk/plugin_api/family.h"

namespace vkllm::gemma3 {

// The text model under `prefix` ("model." or "language_model.model."); the host adds the
// tokenizer. ModelError for settings llama.cpp's gemma3 cannot express.
void export_gguf(const nn::DecoderConfig& c, plugin::WeightSource& src, const std::string& prefix,
                 sdk::GgufWriter& out, Dtype type);
// A llama.cpp "gemma3" file as a gemma3_text config and checkpoint names (norms read back as w).
plugin::GgufImport import_gguf(const sdk::GgufFile& f);

}  // namespace vkllm::gemma3
