#include "sdk/ops/vision.h"

#include "sdk/ops/detail.h"
#include "sdk/ops/matmul.h"

namespace vkllm::ops {
using namespace detail;
using sdk::Binding;
using sdk::KernelDesc;

namespace {
struct Im2colParams {
  uint32_t C, H, W, P;
};
const KernelDesc kIm2col{"im2col", {Binding::words, Binding::storage}, sizeof(Im2colParams)};
struct PoolParams {
  uint32_t H, W, D, K;
};
const KernelDesc kPool{"pool2d", {Binding::words, Binding::storage}, sizeof(PoolParams)};
}  // namespace

Tensor im2col(Graph& g, const Tensor& image, int patch) {
  const char* op = "im2col";
  expect(image.dtype() == Dtype::f32 && image.rank() == 3 && image.contiguous(), op,
         "image must be contiguous f32 [C, H, W], got " + image.str());
  int64_t C = image.dim(0), H = image.dim(1), W = image.dim(2);
  expect(patch > 0 && H % patch == 0 && W % patch == 0, op,
         fmt::format("image {}x{} is not a multiple of patch {}", H, W, patch));
  Tensor y = g.alloc(Dtype::f32, {(H / patch) * (W / patch), C * patch * patch});
  Im2colParams p{uint32_t(C), uint32_t(H), uint32_t(W), uint32_t(patch)};
  uint32_t local = elementwise_local(g);
  g.dispatch(kIm2col, {&image, &y}, &p, sizeof p, grid_1d(uint64_t(y.numel()), local),
             {int32_t(local)});
  return y;
}

Tensor patch_embed(Graph& g, const Tensor& image, const Tensor& w, const Tensor* bias, int patch) {
  Tensor cols = im2col(g, image, patch);
  return matmul(g, cols, w, {.bias = bias});
}

Tensor avg_pool2d(Graph& g, const Tensor& x, int kernel) {
  const char* op = "avg_pool2d";
  expect(x.dtype() == Dtype::f32 && x.rank() == 3 && x.contiguous(), op,
         "x must be contiguous f32 [H, W, D], got " + x.str());
  int64_t H = x.dim(0), W = x.dim(1), D = x.dim(2);
  expect(kernel > 0 && H % kernel == 0 && W % kernel == 0, op,
         fmt::format("grid {}x{} is not a multiple of {}", H, W, kernel));
  Tensor y = g.alloc(Dtype::f32, {H / kernel, W / kernel, D});
  PoolParams p{uint32_t(H), uint32_t(W), uint32_t(D), uint32_t(kernel)};
  uint32_t local = elementwise_local(g);
  g.dispatch(kPool, {&x, &y}, &p, sizeof p, grid_1d(uint64_t(y.numel()), local), {int32_t(local)});
  return y;
}

}  // namespace vkllm::ops
