// vkllm bench: prefill and decode tokens/s of a model folder (median and spread over repeats),
// device memory, and the decode floor that the device's copy bandwidth sets.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <nlohmann/json.hpp>
#include <random>

#include "commands.h"
#include "core/memory/estimate.h"
#include "core/model.h"
#include "core/plugin_host.h"
#include "core/session.h"
#include "core/weights/weight_store.h"
#include "profile.h"
#include "sdk/vk/graph.h"
#include "sdk/vk/memory.h"

namespace vkllm::cli {
namespace {

double now_s() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

struct Stats {
  double median, min, max;
};
Stats stats(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return {v[v.size() / 2], v.front(), v.back()};
}

// Read + write bytes per second of a 64 MiB device copy.
double copy_bandwidth(const std::shared_ptr<sdk::Device>& dev) {
  const int64_t n = 64 << 20;
  auto a = sdk::Tensor::allocate(dev->arena(), Dtype::i32, {n / 4});
  auto b = sdk::Tensor::allocate(dev->arena(), Dtype::i32, {n / 4});
  double best = 1e30;
  for (int i = 0; i < 4; ++i) {
    sdk::Graph g(dev);
    g.copy_bytes(a, b, uint64_t(n));
    double t = now_s();
    g.run();
    best = std::min(best, now_s() - t);
  }
  return 2.0 * double(n) / best;
}

}  // namespace

Run add_bench(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench", "Measure prefill and decode speed of a model folder");
  static std::string dir, quantize;
  static int p = 512, n = 128, r = 5, kv_bits = 16, kv_group = 32;
  static bool json = false;
  static std::string adapter, adapter_mode = "merged";
  cmd->add_option("model,--model,-m", dir, "Model folder")->required();
  cmd->add_option("-p,--prompt-tokens", p, "Prompt tokens (prefill)")->check(CLI::PositiveNumber);
  cmd->add_option("-n,--gen-tokens", n, "Generated tokens (decode)")->check(CLI::NonNegativeNumber);
  cmd->add_option("-r,--repeats", r, "Repetitions")->check(CLI::PositiveNumber);
  cmd->add_option("--quantize", quantize, "Quantize weights at load time: q8_0 or q4_0");
  cmd->add_option("--kv-bits", kv_bits, "KV cache storage: 16 (f16), 8 or 4 bits per value")
      ->check(CLI::IsMember({4, 8, 16}));
  cmd->add_option("--kv-group-size", kv_group, "Values per scale of a quantized KV cache")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--adapter", adapter, "Measure with this LoRA adapter (PEFT or MLX folder)");
  cmd->add_option("--adapter-mode", adapter_mode, "merged or runtime")
      ->check(CLI::IsMember({"merged", "runtime"}));
  cmd->add_flag("--json", json, "Print one JSON object");
  return [] {
    core::PluginHost host;
    auto dev = sdk::Device::create();
    core::LoadOptions lo;
    if (!quantize.empty()) lo.quantize = parse_dtype(quantize);
    if (!adapter.empty()) lo.adapters = {{"", adapter, 1.0f}};
    lo.adapters_runtime = adapter_mode == "runtime";
    double t0 = now_s();
    auto model = core::LoadedModel::load(dir, dev, host, lo);
    double load_s = now_s() - t0;
    const core::SessionOptions session_options{
        .context = p + n + 1, .kv_bits = kv_bits, .kv_group_size = kv_group};
    core::Session s(model, session_options);
    if (model->lora()) s.set_adapter(1, model->adapter_key(1));
    uint64_t kv_token_layer = 0;
    for (const auto& l : model->info().kv)
      kv_token_layer =
          std::max(kv_token_layer, sdk::KvCache::bytes_per_token(l, kv_bits, kv_group));
    std::mt19937 rng(7);
    std::vector<int32_t> prompt(static_cast<size_t>(p));
    for (auto& id : prompt) id = int32_t(rng() % uint32_t(model->info().vocab_size));
    std::vector<double> prefill, decode;
    Profile prefill_prof, decode_prof, discard;
    for (int rep = 0; rep < r + 1; ++rep) {  // the first round warms up pipelines
      s.truncate(0);
      double a = now_s();
      s.eval(prompt);
      double b = now_s();
      take_profile(*dev, rep ? prefill_prof : discard);
      int32_t tok = prompt.back();
      for (int i = 0; i < n; ++i) tok = s.eval_argmax(tok);
      double c = now_s();
      take_profile(*dev, rep ? decode_prof : discard);
      if (rep == 0) continue;
      prefill.push_back(double(p) / (b - a));
      if (n > 0) decode.push_back(double(n) / (c - b));
    }
    if (decode.empty()) decode.push_back(0);
    Stats pf = stats(prefill), dc = stats(decode);
    // What the run held against what `vkllm inspect` estimates for it (before the bandwidth
    // probe's buffers join the arena).
    const uint64_t in_use = dev->weights().bytes_in_use() + dev->arena().peak_bytes_in_use();
    const core::MemoryRequest request{
        .info = &model->info(),
        .vision = model->model().vision(),
        .weight_bytes =
            core::checkpoint_size(model->folder(), model->config(), lo.quantize).device_bytes,
        .session = session_options};
    const uint64_t estimate = core::estimate_memory(request).total();
    double bw = copy_bandwidth(dev);
    uint64_t weights = model->weight_bytes();
    // Decode reads every weight once per token; the copy rate counts read + write bytes.
    double floor_tps = bw / 2.0 / double(weights);
    uint64_t mem = dev->weights().bytes_reserved() + dev->arena().bytes_reserved();
    if (json) {
      nlohmann::json j = {
          {"model", dir},
          {"device", dev->features().name},
          {"quantize", quantize},
          {"adapter", adapter},
          {"adapter_mode", adapter.empty() ? "" : adapter_mode},
          {"adapter_rank", model->adapters().empty() ? 0 : model->adapters()[0].max_rank()},
          {"prompt_tokens", p},
          {"gen_tokens", n},
          {"repeats", r},
          {"prefill_tps", pf.median},
          {"prefill_tps_min", pf.min},
          {"prefill_tps_max", pf.max},
          {"decode_tps", dc.median},
          {"decode_tps_min", dc.min},
          {"decode_tps_max", dc.max},
          {"weight_bytes", weights},
          {"kv_bits", kv_bits},
          {"kv_bytes_per_token_per_layer", kv_token_layer},
          {"device_memory_bytes", mem},
          {"memory_in_use_bytes", in_use},
          {"memory_estimate_bytes", estimate},
          {"copy_bandwidth_gbs", bw / 1e9},
          {"decode_floor_tps", floor_tps},
          {"load_s", load_s}};
      fmt::print("{}\n", j.dump());
      return 0;
    }
    fmt::print("model        {} ({}) on {}\n", dir, model->entry().model_type,
               dev->features().name);
    fmt::print("weights      {:.1f} MiB{}; device memory {:.1f} MiB; loaded in {:.2f} s\n",
               double(weights) / (1 << 20), quantize.empty() ? "" : " (" + quantize + ")",
               double(mem) / (1 << 20), load_s);
    fmt::print("kv cache     {} bits: {} bytes per token per layer\n", kv_bits, kv_token_layer);
    fmt::print(
        "memory       {:.1f} MiB in use (weights, KV, activation peak); estimate {:.1f} MiB "
        "({:+.2f}%, "
        "vkllm inspect --context {} --no-prefix-cache)\n",
        double(in_use) / (1 << 20), double(estimate) / (1 << 20),
        100.0 * (double(estimate) / double(in_use) - 1), p + n + 1);
    fmt::print("prefill      {:8.1f} tok/s  (median of {}, {:.1f} .. {:.1f}), {} tokens\n",
               pf.median, r, pf.min, pf.max, p);
    fmt::print("decode       {:8.1f} tok/s  (median of {}, {:.1f} .. {:.1f}), {} tokens\n",
               dc.median, r, dc.min, dc.max, n);
    fmt::print(
        "decode floor {:8.1f} tok/s  (weights / copy bandwidth {:.1f} GB/s read+write); at {:.0f}% "
        "of it\n",
        floor_tps, bw / 1e9, floor_tps > 0 ? 100.0 * dc.median / floor_tps : 0.0);
    if (!prefill_prof.empty()) print_profile("prefill", prefill_prof, double(r), "prompt");
    if (!decode_prof.empty() && n > 0) print_profile("decode", decode_prof, double(r) * n, "token");
    return 0;
  };
}

}  // namespace vkllm::cli
