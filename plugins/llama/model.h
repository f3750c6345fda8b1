#pragma once
#include "sdk/nn/decoder.h"
#include "sdk/plugin_api/family.h"

namespace vkllm::llama {

using Config = nn::DecoderConfig;

// Writes c's weights as a llama.cpp GGUF (architecture llama or qwen2).
void export_gguf(const Config& c, plugin::WeightSource& src, sdk::GgufWriter& out, Dtype type);
plugin::GgufImport import_gguf(const sdk::GgufFile& f);

}  // namespace vkllm::llama
