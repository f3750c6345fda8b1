#include "core/adapters/runtime.h"

#include <fmt/format.h>

#include <set>

#include "sdk/base/error.h"
#include "sdk/io.h"

namespace vkllm::core {

void check_adapter_targets(const Adapter& a, const std::vector<LoadedWeight>& loaded,
                           bool runtime) {
  std::map<std::string, plugin::WeightUse> use;
  for (const auto& w : loaded)
    for (const auto& n : w.names) use.emplace(n, w.use);
  for (const auto& [name, d] : a.deltas()) {
    auto it = use.find(name);
    if (it == use.end())
      throw ModelError(fmt::format("adapter {}: '{}' updates '{}', which this model does not use",
                                   a.path(), d.source, name));
    if (runtime && it->second != plugin::WeightUse::matmul)
      throw ModelError(fmt::format(
          "adapter {}: '{}' updates '{}', which is not a matrix applied to every token; load it "
          "merged (--adapter-mode merged)",
          a.path(), d.source, name));
  }
  for (const auto& [name, v] : a.replacements()) {
    if (runtime)
      throw ModelError(fmt::format(
          "adapter {}: it replaces '{}' (modules_to_save); load it merged (--adapter-mode merged)",
          a.path(), name));
    if (!use.count(name))
      throw ModelError(fmt::format("adapter {}: it replaces '{}', which this model does not use",
                                   a.path(), name));
  }
}

std::unique_ptr<sdk::LoraTable> build_lora_table(const std::vector<Adapter>& adapters,
                                                 const std::vector<LoadedWeight>& loaded,
                                                 sdk::Device& device) {
  auto table = std::make_unique<sdk::LoraTable>();
  for (size_t ai = 0; ai < adapters.size(); ++ai) {
    const Adapter& ad = adapters[ai];
    for (const auto& w : loaded) {
      if (w.use != plugin::WeightUse::matmul) continue;
      int64_t rank = 0, rows = 0;
      for (const auto& n : w.names)
        if (const LoraDelta* d = ad.delta(n)) rank += d->rank;
      if (rank == 0) continue;
      const int64_t in = w.tensor.dim(1), out = w.tensor.dim(0);
      std::vector<float> a(size_t(rank * in), 0.0f), b(size_t(out * rank), 0.0f);
      int64_t r0 = 0;
      for (size_t i = 0; i < w.names.size(); ++i) {
        const LoraDelta* d = ad.delta(w.names[i]);
        if (d) {
          if (d->in != in || rows + d->out > out)
            throw InternalError(
                fmt::format("[adapter] {} does not fit the loaded {}", d->source, w.tensor.str()));
          std::copy(d->a.begin(), d->a.end(), a.begin() + r0 * in);
          for (int64_t o = 0; o < d->out; ++o)
            for (int j = 0; j < d->rank; ++j)
              b[size_t((rows + o) * rank + r0 + j)] = d->scale * d->b[size_t(o * d->rank + j)];
          r0 += d->rank;
        }
        rows += w.rows[i];
      }
      // f32 factors beside f32 weights; f16 beside 16-bit and quantized ones (half the bytes
      // a decode step reads; the rounding is far below the base's own).
      const Dtype dt = w.tensor.dtype() == Dtype::f32 ? Dtype::f32 : Dtype::f16;
      auto at = sdk::Tensor::allocate_weight(device.weights(), dt, rank, in);
      auto bt = sdk::Tensor::allocate_weight(device.weights(), dt, out, rank);
      sdk::upload_f32(at, a);
      sdk::upload_f32(bt, b);
      table->add(w.tensor, int(ai) + 1, {at, bt});
    }
  }
  return table;
}

}  // namespace vkllm::core
