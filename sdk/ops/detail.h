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
