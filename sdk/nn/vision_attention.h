#pragma once
// Self-attention of vision towers with 2-D rotary positions (Qwen2-VL, Pixtral): the fused QKV
// projection, rotary embeddings on q and k whose first quarter of each head's pairs turns with
// the patch's row and the second with its column (the family's inverse frequencies, sections
// {head_dim / 4}), attention over all patches or only within each span (images, windows), the
// output projection plus the residual.
#include "sdk/tensor.h"
#include "sdk/vk/graph.h"

namespace vkllm::nn {

// Device bytes one patch of a tower built on rope2d_attention holds in f32 temporaries at its
// widest point: its pixel values, and the attention (input, norm, fused QKV, rotated q and k,
// attention output, projection: 9 widths) or the MLP (input, norm, output, and `mlp` hidden
// values: fc1 and its activation, or fused gate/up and the gated product).
int64_t rope2d_tower_bytes_per_patch(int64_t patch_values, int64_t width, int64_t mlp);

struct Rope2dAttention {
  const sdk::Tensor& qkv;  // [3 x width, width]
  const sdk::Tensor& out;  // [width, width]
  const sdk::Tensor* qkv_bias = nullptr;
  const sdk::Tensor* out_bias = nullptr;
  int heads = 1;
};

// x: f32 [N, width] (normed); positions: i32 [2, N] (row, column); inv_freq: f32 [head_dim / 2];
// qpos: i32 [N] (0 .. N-1); spans: i32 [n, 2] to keep attention within each span, or null.
// Returns residual + attention(x), f32 [N, width].
sdk::Tensor rope2d_attention(sdk::Graph& g, const sdk::Tensor& x, const Rope2dAttention& w,
                             const sdk::Tensor& positions, const sdk::Tensor& inv_freq,
                             const sdk::Tensor& qpos, const sdk::Tensor* spans,
                             const sdk::Tensor& residual);

}  // namespace vkllm::nn
