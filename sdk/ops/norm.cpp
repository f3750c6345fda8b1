#include "sdk/ops/norm.h"

#include "sdk/ops/detail.h"

namespace vkllm::ops {
using namespace detail;
using sdk::Binding;
using sdk::KernelDesc;

namespace {

struct NormParams {
  uint32_t rows, dim, x_stride, r_stride;
  float eps, w_offset;
};
const KernelDesc kNorm{"norm",
                       {Binding::words, Binding::words, Binding::words, Binding::words,
                        Binding::storage, Binding::storage},
                       sizeof(NormParams)};

struct SoftmaxParams {
  uint32_t rows, cols, x_stride;
  float scale;
};
const KernelDesc kSoftmax{"softmax", {Binding::words, Binding::storage}, sizeof(SoftmaxParams)};

// Rows of x: [rows, dim] with an even row stride.
std::pair<uint32_t, uint32_t> rows_of(const Tensor& x, const char* op, uint32_t* stride) {
  expect(x.dtype() == Dtype::f32 && x.rank() >= 1 && x.rows_contiguous(), op,
         "needs f32 with contiguous rows, got " + x.str());
  uint32_t dim = uint32_t(x.dim(-1));
  uint32_t rows = uint32_t(x.numel() / std::max<int64_t>(dim, 1));
  *stride = x.rank() >= 2 ? uint32_t(x.stride(-2)) : dim;
  for (int i = x.rank() - 3; i >= 0; --i) {
    expect(x.dim(i) == 1 || x.stride(i) == x.stride(i + 1) * x.dim(i + 1), op,
           "rows of " + x.str() + " are not evenly strided");
  }
  return {rows, dim};
}

// Invocations per row: a subgroup where reductions are cheap and rows are few or long.
int lanes_for(const Graph& g, uint32_t rows) {
  const auto& f = g.device().features();
  if (!f.subgroup_arith || f.subgroup_size < 2 || f.subgroup_size > 128) return 1;
  if (g.device().kernel_class() == KernelClass::cpu && rows >= 16) return 1;
  return int(f.subgroup_size);
}

void check_vec(const Tensor& v, uint32_t dim, const char* op, const char* what) {
  if (!v.defined()) return;
  expect(v.dtype() == Dtype::f32 && v.numel() == dim && v.contiguous(), op,
         fmt::format("{} must be contiguous f32 [{}], got {}", what, dim, v.str()));
}

Tensor norm_impl(Graph& g, bool layer, const Tensor& x, const Tensor* r, const Tensor& w,
                 const Tensor& b, NormOptions opt, Tensor* sum_out) {
  const char* op = layer ? "layer_norm" : "rms_norm";
  uint32_t xs = 0, rs = 0;
  auto [rows, dim] = rows_of(x, op, &xs);
  if (r) {
    expect(r->shape() == x.shape(), op, "residual " + r->str() + " vs " + x.str());
    rows_of(*r, op, &rs);
  }
  check_vec(w, dim, op, "weight");
  check_vec(b, dim, op, "bias");
  Tensor y = g.alloc(Dtype::f32, x.shape());
  Tensor h = r ? g.alloc(Dtype::f32, x.shape()) : y;
  int lanes = lanes_for(g, rows);
  uint32_t local = lanes > 1 ? uint32_t(lanes) * 2 : 16;
  NormParams p{rows, dim, xs, rs, opt.eps, opt.weight_offset};
  g.dispatch(
      kNorm, {&x, r ? r : &x, w.defined() ? &w : &x, b.defined() ? &b : &x, &y, &h}, &p, sizeof p,
      grid_1d(uint64_t(rows) * uint32_t(lanes), local),
      {int32_t(local), layer ? 1 : 0, w.defined() ? 1 : 0, b.defined() ? 1 : 0, r ? 1 : 0, lanes});
  if (sum_out) *sum_out = h;
  return y;
}

}  // namespace

Tensor rms_norm(Graph& g, const Tensor& x, const Tensor& w, NormOptions opt) {
  return norm_impl(g, false, x, nullptr, w, Tensor(), opt, nullptr);
}

Tensor layer_norm(Graph& g, const Tensor& x, const Tensor& w, const Tensor& b, NormOptions opt) {
  return norm_impl(g, true, x, nullptr, w, b, opt, nullptr);
}

AddNorm add_rms_norm(Graph& g, const Tensor& x, const Tensor& r, const Tensor& w, NormOptions opt) {
  AddNorm out;
  out.normed = norm_impl(g, false, x, &r, w, Tensor(), opt, &out.sum);
  return out;
}

Tensor softmax(Graph& g, const Tensor& x, float scale) {
  uint32_t xs = 0;
  auto [rows, cols] = rows_of(x, "softmax", &xs);
  Tensor y = g.alloc(Dtype::f32, x.shape());
  int lanes = lanes_for(g, rows);
  uint32_t local = lanes > 1 ? uint32_t(lanes) * 2 : 16;
  SoftmaxParams p{rows, cols, xs, scale};
  g.dispatch(kSoftmax, {&x, &y}, &p, sizeof p, grid_1d(uint64_t(rows) * uint32_t(lanes), local),
             {int32_t(local), lanes});
  return y;
}

}  // namespace vkllm::ops
