#include "core/model.h"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <fstream>

#include "core/weights/weight_store.h"
#include "sdk/base/error.h"
#include "sdk/base/json_get.h"
#include "sdk/base/log.h"

namespace vkllm::core {
namespace fs = std::filesystem;

namespace {

struct Routed {
  nlohmann::json config;
  registry::Entry entry;
  const PluginRecord* plugin;
};

Routed route(const std::string& folder, const PluginHost& plugins) {
  if (!fs::is_directory(folder)) throw InputError(fmt::format("{}: no such model folder", folder));
  std::string cfg_path = (fs::path(folder) / "config.json").string();
  if (!fs::exists(cfg_path)) throw ModelError(fmt::format("{}: config.json is missing", folder));
  nlohmann::json raw = read_json_file(cfg_path);
  const auto& reg = plugins.registry();
  const registry::Entry e = reg.route(raw, cfg_path);
  if (e.guessed)
    log::get("core")->warn(
        "{}: model_type '{}' is not in the registry; loading it with the {} family, guessed from "
        "{}",
        cfg_path, e.model_type, e.family, e.rule);
  Routed r{reg.normalize(raw, e, cfg_path), e, nullptr};
  r.plugin = &plugins.plugin_for(e.family, e.model_type);
  return r;
}

}  // namespace

std::shared_ptr<LoadedModel> LoadedModel::load(const std::string& folder,
                                               std::shared_ptr<sdk::Device> device,
                                               const PluginHost& plugins, const LoadOptions& opt) {
  auto t0 = std::chrono::steady_clock::now();
  Routed r = route(folder, plugins);
  std::shared_ptr<LoadedModel> m(new LoadedModel());
  m->folder_ = folder;
  m->config_ = r.config;
  m->entry_ = r.entry;
  m->device_ = device;
  m->plugin_path_ = r.plugin->path;
  m->family_ = plugins.create_family(*r.plugin);
  WeightStore weights(folder, r.config, device,
                      {.quantize = opt.quantize, .progress = opt.progress});
  m->model_ = m->family_->load(r.config, weights, device);
  if (!m->model_)
    throw PluginError(fmt::format("[plugins] {}: load returned no model", r.plugin->path));
  m->weight_bytes_ = weights.bytes_uploaded();
  if (const auto& kept = weights.kept_dense(); !kept.empty()) {
    log::get("core")->warn(
        "{}: {} matrices have columns that are not a multiple of 32 and stay "
        "unquantized (first: {}, {} columns)",
        folder, kept.size(), kept.front().first, kept.front().second);
  }
  auto unused = weights.unused();
  if (!unused.empty()) {
    log::get("core")->warn("{}: {} checkpoint tensors were not used (first: {})", folder,
                           unused.size(), unused.front());
  }
  double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  log::get("core")->info("loaded {} ({} via {}): {:.1f} MiB of weights in {:.0f} ms", folder,
                         r.entry.model_type, r.plugin->path, double(m->weight_bytes_) / (1 << 20),
                         ms);
  return m;
}

LoadedModel::~LoadedModel() {
  model_.reset();  // plugin code must run before its library can unload
  family_.reset();
}

ModelSummary inspect(const std::string& folder, const PluginHost& plugins,
                     std::optional<Dtype> quantize) {
  Routed r = route(folder, plugins);
  auto family = plugins.create_family(*r.plugin);
  ModelSummary s;
  s.model_type = r.entry.model_type;
  s.family = r.entry.family;
  s.kind = r.entry.kind;
  s.rule = r.entry.rule;
  s.plugin = r.plugin->path;
  s.config = r.config;
  s.info = family->describe(r.config);
  s.dtype = json::get_or<std::string>(r.config, "torch_dtype", "");
  // Parameters and sizes from the checkpoint headers (no weights are read).
  std::vector<std::string> files = weight_files(folder);
  bool mlx = r.config.contains("quantization");
  int bits = mlx ? json::get_or<int>(r.config["quantization"], "bits", 4) : 0;
  for (const auto& f : files) {
    SafetensorsFile st(f);
    for (const auto& [name, t] : st.tensors()) {
      bool is_qparam = mlx && (name.ends_with(".scales") || name.ends_with(".biases"));
      int64_t n = t.numel();
      if (mlx && t.dtype == StDtype::U32) n = n * 32 / bits;
      if (!is_qparam) s.parameters += n;
      uint64_t bytes = t.end - t.begin;
      if (quantize && t.shape.size() == 2 && t.shape[1] % 32 == 0 && !mlx) {
        bytes = uint64_t(n) * uint64_t(quant_bits(*quantize)) / 8 +
                uint64_t(n) / 32 * 2;  // values + f16 scales
      }
      s.weight_bytes += bytes;
    }
  }
  for (const auto& kv : s.info.kv)
    s.kv_bytes_per_token += uint64_t(kv.kv_heads) * kv.head_dim * 2 * 2;
  return s;
}

}  // namespace vkllm::core
