#pragma once
// GGUF files as models: `-m FILE.gguf` wherever a model folder is taken. The file is read once
// (sdk::GgufFile), routed by general.architecture through the registry to its family, whose
// import_gguf maps the metadata to a config.json and the tensor names; the host writes that
// config, the tokenizer made from the metadata and gguf.json (the file and the name map) into a
// small folder under the cache directory, and every folder-taking path loads that folder. The
// weights stay in the GGUF file, memory-mapped (core/weights: open_checkpoint).
#include <string>

#include <memory>

#include "core/plugin_host.h"
#include "core/tokenizer/tokenizer.h"

namespace vkllm::core {

// A regular file whose name ends in .gguf or that starts with GGUF's magic.
bool is_gguf_file(const std::string& path);

// `path` itself for a folder (or anything not a GGUF file); for a GGUF file the folder that
// stands for it, made or refreshed when the file changed (size, modification time, or this
// build's mapping). ModelError naming the file for one that cannot be read or mapped.
std::string model_folder(const std::string& path, const PluginHost& plugins);

// The tokenizer of a GGUF file's metadata alone (no family, no folder): `vkllm tokenize`.
// ModelError when the file has none.
std::shared_ptr<Tokenizer> gguf_tokenizer(const std::string& path);

}  // namespace vkllm::core
