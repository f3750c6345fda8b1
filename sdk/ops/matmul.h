#pragma once
// Matrix products against weights: y = x @ w^T (+ bias) (+ residual).
#include "sdk/tensor.h"
#include "sdk/vk/graph.h"

namespace vkllm::ops {

using sdk::Graph;
using sdk::Tensor;

struct MatmulOptions {
  const Tensor* bias = nullptr;      // f32 [N], added to every row
  const Tensor* residual = nullptr;  // f32 [..., N] like the output, added (fused residual)
  // Written instead of a new tensor: f32 [M, N] with contiguous rows, evenly strided (a row
  // range or a column range of an output); may be the residual (each element is read before
  // it is written).
  const Tensor* out = nullptr;
};

// x: f32 [..., K] (rows contiguous); w: [N, K] dense weight from Tensor::allocate_weight (f32,
// f16, bf16), a quantized weight (any quantized dtype, sdk/quant.h) or a concat_rows() of
// quantized parts. Returns f32 [..., N].
// One kernel serves decode (one token: matrix-vector) and prefill (register tiles of tokens).
// With a LoraPass on the graph, the rows of its spans also get their adapter's (x·Aᵀ)·Bᵀ.
Tensor matmul(Graph& g, const Tensor& x, const Tensor& w, MatmulOptions opt = {});

}  // namespace vkllm::ops
