#pragma once
// A model folder's weights: one safetensors file or shards listed by
// model.safetensors.index.json, memory-mapped. Implements the plugin's WeightSource: dense
// tensors keep their checkpoint dtype (f32/f16/bf16) unless --quantize asks for q8_0/q4_0;
// MLX-quantized tensors (packed U32 weight + scales + biases) load as mlx4/mlx8.
#include <nlohmann/json.hpp>

#include <cmath>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/adapters/adapter.h"
#include "core/weights/safetensors.h"
#include "sdk/plugin_api/family.h"

namespace vkllm::core {

struct WeightOptions {
  std::optional<Dtype> quantize;  // q8_0 or q4_0 for matmul/embedding weights
  // Called after each upload with (checkpoint bytes consumed, checkpoint bytes in total).
  std::function<void(uint64_t, uint64_t)> progress;
  // Adapters merged at load: W + s·B·A (and their replaced tensors) before upload, quantized
  // bases dequantized, merged and requantized as they were.
  std::vector<const Adapter*> merge;
};

// A weight as the family loaded it: the tensors fused into it (rows in this order).
struct LoadedWeight {
  sdk::Tensor tensor;
  std::vector<std::string> names;
  std::vector<int64_t> rows;  // per name
  plugin::WeightUse use;
};

// What merging adapters did: weights updated, and the error requantizing them added (relative
// RMS over the requantized weights).
struct MergeStats {
  int64_t weights = 0, requantized = 0;
  double err2 = 0, ref2 = 0;
  double relative_error() const { return ref2 > 0 ? std::sqrt(err2 / ref2) : 0.0; }
};

// The safetensors files holding a folder's weights: the shards its model.safetensors.index.json
// names, else model.safetensors, else every *.safetensors (sorted). ModelError when there are
// none or the index is bad.
std::vector<std::string> weight_files(const std::string& folder);

// A folder made for a GGUF file (core/gguf) holds this file: {"file": the GGUF's path,
// "tensors": {checkpoint name: {"gguf": name, "unpermute_heads": n}}}.
inline constexpr const char* kGgufView = "gguf.json";
// The checkpoint files of a folder: its safetensors shards, or the GGUF file its gguf.json
// names, opened.
std::vector<std::unique_ptr<SafetensorsFile>> open_checkpoint(const std::string& folder);

// Parameters and device bytes of a folder's checkpoint as it would load (with `quantize`: its
// matrices quantized), from the safetensors headers alone.
struct CheckpointSize {
  int64_t parameters = 0;
  uint64_t device_bytes = 0;
};
CheckpointSize checkpoint_size(const std::string& folder, const nlohmann::json& config,
                               std::optional<Dtype> quantize);

class WeightStore : public plugin::WeightSource {
 public:
  // config: the normalised config (for its "quantization" block). Throws ModelError when the
  // folder has no safetensors, an index names a missing shard, or two shards hold one tensor.
  WeightStore(const std::string& folder, const nlohmann::json& config,
              std::shared_ptr<sdk::Device> device, WeightOptions options = {});
  ~WeightStore() override;

  bool has(const std::string& name) const override;
  std::vector<std::string> names() const override;
  plugin::WeightInfo info(const std::string& name) const override;
  sdk::Tensor load_rows(const std::vector<std::string>& names, plugin::WeightUse use) override;
  using plugin::WeightSource::load;
  std::vector<float> read_f32(const std::string& name) override;
  void skip(const std::string& name) override;

  // Tensors neither loaded nor skipped (warned about after a load).
  std::vector<std::string> unused() const;
  // Matrices --quantize kept in their dtype (columns not a multiple of 32), with their column
  // counts (summed up in one line after a load).
  const std::vector<std::pair<std::string, int64_t>>& kept_dense() const { return kept_dense_; }
  uint64_t bytes_uploaded() const { return bytes_uploaded_; }
  const std::vector<LoadedWeight>& loaded() const { return loaded_; }
  void merge(const Adapter* a) { options_.merge.push_back(a); }
  const MergeStats& merge_stats() const { return merge_stats_; }
  // Parameter count of all tensors (MLX-quantized ones counted unpacked).
  int64_t parameter_count() const;

 private:
  struct Ref {
    const SafetensorsFile* file;
    const StTensor* tensor;
  };
  Ref ref(const std::string& name) const;
  bool mlx_quantized(const std::string& name) const;
  // Whether a matrix of `cols` columns is quantized at load (--quantize, and rows whole blocks).
  bool quantizes(int64_t cols) const {
    return options_.quantize && cols % quant_row_multiple(*options_.quantize) == 0;
  }
  std::pair<int, int> mlx_params(const std::string& name) const;  // bits, group
  std::vector<float> to_f32(const Ref& r) const;

  std::string folder_;
  nlohmann::json quant_;
  std::shared_ptr<sdk::Device> device_;
  WeightOptions options_;
  std::vector<std::unique_ptr<SafetensorsFile>> files_;
  std::map<std::string, Ref> index_;
  std::set<std::string> used_;
  std::vector<std::pair<std::string, int64_t>> kept_dense_;
  uint64_t bytes_uploaded_ = 0;
  uint64_t bytes_read_ = 0, bytes_total_ = 0;
  void report(const std::vector<std::string>& names);
  sdk::Tensor load_rows_impl(const std::vector<std::string>& names, plugin::WeightUse use);
  // load_rows for tensors a merged adapter updates or replaces.
  sdk::Tensor load_merged(const std::vector<std::string>& names, plugin::WeightUse use);
  bool merging(const std::vector<std::string>& names) const;
  // ModelError when a dense [rows, cols] weight of dt is more than one texel-buffer view holds.
  void check_view(const std::string& what, int64_t rows, int64_t cols, Dtype dt) const;
  std::vector<LoadedWeight> loaded_;
  MergeStats merge_stats_;
};

}  // namespace vkllm::core
