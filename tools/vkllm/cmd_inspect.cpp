// vkllm inspect DIR: family, dtype, parameter count and the device memory budget of a model
// folder for a context (weights, KV cache, activations), without loading it.
#include <fmt/format.h>

#include "commands.h"
#include "core/gguf/gguf_folder.h"
#include "core/memory/estimate.h"
#include "core/model.h"
#include "core/plugin_host.h"
#include "sdk/vk/device.h"

namespace vkllm::cli {

namespace {
double mib(uint64_t b) { return double(b) / (1 << 20); }
}  // namespace

Run add_inspect(CLI::App& app) {
  auto* cmd = app.add_subcommand("inspect", "Describe a model folder without loading it");
  static std::string dir, quantize;
  static bool json = false, no_prefix_cache = false, fit_kv_bits = false;
  static int64_t context = 0, cache_tokens = 0, max_kv_size = 0;
  static int kv_bits = 16, parallel = 1, prefill_chunk = 512;
  static uint64_t budget = 0, image_cache = uint64_t(256) << 20;
  cmd->add_option("model,--model,-m", dir, "Model folder (config.json, *.safetensors)")->required();
  cmd->add_option("--quantize", quantize, "Estimate for load-time quantization (q8_0, q4_0)");
  cmd->add_option("--context,-c", context, "Context length in tokens (default: min(model, 4096))");
  cmd->add_option("--kv-bits", kv_bits, "KV cache storage: 16, 8 or 4 bits per value")
      ->check(CLI::IsMember({4, 8, 16}));
  cmd->add_option("--parallel", parallel, "Sequences batched together")->check(CLI::PositiveNumber);
  cmd->add_option("--prefill-chunk", prefill_chunk, "Tokens per forward pass in prefill")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--no-prefix-cache", no_prefix_cache, "Without the prefix cache's spare room");
  cmd->add_option("--cache-tokens", cache_tokens, "KV capacity in tokens");
  cmd->add_option("--max-kv-size", max_kv_size, "Rotating KV cache of this many tokens");
  cmd->add_option("--memory-budget", budget,
                  "Device memory to fit (default: 90% of the default device's memory)")
      ->transform(CLI::AsSizeValue(false));
  cmd->add_flag("--fit-kv-bits", fit_kv_bits, "Let the fit narrow the KV cache");
  cmd->add_flag("--json", json, "Print JSON");
  return [] {
    core::PluginHost host;
    std::optional<Dtype> q;
    if (!quantize.empty()) q = parse_dtype(quantize);
    const std::string folder = core::model_folder(dir, host);  // a GGUF file's folder
    auto s = core::inspect(folder, host, q);
    const bool vision = s.info.vision.has_value();
    const core::MemoryRequest request = core::folder_request(s, folder,
                                                             {.context = context,
                                                              .prefill_chunk = prefill_chunk,
                                                              .kv_bits = kv_bits,
                                                              .prefix_cache = !no_prefix_cache,
                                                              .max_kv_size = max_kv_size,
                                                              .cache_tokens = cache_tokens},
                                                             parallel, image_cache);
    const core::MemoryEstimate asked = core::estimate_memory(request);
    std::string device_name = "--memory-budget";
    if (budget == 0) {
      auto devices = sdk::list_devices();
      const auto& d = devices[sdk::choose_device(devices, DeviceOptions::from_env())];
      budget = core::default_memory_budget(d);
      device_name = d.name;
    }
    std::optional<core::MemoryFit> fit;
    std::string fit_error;
    try {
      fit = core::fit_memory(request, budget, fit_kv_bits);
    } catch (const DeviceError& e) {
      fit_error = e.what();
    }
    auto memory_json = [](const core::MemoryEstimate& e) {
      return nlohmann::json{{"context", e.context},
                            {"cache_tokens", e.cache_tokens},
                            {"kv_bits", e.kv_bits},
                            {"weights", e.weights},
                            {"kv", e.kv},
                            {"activations", e.activations},
                            {"text_activations", e.text_activations},
                            {"image_activations", e.image_activations},
                            {"image_cache", e.image_cache},
                            {"total", e.total()}};
    };
    if (json) {
      nlohmann::json j = {
          {"model_type", s.model_type},
          {"family", s.family},
          {"route", s.rule},
          {"kind", s.kind},
          {"dtype", s.dtype},
          {"plugin", s.plugin},
          {"parameters", s.parameters},
          {"layers", s.info.num_layers},
          {"hidden_size", s.info.hidden_size},
          {"vocab_size", s.info.vocab_size},
          {"max_context", s.info.max_context},
          {"weight_bytes", s.weight_bytes},
          {"kv_bytes_per_token", s.kv_bytes_per_token},
          {"activation_bytes_per_token", s.info.activation_bytes_per_token},
          {"vision_activation_bytes_per_patch", s.info.vision_activation_bytes_per_patch},
          {"memory", memory_json(asked)},
          {"budget", budget}};
      if (fit) j["fit"] = {{"changes", fit->changes}, {"memory", memory_json(fit->estimate)}};
      if (!fit_error.empty()) j["fit"] = {{"error", fit_error}};
      fmt::print("{}\n", j.dump(2));
      return 0;
    }
    fmt::print("model type   {} (family {}, {}{})\n", s.model_type, s.family, s.kind,
               s.rule.empty() ? "" : "; route " + s.rule);
    fmt::print("plugin       {}\n", s.plugin);
    fmt::print("dtype        {}\n", s.dtype.empty() ? "?" : s.dtype);
    fmt::print("parameters   {:.2f}M\n", double(s.parameters) / 1e6);
    fmt::print("layers       {}, hidden {}, vocab {}, max context {}\n", s.info.num_layers,
               s.info.hidden_size, s.info.vocab_size, s.info.max_context);
    fmt::print("KV cache     {:.1f} KiB per token (f16)\n", double(s.kv_bytes_per_token) / 1024);
    fmt::print("memory for context {} (KV capacity {} tokens, {}-bit):\n", asked.context,
               asked.cache_tokens, asked.kv_bits);
    fmt::print("  weights      {:9.1f} MiB{}\n", mib(asked.weights),
               q ? " (" + quantize + ")" : "");
    fmt::print("  KV cache     {:9.1f} MiB\n", mib(asked.kv));
    fmt::print("  activations  {:9.1f} MiB (text pass: prefill chunk {}, {:.1f} MiB)\n",
               mib(asked.activations), prefill_chunk, mib(asked.text_activations));
    if (vision) {
      fmt::print("  image cache  {:9.1f} MiB\n", mib(asked.image_cache));
      fmt::print(
          "  image encode {:9.1f} MiB (the largest image: {} patches of {:.1f} KiB; the "
          "activations are the larger of this and the text pass)\n",
          mib(asked.image_activations), request.image_patches,
          double(s.info.vision_activation_bytes_per_patch) / 1024);
    }
    fmt::print("  total        {:9.1f} MiB of a {:.1f} MiB budget ({})\n", mib(asked.total()),
               mib(budget), device_name);
    if (!fit_error.empty())
      fmt::print("does not fit: {}\n", fit_error);
    else if (!fit->changes.empty())
      fmt::print("to fit: {} ({:.1f} MiB)\n", fit->changes, mib(fit->estimate.total()));
    return 0;
  };
}

}  // namespace vkllm::cli
