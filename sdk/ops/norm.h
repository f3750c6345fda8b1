#pragma once
// Row normalisation over the last dimension.
#include "sdk/tensor.h"
#include "sdk/vk/graph.h"

namespace vkllm::ops {

using sdk::Graph;
using sdk::Tensor;

struct NormOptions {
  float eps = 1e-6f;
  // Added to every weight: 1 for Gemma's (1 + w) RMSNorm, 0 otherwise.
  float weight_offset = 0.0f;
  // Added to the result (same shape as x): a branch normalised before its residual add, as
  // Gemma's post-attention and post-feedforward norms (y = r + norm(x)).
  const Tensor* residual_after = nullptr;
};

// y = x / sqrt(mean(x^2) + eps) * (w + weight_offset), over the last dimension of x: [.., D]
// with contiguous rows, or a strided [T, H, D] view (heads of a fused projection); the result
// is contiguous. w: f32 [D], or [H, D] to give each of the H rows of a group its own weights
// (per-head q/k norms), or undefined (no weight).
Tensor rms_norm(Graph& g, const Tensor& x, const Tensor& w, NormOptions opt = {});
// y = (x - mean) / sqrt(var + eps) * w + b. w, b: f32 [D] or undefined.
Tensor layer_norm(Graph& g, const Tensor& x, const Tensor& w, const Tensor& b,
                  NormOptions opt = {});

// Fused residual add and RMS norm: h = x + r; returns {h, rms_norm(h)}.
struct AddNorm {
  Tensor sum, normed;
};
AddNorm add_rms_norm(Graph& g, const Tensor& x, const Tensor& r, const Tensor& w,
                     NormOptions opt = {});

// Row softmax of x * scale over the last dimension.
Tensor softmax(Graph& g, const Tensor& x, float scale = 1.0f);

}  // namespace vkllm::ops
