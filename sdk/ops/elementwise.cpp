#include "sdk/ops/elementwise.h"

#include "sdk/ops/detail.h"

namespace vkllm::ops {
using namespace detail;
using sdk::Binding;
using sdk::KernelDesc;

namespace {

const KernelDesc kCopy{"copy", {Binding::words, Binding::storage}, 12 * 4};
const KernelDesc kBinary{"binary", {Binding::words, Binding::words, Binding::storage}, 12 * 4};
const KernelDesc kAct{"act", {Binding::words, Binding::words, Binding::storage}, 6 * 4};

// Rows view of a tensor: [rows, cols] with a row stride; needs each row contiguous and the rows
// evenly spaced.
struct RowsView {
  uint32_t rows, cols, stride;
};
RowsView rows_view(const Tensor& x, const char* op) {
  expect(x.dtype() == Dtype::f32, op, "needs f32, got " + x.str());
  expect(x.rank() >= 1 && x.rows_contiguous(), op, "needs contiguous rows, got " + x.str());
  uint32_t cols = uint32_t(x.dim(-1));
  uint32_t rows = uint32_t(x.numel() / std::max<int64_t>(cols, 1));
  uint32_t stride = x.rank() >= 2 ? uint32_t(x.stride(-2)) : cols;
  // Leading dims must collapse onto the row stride.
  int64_t expect_stride = stride;
  for (int i = x.rank() - 2; i >= 0; --i) {
    if (x.dim(i) != 1 && x.stride(i) != expect_stride) {
      fail(op, "rows of {} are not evenly strided", x.str());
    }
    expect_stride *= x.dim(i);
  }
  return {rows, cols, stride};
}

}  // namespace

void copy_into(Graph& g, const Tensor& x, const Tensor& out) {
  const char* op = "copy";
  expect(x.shape() == out.shape(), op, "shape " + x.str() + " vs " + out.str());
  int src = dtype_code(x.dtype(), op);
  int dst = dtype_code(out.dtype(), op);
  expect(dst != 2, op, "bf16 destinations are not supported");
  expect(dst != 1 || out.contiguous(), op, "f16 destination must be contiguous");
  auto xs = dims4(x, op), ys = dims4(out, op);
  struct {
    uint32_t n, d1, d2, d3, sx[4], sy[4];
  } p{uint32_t(x.numel()),
      xs.d[1],
      xs.d[2],
      xs.d[3],
      {xs.s[0], xs.s[1], xs.s[2], xs.s[3]},
      {ys.s[0], ys.s[1], ys.s[2], ys.s[3]}};
  // Words/halves addressing: f16/bf16 sources are indexed in halves by the kernel.
  uint32_t local = elementwise_local(g);
  uint64_t inv = dst == 1 ? (uint64_t(x.numel()) + 1) / 2 : uint64_t(x.numel());
  g.dispatch(kCopy, {&x, &out}, &p, sizeof p, grid_1d(inv, local), {int32_t(local), src, dst});
}

Tensor copy(Graph& g, const Tensor& x, Dtype dtype) {
  Tensor y = g.alloc(dtype, x.shape());
  copy_into(g, x, y);
  return y;
}

Tensor contiguous(Graph& g, const Tensor& x) {
  if (x.dtype() == Dtype::f32 && x.contiguous()) return x;
  return copy(g, x, Dtype::f32);
}

Tensor binary(Graph& g, BinaryOp bop, const Tensor& a, const Tensor& b) {
  const char* op = "binary";
  expect(a.dtype() == Dtype::f32 && b.dtype() == Dtype::f32, op,
         "needs f32 inputs, got " + a.str() + " and " + b.str());
  // Broadcast shape (numpy rules, right-aligned).
  int rank = std::max(a.rank(), b.rank());
  expect(rank <= 4, op, "rank > 4");
  sdk::Shape out = sdk::Shape::of_rank(rank);
  uint32_t sa[4] = {0, 0, 0, 0}, sb[4] = {0, 0, 0, 0}, d[4] = {1, 1, 1, 1};
  for (int i = 0; i < rank; ++i) {
    int ia = i - (rank - a.rank()), ib = i - (rank - b.rank());
    int64_t da = ia >= 0 ? a.dim(ia) : 1, db = ib >= 0 ? b.dim(ib) : 1;
    if (da != db && da != 1 && db != 1) {
      fail(op, "cannot broadcast {} with {}", a.str(), b.str());
    }
    out[i] = std::max(da, db);
    int k = 4 - rank + i;
    d[k] = uint32_t(out[i]);
    sa[k] = (ia >= 0 && da != 1) ? uint32_t(a.stride(ia)) : 0;
    sb[k] = (ib >= 0 && db != 1) ? uint32_t(b.stride(ib)) : 0;
  }
  Tensor y = g.alloc(Dtype::f32, out);
  struct {
    uint32_t n, d1, d2, d3, sa[4], sb[4];
  } p{uint32_t(y.numel()),         d[1], d[2], d[3], {sa[0], sa[1], sa[2], sa[3]},
      {sb[0], sb[1], sb[2], sb[3]}};
  uint32_t local = elementwise_local(g);
  g.dispatch(kBinary, {&a, &b, &y}, &p, sizeof p, grid_1d(y.numel(), local),
             {int32_t(local), int32_t(bop)});
  return y;
}

namespace {
Tensor act_impl(Graph& g, Act a, const Tensor& x, const Tensor* up, ActOptions opt) {
  const char* op = up ? "gated" : "act";
  auto xv = rows_view(x, op);
  RowsView uv = xv;
  if (up) {
    uv = rows_view(*up, op);
    expect(uv.rows == xv.rows && uv.cols == xv.cols, op,
           "gate " + x.str() + " and up " + up->str() + " differ in shape");
  }
  expect(a != Act::softcap || opt.cap > 0, op, "softcap needs cap > 0");
  sdk::Shape shape = x.shape();
  Tensor y = g.alloc(Dtype::f32, shape);
  struct {
    uint32_t rows, cols, sa, sb;
    float scale, param;
  } p{xv.rows, xv.cols, xv.stride, uv.stride, opt.scale, opt.cap};
  uint32_t local = elementwise_local(g);
  g.dispatch(kAct, {&x, up ? up : &x, &y}, &p, sizeof p, grid_1d(y.numel(), local),
             {int32_t(local), int32_t(a), up ? 1 : 0});
  return y;
}
}  // namespace

Tensor act(Graph& g, Act a, const Tensor& x, ActOptions opt) {
  return act_impl(g, a, x, nullptr, opt);
}

Tensor gated(Graph& g, Act a, const Tensor& gate, const Tensor& up, ActOptions opt) {
  return act_impl(g, a, gate, &up, opt);
}

}  // namespace vkllm::ops
