#include "sdk/nn/vision_attention.h"

#include <algorithm>
#include <cmath>

#include "sdk/ops/attention.h"
#include "sdk/ops/matmul.h"
#include "sdk/ops/rope.h"

namespace vkllm::nn {

int64_t rope2d_tower_bytes_per_patch(int64_t patch_values, int64_t width, int64_t mlp) {
  return 4 * (patch_values + std::max(9 * width, 3 * width + mlp));
}

sdk::Tensor rope2d_attention(sdk::Graph& g, const sdk::Tensor& x, const Rope2dAttention& w,
                             const sdk::Tensor& positions, const sdk::Tensor& inv_freq,
                             const sdk::Tensor& qpos, const sdk::Tensor* spans,
                             const sdk::Tensor& residual) {
  const int64_t N = x.dim(0), D = x.dim(1), H = w.heads, hd = D / H;
  sdk::Tensor heads = ops::matmul(g, x, w.qkv, {.bias = w.qkv_bias}).unflatten(1, 3 * H, hd);
  sdk::Tensor qk =
      ops::rope(g, heads.slice(1, 0, 2 * H), positions, inv_freq, {.sections = {int(hd / 4)}});
  sdk::Tensor a =
      ops::attention_dense(g, qk.slice(1, 0, H), qk.slice(1, H, H), heads.slice(1, 2 * H, H), qpos,
                           {.scale = float(1.0 / std::sqrt(double(hd))),
                            .causal = false,
                            .spans = spans,
                            .restrict_to_spans = spans != nullptr});
  return ops::matmul(g, a.reshape({N, D}), w.out, {.bias = w.out_bias, .residual = &residual});
}

}  // namespace vkllm::nn
