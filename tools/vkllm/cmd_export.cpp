// vkllm export-gguf DIR OUT.gguf --type f16|q8_0|q4_k_m|...: the same weights for llama.cpp.
#include <fmt/format.h>

#include "commands.h"
#include "core/gguf_export.h"

namespace vkllm::cli {

Run add_export(CLI::App& app) {
  auto* cmd = app.add_subcommand("export-gguf", "Write a model folder as a llama.cpp GGUF file");
  static std::string dir, out, type = "f16";
  cmd->add_option("model,--model,-m", dir, "Model folder")->required();
  cmd->add_option("output", out, "GGUF file to write")->required();
  cmd->add_option("--type", type,
                  "Tensor type: f32, f16, q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k, q4_k, q4_k_m, "
                  "q5_k, q5_k_m, q6_k, iq4_nl, iq4_xs");
  return [] {
    core::PluginHost host;
    core::export_gguf(dir, out, sdk::gguf_export_type(type), host);
    fmt::print("wrote {}\n", out);
    return 0;
  };
}

}  // namespace vkllm::cli
