#pragma once
// Elementwise ops: copies and dtype conversion, broadcasting arithmetic, activations.
#include "sdk/tensor.h"
#include "sdk/vk/graph.h"

namespace vkllm::ops {

using sdk::Graph;
using sdk::Tensor;

// A contiguous copy of `x` (any strides) in `dtype` (f32, f16, bf16->f32 only, i32).
Tensor copy(Graph& g, const Tensor& x, Dtype dtype = Dtype::f32);
// Copies x into the existing tensor `out` (same shape; out f32/i32 any strides, f16 contiguous).
void copy_into(Graph& g, const Tensor& x, const Tensor& out);
// x unchanged when already contiguous f32, else a contiguous f32 copy.
Tensor contiguous(Graph& g, const Tensor& x);

enum class BinaryOp { add, mul, sub, div };
// y = a (op) b, broadcasting b (or a) over leading or size-1 dimensions. f32.
Tensor binary(Graph& g, BinaryOp op, const Tensor& a, const Tensor& b);
inline Tensor add(Graph& g, const Tensor& a, const Tensor& b) {
  return binary(g, BinaryOp::add, a, b);
}
inline Tensor mul(Graph& g, const Tensor& a, const Tensor& b) {
  return binary(g, BinaryOp::mul, a, b);
}

enum class Act { identity, silu, gelu, gelu_tanh, relu, tanh, softcap, sigmoid, exp, quick_gelu };
struct ActOptions {
  float scale = 1.0f;  // applied after the activation (and gate)
  float cap = 0.0f;    // for Act::softcap: y = cap * tanh(x / cap)
};
// y = act(x) * scale over the last dim; x may have strided rows.
Tensor act(Graph& g, Act op, const Tensor& x, ActOptions opt = {});
// y = act(gate) * up (SwiGLU / GeGLU); gate and up may be column slices of one tensor.
Tensor gated(Graph& g, Act op, const Tensor& gate, const Tensor& up, ActOptions opt = {});
inline Tensor scale(Graph& g, const Tensor& x, float s) {
  return act(g, Act::identity, x, {.scale = s});
}

}  // namespace vkllm::ops
