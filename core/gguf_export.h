#pragma once
// `vkllm export-gguf`: a model folder as a llama.cpp GGUF file (the family writes its
// architecture and tensors; the host adds the tokenizer).
#include <string>

#include "core/plugin_host.h"
#include "sdk/base/dtype.h"

namespace vkllm::core {

void export_gguf(const std::string& folder, const std::string& out_path, Dtype type,
                 const PluginHost& plugins);

}  // namespace vkllm::core
