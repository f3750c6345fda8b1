// vkllm inspect DIR: family, dtype, parameter count and memory estimate of a model folder.
#include <fmt/format.h>

#include "commands.h"
#include "core/model.h"
#include "core/plugin_host.h"

namespace vkllm::cli {

Run add_inspect(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "Describe a model folder without loading it");
  static std::string dir, quantize;
  static bool json = false;
  cmd->add_option("model,--model,-m", dir, "Model folder (config.json, *.safetensors)")->required();
  cmd->add_option("--quantize", quantize, "Estimate for load-time quantization (q8_0, q4_0)");
  cmd->add_flag("--json", json, "Print JSON");
  return [] {
    core::PluginHost host;
    std::optional<Dtype> q;
    if (!quantize.empty()) q = parse_dtype(quantize);
    auto s = core::inspect(dir, host, q);
    int64_t context = s.info.max_context;
    if (json) {
      nlohmann::json j = {{"model_type", s.model_type},
                          {"family", s.family},
                          {"route", s.rule},
                          {"kind", s.kind},
                          {"dtype", s.dtype},
                          {"plugin", s.plugin},
                          {"parameters", s.parameters},
                          {"layers", s.info.num_layers},
                          {"hidden_size", s.info.hidden_size},
                          {"vocab_size", s.info.vocab_size},
                          {"max_context", context},
                          {"weight_bytes", s.weight_bytes},
                          {"kv_bytes_per_token", s.kv_bytes_per_token}};
      fmt::print("{}\n", j.dump(2));
      return 0;
    }
    fmt::print("model type   {} (family {}, {}{})\n", s.model_type, s.family, s.kind,
               s.rule.empty() ? "" : "; route " + s.rule);
    fmt::print("plugin       {}\n", s.plugin);
    fmt::print("dtype        {}\n", s.dtype.empty() ? "?" : s.dtype);
    fmt::print("parameters   {:.2f}M\n", double(s.parameters) / 1e6);
    fmt::print("layers       {}, hidden {}, vocab {}, context {}\n", s.info.num_layers,
               s.info.hidden_size, s.info.vocab_size, context);
    fmt::print("weights      {:.1f} MiB on the device{}\n", double(s.weight_bytes) / (1 << 20),
               q ? " (" + quantize + ")" : "");
    fmt::print("KV cache     {:.1f} KiB per token (f16); {:.1f} MiB at 4096 tokens\n",
               double(s.kv_bytes_per_token) / 1024,
               double(s.kv_bytes_per_token) * 4096 / (1 << 20));
    return 0;
  };
}

}  // namespace vkllm::cli
