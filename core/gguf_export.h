#pragma once
// `vkllm export-gguf`: a model folder as a llama.cpp GGUF file (the family writes its
// architecture and tensors; the host adds the tokenizer).
#include <string>

#include "core/plugin_host.h"
#include "sdk/base/dtype.h"
#include "sdk/gguf.h"

namespace vkllm::core {

void export_gguf(const std::string& folder, const std::string& out_path,
                 const sdk::GgufExportType& type, const PluginHost& plugins);
// One format for every matrix (the export type of the same name).
void export_gguf(const std::string& folder, const std::string& out_path, Dtype type,
                 const PluginHost& plugins);

}  // namespace vkllm::core
