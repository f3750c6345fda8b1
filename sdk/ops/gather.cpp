#include "sdk/ops/gather.h"

#include "sdk/ops/detail.h"
#include "sdk/ops/elementwise.h"
#include "sdk/quant.h"

namespace vkllm::ops {
using namespace detail;
using sdk::Binding;
using sdk::KernelDesc;

namespace {
struct EmbedParams {
  uint32_t T, D, vocab, w_stride;
  float scale;
};
const KernelDesc kEmbed{"embed",
                        {Binding::words, Binding::words, Binding::words, Binding::words,
                         Binding::words, Binding::words, Binding::storage},
                        sizeof(EmbedParams)};
struct ScatterParams {
  uint32_t n, D, x_stride, y_stride, y_rows;
};
const KernelDesc kScatter{
    "scatter_rows", {Binding::words, Binding::words, Binding::storage}, sizeof(ScatterParams)};
}  // namespace

Tensor embedding(Graph& g, const Tensor& ids, const Tensor& w, float scale) {
  const char* op = "embedding";
  expect(ids.dtype() == Dtype::i32 && ids.rank() == 1 && ids.contiguous(), op,
         "ids must be contiguous i32 [T], got " + ids.str());
  expect(w.rank() == 2, op, "weight must be [V, D], got " + w.str());
  int64_t T = ids.dim(0), V = w.dim(0), D = w.dim(1);
  bool quant = is_quantized(w.dtype());
  const WeightArgs a = weight_args(w, op);
  if (!quant) expect(w.stride(1) == 1, op, "weight rows must be contiguous");
  Tensor y = g.alloc(Dtype::f32, {T, D});
  EmbedParams p{uint32_t(T), uint32_t(D), uint32_t(V), uint32_t(quant ? D : w.stride(0)), scale};
  uint32_t local = elementwise_local(g);
  g.dispatch(kEmbed, {&ids, &a.values, &a.high, &a.scales, &a.biases, &a.super, &y}, &p, sizeof p,
             grid_1d(uint64_t(T * D), local),
             {int32_t(local), a.wtype, a.group, a.qbias, a.zero_point, a.scales_f32, a.low_bits,
              a.high_bits, a.super_blocks, a.table});
  return y;
}

void scatter_rows(Graph& g, const Tensor& x, const Tensor& idx, const Tensor& y) {
  const char* op = "scatter_rows";
  expect(x.dtype() == Dtype::f32 && x.rank() == 2 && x.stride(1) == 1, op,
         "x must be f32 [n, D] with contiguous rows, got " + x.str());
  expect(y.dtype() == Dtype::f32 && y.rank() == 2 && y.stride(1) == 1 && y.dim(1) == x.dim(1), op,
         "y must be f32 [rows, D] matching x, got " + y.str());
  expect(idx.dtype() == Dtype::i32 && idx.numel() == x.dim(0) && idx.contiguous(), op,
         "idx must be contiguous i32 [n], got " + idx.str());
  ScatterParams p{uint32_t(x.dim(0)), uint32_t(x.dim(1)), uint32_t(x.stride(0)),
                  uint32_t(y.stride(0)), uint32_t(y.dim(0))};
  uint32_t local = elementwise_local(g);
  g.dispatch(kScatter, {&x, &idx, &y}, &p, sizeof p, grid_1d(uint64_t(x.numel()), local),
             {int32_t(local)});
}

Tensor concat(Graph& g, const std::vector<Tensor>& parts, int dim) {
  const char* op = "concat";
  expect(!parts.empty(), op, "nothing to concatenate");
  const Tensor& first = parts.front();
  if (dim < 0) dim += first.rank();
  expect(dim >= 0 && dim < first.rank(), op, "dim out of range for " + first.str());
  sdk::Shape shape = first.shape();
  int64_t total = 0;
  for (const auto& p : parts) {
    expect(p.rank() == first.rank(), op, "rank mismatch: " + p.str() + " vs " + first.str());
    for (int i = 0; i < p.rank(); ++i) {
      expect(i == dim || p.dim(i) == first.dim(i), op,
             "shape mismatch: " + p.str() + " vs " + first.str());
    }
    total += p.dim(dim);
  }
  shape[dim] = total;
  Tensor y = g.alloc(Dtype::f32, shape);
  int64_t at = 0;
  for (const auto& p : parts) {
    if (p.dim(dim) == 0) continue;
    copy_into(g, p, y.slice(dim, at, p.dim(dim)));
    at += p.dim(dim);
  }
  return y;
}

}  // namespace vkllm::ops
