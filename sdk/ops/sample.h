#pragma once
// Selection on the device: argmax and top-k of logit rows, so sampling does not need to read
// the whole vocabulary back.
#include "sdk/tensor.h"
#include "sdk/vk/graph.h"

namespace vkllm::ops {

using sdk::Graph;
using sdk::Tensor;

struct TopK {
  Tensor values;   // f32 [rows, k], descending
  Tensor indices;  // i32 [rows, k]; ties keep the lower index; NaNs are ignored
};

// Top-k (1 <= k <= 64) of each row of x: f32 [rows, cols] (or [cols]).
TopK topk(Graph& g, const Tensor& x, int k);
// Index of the largest element of each row: i32 [rows].
Tensor argmax(Graph& g, const Tensor& x);

}  // namespace vkllm::ops
