#pragma once
// A model folder loaded through its family plugin: registry routing, config normalisation,
// weights, and the plugin's Model. Loading is all-or-nothing.
#include <nlohmann/json.hpp>

#include <memory>
#include <optional>
#include <string>

#include "core/adapters/adapter.h"
#include "core/json_file.h"
#include "core/plugin_host.h"
#include "registry/registry.h"
#include "sdk/lora.h"
#include "sdk/plugin_api/family.h"

namespace vkllm::core {

struct LoadOptions {
  std::optional<Dtype> quantize;  // q8_0 / q4_0 for matmul and embedding weights
  // Called with (bytes uploaded, total bytes) while weights load (for progress bars).
  std::function<void(uint64_t, uint64_t)> progress;
  // LoRA adapters: merged into the weights at load, or (runtime) kept beside the untouched
  // base, each selectable per sequence (adapter index i + 1).
  std::vector<AdapterSpec> adapters;
  bool adapters_runtime = false;
};

class LoadedModel {
 public:
  static std::shared_ptr<LoadedModel> load(const std::string& folder,
                                           std::shared_ptr<sdk::Device> device,
                                           const PluginHost& plugins, const LoadOptions& opt = {});
  ~LoadedModel();

  const std::string& folder() const { return folder_; }
  const nlohmann::json& config() const { return config_; }  // normalised
  const registry::Entry& entry() const { return entry_; }
  const plugin::ModelInfo& info() const { return model_->info(); }
  plugin::Model& model() { return *model_; }
  const std::shared_ptr<sdk::Device>& device() const { return device_; }
  const std::string& plugin_path() const { return plugin_path_; }
  uint64_t weight_bytes() const { return weight_bytes_; }
  // The adapters loaded with the model, and the runtime table (null when merged or none).
  const std::vector<Adapter>& adapters() const { return adapters_; }
  const sdk::LoraTable* lora() const { return lora_.get(); }
  // The runtime index of a named adapter (0: the base; "" names the merged one, or the only
  // one); InputError listing the names for an unknown one.
  int adapter_index(const std::string& name) const;
  // A key that tells the prefix and feature caches apart by adapter (0 for the base).
  uint64_t adapter_key(int index) const;
  // Names what the model computes, for caches that outlive the process (the KV disk tier):
  // the normalised config, the load-time quantization, the merged adapters and a sample of
  // every checkpoint tensor's bytes (its first and last KiB), so two fine-tunes of one
  // architecture differ.
  uint64_t fingerprint() const;

 private:
  LoadedModel() = default;
  std::string folder_, plugin_path_;
  nlohmann::json config_;
  registry::Entry entry_;
  std::shared_ptr<sdk::Device> device_;
  std::shared_ptr<plugin::Family> family_;  // declared before model_: destroyed after it
  std::unique_ptr<plugin::Model> model_;
  uint64_t weight_bytes_ = 0;
  std::optional<Dtype> quantize_;
  std::vector<Adapter> adapters_;
  std::unique_ptr<sdk::LoraTable> lora_;
};

// Family, kind, dtype, parameters and memory estimate of a folder without loading weights.
struct ModelSummary {
  std::string model_type, family, kind, dtype, plugin;
  std::string rule;  // the registry route that picked the family (empty: by model_type alone)
  plugin::ModelInfo info;
  int64_t parameters = 0;     // from the checkpoint's tensors
  uint64_t weight_bytes = 0;  // on the device, as loaded (with --quantize when given)
  uint64_t kv_bytes_per_token = 0;
  nlohmann::json config;
};
ModelSummary inspect(const std::string& folder, const PluginHost& plugins,
                     std::optional<Dtype> quantize = std::nullopt);

}  // namespace vkllm::core
