#include "sdk/ops/rope.h"

#include <cmath>

#include "sdk/ops/detail.h"

namespace vkllm::ops {
using namespace detail;
using sdk::Binding;
using sdk::KernelDesc;

namespace {
struct Params {
  uint32_t T, H, D, rot, x_row, x_head, pos_row, sec0, sec1, sec2;
  float mscale;
};
const KernelDesc kRope{
    "rope", {Binding::words, Binding::words, Binding::words, Binding::storage}, sizeof(Params)};
}  // namespace

std::vector<float> rope_inv_freq(double theta, int dim) {
  std::vector<float> f(size_t(dim / 2));
  for (int i = 0; i < dim / 2; ++i) f[size_t(i)] = float(1.0 / std::pow(theta, 2.0 * i / dim));
  return f;
}

Tensor rope(Graph& g, const Tensor& x, const Tensor& positions, const Tensor& inv_freq,
            const RopeOptions& opt) {
  const char* op = "rope";
  expect(x.dtype() == Dtype::f32 && x.rank() == 3 && x.stride(2) == 1, op,
         "x must be f32 [T, H, D] with contiguous heads, got " + x.str());
  int64_t T = x.dim(0), H = x.dim(1), D = x.dim(2);
  int rot = opt.rot_dim ? opt.rot_dim : int(D);
  expect(rot % 2 == 0 && rot <= D, op, fmt::format("rot_dim {} must be even and <= {}", rot, D));
  expect(opt.sections.size() <= 3, op, "at most 3 section bounds");
  int rows = int(opt.sections.size()) + 1;
  expect(positions.dtype() == Dtype::i32 && positions.contiguous(), op,
         "positions must be contiguous i32, got " + positions.str());
  bool shape_ok = (positions.rank() == 1 && rows == 1 && positions.dim(0) == T) ||
                  (positions.rank() == 2 && positions.dim(0) == rows && positions.dim(1) == T);
  expect(shape_ok, op,
         fmt::format("positions {} do not match {} rows of {} tokens", positions.str(), rows, T));
  expect(inv_freq.dtype() == Dtype::f32 && inv_freq.numel() == rot / 2 && inv_freq.contiguous(), op,
         fmt::format("inv_freq must be f32 [{}], got {}", rot / 2, inv_freq.str()));
  uint32_t sec[3] = {0xffffffffu, 0xffffffffu, 0xffffffffu};
  for (size_t i = 0; i < opt.sections.size(); ++i) sec[i] = uint32_t(opt.sections[i]);
  Tensor y = g.alloc(Dtype::f32, {T, H, D});
  Params p{uint32_t(T),
           uint32_t(H),
           uint32_t(D),
           uint32_t(rot),
           uint32_t(x.stride(0)),
           uint32_t(x.stride(1)),
           uint32_t(T),
           sec[0],
           sec[1],
           sec[2],
           opt.mscale};
  uint64_t n = uint64_t(T * H) * uint64_t(rot / 2 + (D - rot));
  uint32_t local = elementwise_local(g);
  g.dispatch(kRope, {&x, &positions, &inv_freq, &y}, &p, sizeof p, grid_1d(n, local),
             {int32_t(local), opt.interleaved ? 1 : 0});
  return y;
}

}  // namespace vkllm::ops
