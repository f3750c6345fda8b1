#pragma once
// Helpers shared by op implementations (not part of the public op API).
#include <fmt/format.h>

#include <string>

#include "sdk/base/error.h"
#include "sdk/tensor.h"
#include "sdk/vk/device.h"
#include "sdk/vk/graph.h"

namespace vkllm::ops::detail {

using sdk::Graph;
using sdk::Groups;
using sdk::Tensor;

// Shape/dtype errors found while building a graph are bugs of the caller (a plugin): they
// name the op and what was expected.
template <class... Args>
[[noreturn]] void fail(const char* op, fmt::format_string<Args...> f, Args&&... args) {
  throw InternalError(fmt::format("[{}] ", op) + fmt::format(f, std::forward<Args>(args)...));
}

inline void expect(bool ok, const char* op, const std::string& what) {
  if (!ok) throw InternalError(fmt::format("[{}] {}", op, what));
}

// Workgroups for n invocations of local size `local`: x wraps at 65535 into y.
inline Groups grid_1d(uint64_t n, uint32_t local) {
  uint64_t groups = (n + local - 1) / local;
  if (groups == 0) return {0, 1, 1};
  if (groups <= 65535) return {uint32_t(groups), 1, 1};
  uint64_t y = (groups + 65534) / 65535;
  return {uint32_t((groups + y - 1) / y), uint32_t(y), 1};
}

// Local size for elementwise kernels: llvmpipe runs 8 lanes per SIMD op and pays per
// workgroup, GPUs like 256-wide groups.
inline uint32_t elementwise_local(const Graph& g) {
  return g.device().kernel_class() == KernelClass::cpu ? 64 : 256;
}

// Kernel dtype code shared by the conversion kernels: 0 f32, 1 f16, 2 bf16, 3 i32.
inline int dtype_code(Dtype dt, const char* op) {
  switch (dt) {
    case Dtype::f32:
      return 0;
    case Dtype::f16:
      return 1;
    case Dtype::bf16:
      return 2;
    case Dtype::i32:
      return 3;
    default:
      fail(op, "dtype {} not supported here", dtype_name(dt));
  }
}

// A weight as the matmul and embedding kernels read it: WTYPE (0 f32, 1 f16, 2 bf16, 3
// quantized), its regions (the tensor itself stands in for those a format lacks) and the
// quantized format's specialization constants (kernels/quant.glsl).
struct WeightArgs {
  int wtype = 0;
  Tensor values, high, scales, biases, super;
  int group = 32, qbias = 0, zero_point = 0, scales_f32 = 0, low_bits = 4, high_bits = 0,
      super_blocks = 0, table = 0;
};
inline WeightArgs weight_args(const Tensor& w, const char* op) {
  WeightArgs a;
  if (!is_quantized(w.dtype())) {
    a.wtype = w.dtype() == Dtype::f32    ? 0
              : w.dtype() == Dtype::f16  ? 1
              : w.dtype() == Dtype::bf16 ? 2
                                         : -1;
    if (a.wtype < 0) fail(op, "weights of dtype {} are not supported", dtype_name(w.dtype()));
    a.values = a.high = a.scales = a.biases = a.super = w;
    return a;
  }
  const QuantFormat f = quant_format(w.dtype());
  a.wtype = 3;
  a.values = w.region(sdk::Region::values);
  a.high = w.region(sdk::Region::high, true);
  a.scales = w.region(sdk::Region::scales);
  a.biases = w.region(sdk::Region::biases, true);
  a.super = w.region(sdk::Region::super, true);
  a.group = w.quant().group;
  a.qbias = f.bias;
  a.zero_point = f.zero_point;
  a.scales_f32 = w.quant().scales_f32;
  a.low_bits = f.low_bits;
  a.high_bits = f.high_bits;
  a.super_blocks = f.super;
  a.table = f.table;
  return a;
}

// Shape padded to 4 dims (leading 1s) and matching strides (leading 0s).
struct Dims4 {
  uint32_t d[4];
  uint32_t s[4];
};
inline Dims4 dims4(const Tensor& t, const char* op) {
  if (t.rank() > 4) fail(op, "rank {} > 4 for {}", t.rank(), t.str());
  Dims4 r{{1, 1, 1, 1}, {0, 0, 0, 0}};
  int pad = 4 - t.rank();
  for (int i = 0; i < t.rank(); ++i) {
    r.d[pad + i] = uint32_t(t.dim(i));
    r.s[pad + i] = uint32_t(t.stride(i));
  }
  return r;
}

}  // namespace vkllm::ops::detail
