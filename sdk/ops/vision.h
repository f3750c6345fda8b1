#pragma once
// Ops vision towers need: patch embedding (a convolution whose stride equals its kernel) and
// average pooling of token grids.
#include "sdk/tensor.h"
#include "sdk/vk/graph.h"

namespace vkllm::ops {

using sdk::Graph;
using sdk::Tensor;

// image: f32 [C, H, W] (H, W multiples of P) -> patches f32 [(H/P)*(W/P), C*P*P] in raster
// order, each row ordered (c, ky, kx) like a flattened conv weight [out, C, P, P].
Tensor im2col(Graph& g, const Tensor& image, int patch);

// Patch embedding: im2col then x @ w^T (+ bias); w: [out, C*P*P] weight.
Tensor patch_embed(Graph& g, const Tensor& image, const Tensor& w, const Tensor* bias, int patch);

// Average pooling of a token grid x: f32 [H, W, D] with K x K windows -> [H/K, W/K, D].
Tensor avg_pool2d(Graph& g, const Tensor& x, int kernel);

}  // namespace vkllm::ops
