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
  uint32_t inner, x_outer;
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

// Rows of x for the norm kernel: [rows, dim] with an even stride, or [..., inner, dim] whose
// inner rows are evenly strided and whose groups are evenly strided (a strided view of heads).
struct NormRows {
  uint32_t rows, dim, stride, inner, outer;
};
NormRows norm_rows(const Tensor& x, const char* op) {
  expect(x.dtype() == Dtype::f32 && x.rank() >= 1 && x.stride(-1) == 1, op,
         "needs f32 with contiguous rows, got " + x.str());
  NormRows r{uint32_t(x.numel() / std::max<int64_t>(x.dim(-1), 1)), uint32_t(x.dim(-1)), 0, 0, 0};
  if (x.rank() < 3) {
    r.stride = x.rank() == 2 ? uint32_t(x.stride(0)) : r.dim;
    r.inner = std::max(r.rows, 1u);
    return r;
  }
  r.stride = uint32_t(x.stride(-2));
  r.inner = uint32_t(std::max<int64_t>(x.dim(-2), 1));
  r.outer = uint32_t(x.stride(-3));
  for (int i = x.rank() - 4; i >= 0; --i) {
    expect(x.dim(i) == 1 || x.stride(i) == x.stride(i + 1) * x.dim(i + 1), op,
           "rows of " + x.str() + " are not evenly strided");
  }
  return r;
}

Tensor norm_impl(Graph& g, bool layer, const Tensor& x, const Tensor* r, const Tensor& w,
                 const Tensor& b, NormOptions opt, Tensor* sum_out) {
  const char* op = layer ? "layer_norm" : "rms_norm";
  NormRows xr = norm_rows(x, op);
  uint32_t rs = 0;
  const Tensor* res = r ? r : opt.residual_after;
  expect(!(r && opt.residual_after), op, "a residual before and after the norm");
  if (res) {
    expect(res->shape() == x.shape(), op, "residual " + res->str() + " vs " + x.str());
    rows_of(*res, op, &rs);
  }
  const bool per_row = w.defined() && w.rank() == 2 && x.rank() >= 2 && w.dim(0) == x.dim(-2) &&
                       w.dim(0) > 1;
  if (per_row) {
    expect(w.dtype() == Dtype::f32 && w.dim(1) == xr.dim && w.contiguous(), op,
           fmt::format("per-row weights must be contiguous f32 [{}, {}], got {}", x.dim(-2),
                       xr.dim, w.str()));
  } else {
    check_vec(w, xr.dim, op, "weight");
  }
  check_vec(b, xr.dim, op, "bias");
  Tensor y = g.alloc(Dtype::f32, x.shape());
  Tensor h = r ? g.alloc(Dtype::f32, x.shape()) : y;
  int lanes = lanes_for(g, xr.rows);
  uint32_t local = lanes > 1 ? uint32_t(lanes) * 2 : 16;
  NormParams p{xr.rows, xr.dim, xr.stride, rs, opt.eps, opt.weight_offset, xr.inner, xr.outer};
  g.dispatch(kNorm,
             {&x, res ? res : &x, w.defined() ? &w : &x, b.defined() ? &b : &x, &y, &h}, &p,
             sizeof p, grid_1d(uint64_t(xr.rows) * uint32_t(lanes), local),
             {int32_t(local), layer ? 1 : 0, w.defined() ? 1 : 0, b.defined() ? 1 : 0, r ? 1 : 0,
              lanes, opt.residual_after ? 1 : 0, per_row ? 1 : 0});
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
