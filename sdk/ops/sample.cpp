#include "sdk/ops/sample.h"

#include "sdk/ops/detail.h"

namespace vkllm::ops {
using namespace detail;
using sdk::Binding;
using sdk::KernelDesc;

namespace {
struct Params {
  uint32_t rows, cols, x_stride, chunk, chunks;
};
const KernelDesc kTopk{
    "topk", {Binding::words, Binding::words, Binding::storage, Binding::storage}, sizeof(Params)};
}  // namespace

TopK topk(Graph& g, const Tensor& x_in, int k) {
  const char* op = "topk";
  Tensor x = x_in.rank() == 1 ? x_in.reshape({1, x_in.dim(0)}) : x_in;
  expect(x.dtype() == Dtype::f32 && x.rank() == 2 && x.stride(1) == 1, op,
         "x must be f32 [rows, cols] with contiguous rows, got " + x_in.str());
  int64_t rows = x.dim(0), cols = x.dim(1);
  expect(k >= 1 && k <= 64 && k <= cols, op,
         fmt::format("k = {} must be in [1, min(64, {})]", k, cols));
  // Pass 1 over chunks of the row in parallel, pass 2 merges chunks * k candidates per row.
  uint32_t chunk = uint32_t(std::max<int64_t>(256, (cols + 255) / 256));
  chunk = std::max<uint32_t>(chunk, uint32_t(4 * k));
  uint32_t chunks = uint32_t((cols + chunk - 1) / chunk);
  Tensor cv = g.alloc(Dtype::f32, {rows, int64_t(chunks) * k});
  Tensor ci = g.alloc(Dtype::i32, {rows, int64_t(chunks) * k});
  uint32_t local = 16;
  Params p1{uint32_t(rows), uint32_t(cols), uint32_t(x.stride(0)), chunk, chunks};
  g.dispatch(kTopk, {&x, &x, &cv, &ci}, &p1, sizeof p1, grid_1d(uint64_t(rows) * chunks, local),
             {int32_t(local), 0, k});
  TopK out{g.alloc(Dtype::f32, {rows, k}), g.alloc(Dtype::i32, {rows, k})};
  Params p2{uint32_t(rows), uint32_t(cols), 0, 0, chunks};
  g.dispatch(kTopk, {&cv, &ci, &out.values, &out.indices}, &p2, sizeof p2,
             grid_1d(uint64_t(rows), local), {int32_t(local), 1, k});
  return out;
}

Tensor argmax(Graph& g, const Tensor& x) {
  TopK t = topk(g, x, 1);
  return t.indices.reshape({t.indices.dim(0)});
}

}  // namespace vkllm::ops
