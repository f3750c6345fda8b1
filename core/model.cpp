#include "core/model.h"

#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <set>

#include "core/adapters/runtime.h"
#include "core/gguf/gguf_folder.h"
#include "core/weights/weight_store.h"
#include "sdk/base/error.h"
#include "sdk/base/hash.h"
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

std::shared_ptr<LoadedModel> LoadedModel::load(const std::string& path,
                                               std::shared_ptr<sdk::Device> device,
                                               const PluginHost& plugins, const LoadOptions& opt) {
  auto t0 = std::chrono::steady_clock::now();
  const std::string folder = model_folder(path, plugins);
  Routed r = route(folder, plugins);
  std::shared_ptr<LoadedModel> m(new LoadedModel());
  m->folder_ = folder;
  m->config_ = r.config;
  m->entry_ = r.entry;
  m->device_ = device;
  m->plugin_path_ = r.plugin->path;
  m->quantize_ = opt.quantize;
  m->family_ = plugins.create_family(*r.plugin);
  WeightStore weights(folder, r.config, device,
                      {.quantize = opt.quantize, .progress = opt.progress});
  if (!opt.adapters_runtime && opt.adapters.size() > 1)
    throw InputError(fmt::format(
        "{} adapters given: several adapters are served side by side with --adapter-mode "
        "runtime (merged mode takes one)",
        opt.adapters.size()));
  std::set<std::string> names;
  for (const auto& spec : opt.adapters) {
    if (!names.insert(spec.name).second)
      throw InputError(spec.name.empty()
                           ? std::string("several unnamed adapters: name them (NAME=DIR)")
                           : fmt::format("adapter name '{}' is given twice", spec.name));
    m->adapters_.push_back(Adapter::load(spec, weights, r.entry.adapters, r.entry.family));
  }
  if (!opt.adapters_runtime)
    for (const auto& a : m->adapters_) weights.merge(&a);
  m->model_ = m->family_->load(r.config, weights, device);
  if (!m->model_)
    throw PluginError(fmt::format("[plugins] {}: load returned no model", r.plugin->path));
  m->weight_bytes_ = weights.bytes_uploaded();
  for (const auto& a : m->adapters_) {
    check_adapter_targets(a, weights.loaded(), opt.adapters_runtime);
    log::get("core")->info("adapter {}{}: {} ({})", a.path(),
                           a.name().empty() ? "" : " as '" + a.name() + "'", a.summary(),
                           opt.adapters_runtime ? "runtime" : "merged");
  }
  if (opt.adapters_runtime && !m->adapters_.empty()) {
    m->lora_ = build_lora_table(m->adapters_, weights.loaded(), *device);
    log::get("core")->info("runtime adapters: {} factor pairs, {:.2f} MiB", m->lora_->weights(),
                           double(m->lora_->bytes()) / (1 << 20));
  }
  if (const MergeStats& ms = weights.merge_stats(); ms.weights > 0) {
    if (ms.requantized > 0)
      log::get("core")->info(
          "merged {} weights; {} requantized, adding a relative RMS error of {:.3g} over the "
          "merged weights",
          ms.weights, ms.requantized, ms.relative_error());
    else
      log::get("core")->info("merged {} weights", ms.weights);
  }
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

int LoadedModel::adapter_index(const std::string& name) const {
  if (!lora_) {  // merged (or none): only the merged adapter's own name, or none, is accepted
    if (name.empty() || (!adapters_.empty() && adapters_[0].name() == name)) return 0;
  } else {
    for (size_t i = 0; i < adapters_.size(); ++i)
      if (adapters_[i].name() == name) return int(i) + 1;
    if (name.empty()) return 0;
  }
  std::vector<std::string> known;
  for (const auto& a : adapters_)
    if (!a.name().empty()) known.push_back("'" + a.name() + "'");
  throw InputError(fmt::format("adapter '{}' is not loaded (loaded: {})", name,
                               known.empty() ? "none" : fmt::format("{}", fmt::join(known, ", "))));
}

uint64_t LoadedModel::adapter_key(int index) const {
  if (index <= 0 || size_t(index) > adapters_.size()) return 0;
  return adapters_[size_t(index - 1)].fingerprint();
}

uint64_t LoadedModel::fingerprint() const {
  const std::string cfg = config_.dump();
  uint64_t fp = sdk::content_hash({reinterpret_cast<const uint8_t*>(cfg.data()), cfg.size()}).lo;
  fp = sdk::hash_mix(fp ^ (quantize_ ? uint64_t(*quantize_) + 1 : 0));
  fp = sdk::hash_mix(fp ^ (lora_ ? 1 : 0));
  for (const auto& a : adapters_) fp = sdk::hash_mix(fp ^ a.fingerprint());
  constexpr uint64_t kSample = 1024;
  for (const auto& st : open_checkpoint(folder_)) {
    for (const auto& [name, t] : st->tensors()) {
      auto bytes = st->bytes(t);
      auto head = bytes.first(std::min<size_t>(bytes.size(), kSample));
      auto tail = bytes.last(std::min<size_t>(bytes.size(), kSample));
      fp = sdk::content_hash(head, fp).lo;
      fp = sdk::content_hash(tail, fp ^ bytes.size()).lo;
      fp = sdk::content_hash({reinterpret_cast<const uint8_t*>(name.data()), name.size()}, fp).lo;
    }
  }
  return fp;
}

LoadedModel::~LoadedModel() {
  model_.reset();  // plugin code must run before its library can unload
  family_.reset();
}

ModelSummary inspect(const std::string& path, const PluginHost& plugins,
                     std::optional<Dtype> quantize) {
  const std::string folder = model_folder(path, plugins);
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
  const CheckpointSize size = checkpoint_size(folder, r.config, quantize);
  s.parameters = size.parameters;
  s.weight_bytes = size.device_bytes;
  for (const auto& kv : s.info.kv)
    s.kv_bytes_per_token += sdk::KvCache::bytes_per_token(kv, 16, 32);
  return s;
}

}  // namespace vkllm::core