#pragma once
// LoRA adapters: PEFT folders (adapter_config.json + adapter_model.safetensors) and MLX ones
// (adapters.safetensors + adapter_config.json, as mlx-lm and mlx-vlm write them), read into
// one form: per checkpoint weight W [out, in] (a convolution kernel flattened), factors A
// [r, in] and B [out, r] and the scale s of the update W + s·B·A (PEFT's definition; MLX's
// y += s·(x·a)·b is the same with A = aᵀ, B = bᵀ). Adapter module names are mapped onto the
// base checkpoint's tensor names with the family's registry rules, and every factor is checked
// against the tensor it updates.
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "registry/registry.h"
#include "sdk/plugin_api/family.h"

namespace vkllm::core {

struct AdapterSpec {
  std::string name;    // how requests select it ("" for the one --adapter DIR)
  std::string path;    // the folder
  float scale = 1.0f;  // multiplies the adapter's own scale (--adapter-scale)
};

struct LoraDelta {
  int rank = 0;
  int64_t out = 0, in = 0;
  std::vector<float> a;  // [rank, in]
  std::vector<float> b;  // [out, rank]
  float scale = 1.0f;
  std::string source;  // the adapter tensor (errors)
};

class Adapter {
 public:
  // Reads the folder; `base` is the checkpoint the adapter must fit, `family` names it in
  // errors. Throws ModelError naming the file and tensor (an adapter for another architecture
  // or shape, DoRA, a full fine-tune, a missing or corrupt file).
  static Adapter load(const AdapterSpec& spec, const plugin::WeightSource& base,
                      const registry::AdapterRules& rules, const std::string& family);

  const std::string& name() const { return spec_.name; }
  const std::string& path() const { return spec_.path; }
  const std::string& format() const { return format_; }  // peft, mlx-lm, mlx-vlm
  // Updates by checkpoint tensor name.
  const std::map<std::string, LoraDelta>& deltas() const { return deltas_; }
  const LoraDelta* delta(const std::string& tensor) const;
  // Whole tensors the adapter replaces (PEFT's modules_to_save), f32, by checkpoint name.
  const std::map<std::string, std::vector<float>>& replacements() const { return replaced_; }
  // The parts it updates ("text", "vision", "projector").
  const std::vector<std::string>& parts() const { return parts_; }
  int max_rank() const;
  // A hash of the factors and scales (prefix-cache and image-feature keys).
  uint64_t fingerprint() const { return fingerprint_; }
  std::string summary() const;  // "peft, rank 8, 14 weights (text)"

 private:
  static Adapter read(const AdapterSpec& spec, const plugin::WeightSource& base,
                      const registry::AdapterRules& rules, const std::string& family);
  AdapterSpec spec_;
  std::string format_;
  std::map<std::string, LoraDelta> deltas_;
  std::map<std::string, std::vector<float>> replaced_;
  std::vector<std::string> parts_;
  uint64_t fingerprint_ = 0;
};

// W [out, in] += s·B·A (f32 rows, row-major).
void merge_delta(const LoraDelta& d, std::span<float> w);

}  // namespace vkllm::core
