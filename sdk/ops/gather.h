#pragma once
// Row gathers and scatters: embedding lookup, image-embedding scatter, concat.
#include <vector>

#include "sdk/tensor.h"
#include "sdk/vk/graph.h"

namespace vkllm::ops {

using sdk::Graph;
using sdk::Tensor;

// y[t, :] = w[ids[t], :] * scale. ids: i32 [T]; w: [V, D] in any weight format. Ids outside
// [0, V) give zero rows (the host validates ids before they get here). Returns f32 [T, D].
Tensor embedding(Graph& g, const Tensor& ids, const Tensor& w, float scale = 1.0f);

// y[idx[i], :] = x[i, :] in place (idx: i32 [n]; negative entries are skipped). Used to place
// image embeddings at their placeholder tokens.
void scatter_rows(Graph& g, const Tensor& x, const Tensor& idx, const Tensor& y);

// Concatenation along `dim` into a new contiguous f32 tensor.
Tensor concat(Graph& g, const std::vector<Tensor>& parts, int dim);

}  // namespace vkllm::ops
