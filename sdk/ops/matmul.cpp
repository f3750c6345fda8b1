#include "sdk/ops/matmul.h"

#include <optional>

#include "sdk/ops/detail.h"
#include "sdk/ops/elementwise.h"
#include "sdk/quant.h"

namespace vkllm::ops {
using namespace detail;
using sdk::Binding;
using sdk::KernelDesc;

namespace {

struct Params {
  uint32_t M, N, K, x_stride, w_stride, y_stride, r_stride;
};
const KernelDesc kMatmul{
    "matmul",
    {Binding::texels, Binding::texels, Binding::words, Binding::words, Binding::words,
     Binding::words, Binding::words, Binding::words, Binding::storage},
    sizeof(Params)};

struct Tiling {
  int tn, tm, lanes;
  uint32_t local;
  bool xshare = false;  // the subgroup's lanes share x loads (one workgroup = one subgroup)
};

// Per device class: llvmpipe wants many weight rows per invocation so each x load serves
// several rows and many tokens per invocation in prefill; GPUs split K across a subgroup.
// Decode on llvmpipe: 16 rows per invocation measured best on the 134M llama (f16 decode
// 15 -> 23 tok/s, q4_0 31 -> 44 tok/s against 4 rows; 32 rows spill and lose again).
Tiling choose_tiling(const Graph& g, int64_t M, bool quant) {
  const auto& dev = g.device();
  if (dev.kernel_class() == KernelClass::cpu) {
    // A workgroup of one 8-lane subgroup shares the loads of x (XSHARE): 134M f16 llama, one
    // pass over 8 tokens 70 -> 47 ms, over 1 token 32 -> 31 ms; with x that cheap, 8 x 8 tiles
    // win for quantized weights too (q4_0 at 8 tokens 61 -> 71 GFLOP/s against 4 x 8).
    if (dev.features().subgroup_size == 8 && dev.features().subgroup_shuffle) {
      if (M == 1) return {16, 1, 1, 8, true};
      if (M < 8) return {M <= 4 ? 16 : 8, int(M), 1, 8, true};
      return {8, 8, 1, 8, true};
    }
    if (M == 1) return {16, 1, 1, 8};
    // A few tokens (speculative verification, short chunks): 134M f16 forward of 4 tokens
    // 99 -> 51 ms with 16 rows instead of 4, of 7 tokens 62 ms with 8 (16 spills there).
    if (M < 8) return {M <= 4 ? 16 : 8, int(M), 1, 8};
    return {quant ? 4 : 8, 8, 1, 8};
  }
  int lanes = int(dev.features().subgroup_size);
  if (lanes < 4 || lanes > 64 || !dev.features().subgroup_arith) lanes = 1;
  if (M == 1) return {2, 1, lanes, uint32_t(std::max(lanes, 1) * 4)};
  return {4, int(std::min<int64_t>(M, 4)), lanes, uint32_t(std::max(lanes, 1) * 2)};
}

// x as the kernels read it: rows contiguous, evenly strided (a multiple of 4 floats) and
// 16-byte aligned; otherwise copied into such rows.
Tensor kernel_rows(Graph& g, const Tensor& x, int64_t K) {
  const int64_t M = x.numel() / std::max<int64_t>(K, 1);
  bool rows_ok = x.rows_contiguous() && (x.rank() == 1 || x.stride(-2) % 4 == 0) &&
                 (x.memory()->offset() + x.byte_offset()) % 16 == 0;
  for (int i = x.rank() - 3; rows_ok && i >= 0; --i) {
    rows_ok = x.dim(i) == 1 || x.stride(i) == x.stride(i + 1) * x.dim(i + 1);
  }
  if (rows_ok) return x;
  const int64_t padded = (K + 3) / 4 * 4;
  Tensor buf = g.alloc(Dtype::f32, {M, padded});
  Tensor view = buf.slice(1, 0, K);
  copy_into(g, x.rank() == 1 ? x.reshape({1, K}) : contiguous(g, x).reshape({M, K}), view);
  return view;
}

Tensor matmul_base(Graph& g, const Tensor& x_in, const Tensor& w, const MatmulOptions& opt);

// A weight stored in parts of different formats: one product per part into its columns of y
// (the kernel writes rows with y's stride), with the matching columns of bias and residual.
Tensor matmul_parts(Graph& g, const Tensor& x, const Tensor& w, const MatmulOptions& opt) {
  const int64_t N = w.dim(0), K = w.dim(1);
  expect(x.dtype() == Dtype::f32 && x.rank() >= 1 && x.dim(-1) == K, "matmul",
         fmt::format("x {} does not match weight {} (K = {})", x.str(), w.str(), K));
  const int64_t M = x.numel() / std::max<int64_t>(K, 1);
  sdk::Shape out_shape = x.shape();
  out_shape[-1] = N;
  Tensor y = opt.out ? *opt.out : g.alloc(Dtype::f32, out_shape);
  Tensor y2 = y.reshape({M, N});
  std::optional<Tensor> r2;
  if (opt.residual) r2 = opt.residual->rank() == 2 ? *opt.residual : opt.residual->reshape({M, N});
  int64_t at = 0;
  for (const Tensor& part : w.parts()) {
    const int64_t n = part.dim(0);
    Tensor out = y2.slice(1, at, n);
    std::optional<Tensor> bias, res;
    if (opt.bias) bias = opt.bias->slice(0, at, n);
    if (r2) res = r2->slice(1, at, n);
    matmul_base(g, x, part,
                {.bias = bias ? &*bias : nullptr, .residual = res ? &*res : nullptr, .out = &out});
    at += n;
  }
  return y;
}

Tensor matmul_base(Graph& g, const Tensor& x_in, const Tensor& w, const MatmulOptions& opt) {
  const char* op = "matmul";
  expect(w.rank() == 2, op, "weight must be 2-D, got " + w.str());
  if (!w.parts().empty()) return matmul_parts(g, x_in, w, opt);
  int64_t N = w.dim(0), K = w.dim(1);
  expect(x_in.dtype() == Dtype::f32, op, "x must be f32, got " + x_in.str());
  expect(x_in.rank() >= 1 && x_in.dim(-1) == K, op,
         fmt::format("x {} does not match weight {} (K = {})", x_in.str(), w.str(), K));
  bool quant = is_quantized(w.dtype());
  if (!quant) {
    expect(
        w.stride(1) == 1 && w.stride(0) % 32 == 0 && w.byte_offset() % 16 == 0, op,
        "dense weight " + w.str() + " must come from Tensor::allocate_weight (rows padded to 32)");
  }
  Tensor x = kernel_rows(g, x_in, K);
  const int64_t M = x.numel() / std::max<int64_t>(K, 1);
  uint32_t x_stride = uint32_t(x.rank() >= 2 ? x.stride(-2) : ((K + 3) / 4 * 4));

  sdk::Shape out_shape = x_in.shape();
  out_shape[-1] = N;
  Tensor y;
  uint32_t y_stride = uint32_t(N);
  if (opt.out) {
    y = *opt.out;
    expect(y.dtype() == Dtype::f32 && y.numel() == M * N && y.rows_contiguous() &&
               (y.rank() < 2 || y.stride(-2) >= N),
           op, "out must be f32 [M, N] with rows of N (or strided rows), got " + y.str());
    if (y.rank() >= 2) y_stride = uint32_t(y.stride(-2));
    for (int i = y.rank() - 3; i >= 0; --i)
      expect(y.dim(i) == 1 || y.stride(i) == y.stride(i + 1) * y.dim(i + 1), op,
             "out rows must be evenly strided, got " + y.str());
  } else {
    y = g.alloc(Dtype::f32, out_shape);
  }
  if (opt.bias) {
    expect(opt.bias->dtype() == Dtype::f32 && opt.bias->numel() == N && opt.bias->contiguous(), op,
           "bias must be contiguous f32 [N], got " + opt.bias->str());
  }
  uint32_t r_stride = 0;
  if (opt.residual) {
    const Tensor& r = *opt.residual;
    expect(r.dtype() == Dtype::f32 && r.numel() == M * N && r.rows_contiguous(), op,
           "residual must be f32 with the output's shape, got " + r.str());
    r_stride = uint32_t(r.rank() >= 2 ? r.stride(-2) : N);
  }

  Tiling t = choose_tiling(g, M, quant);
  const WeightArgs a = weight_args(w, op);
  Params p{uint32_t(M), uint32_t(N), uint32_t(K), x_stride, uint32_t(quant ? 0 : w.stride(0)),
           y_stride,    r_stride};
  uint64_t tiles = uint64_t((N + t.tn - 1) / t.tn) * uint64_t(t.lanes);
  sdk::Groups groups = grid_1d(tiles, t.local);
  groups.z = uint32_t((M + t.tm - 1) / t.tm);
  // Absent optional inputs bind a read-only stand-in the kernel never reads.
  const Tensor* bias = opt.bias ? opt.bias : &a.values;
  const Tensor* res = opt.residual ? opt.residual : &a.values;
  g.dispatch(kMatmul, {&x, &a.values, &a.high, &a.scales, &a.biases, &a.super, bias, res, &y}, &p,
             sizeof p, groups,
             {int32_t(t.local), a.wtype, t.tn, t.tm, a.group, a.qbias, a.zero_point, a.scales_f32,
              opt.bias ? 1 : 0, opt.residual ? 1 : 0, t.lanes, t.xshare ? 1 : 0, a.low_bits,
              a.high_bits, a.super_blocks, a.table});
  return y;
}

// Adds each span's low-rank update into its rows of y: t = x_s·Aᵀ, y_s += t·Bᵀ.
void add_lora(Graph& g, const sdk::LoraPass& pass, const Tensor& x, const Tensor& w,
              const Tensor& y) {
  const int64_t K = w.dim(1), N = w.dim(0), M = x.numel() / std::max<int64_t>(K, 1);
  Tensor x2 = x.rank() == 2 ? x : (x.contiguous() ? x : contiguous(g, x)).reshape({M, K});
  Tensor y2 = y.reshape({M, N});
  // Rows other than the pass's (the logits rows of the output head) all belong to one adapter
  // when its span covers the pass: they all get it.
  const bool head = M != pass.rows && M == pass.head_rows;
  const bool all_rows =
      !head && (pass.rows < 0 || (pass.spans.size() == 1 && pass.spans[0].begin == 0 &&
                                  pass.spans[0].rows == pass.rows));
  for (sdk::LoraSpan span : head ? pass.head_spans : pass.spans) {
    if (all_rows) span = {0, M, span.adapter};  // every row, whatever their count
    const sdk::LoraFactors* f = pass.table->find(w, span.adapter);
    if (!f || span.rows <= 0) continue;
    expect(all_rows || head || M == pass.rows, "matmul",
           fmt::format("a weight {} with a runtime adapter is applied to {} rows, not the pass's "
                       "{} of several adapters: adapters in a mixed batch cover weights applied "
                       "to every token (merge this adapter instead)",
                       w.str(), M, pass.rows));
    expect(span.begin >= 0 && span.begin + span.rows <= M, "matmul", "adapter span outside rows");
    Tensor xs = x2.slice(0, span.begin, span.rows);
    Tensor ys = y2.slice(0, span.begin, span.rows);
    // Two small matmuls: t (which runs beside the base product) and t·Bᵀ added in place. A
    // single dispatch that computes t per workgroup in shared memory measured slower on
    // llvmpipe (barriers become coroutine switches; bench/RESULTS.md).
    Tensor t = matmul_base(g, xs, f->a, {});
    matmul_base(g, t, f->b, {.residual = &ys, .out = &ys});
    if (all_rows) break;
  }
}

}  // namespace

Tensor matmul(Graph& g, const Tensor& x, const Tensor& w, MatmulOptions opt) {
  Tensor y = matmul_base(g, x, w, opt);
  if (const sdk::LoraPass* pass = g.lora()) add_lora(g, *pass, x, w, y);
  return y;
}

}  // namespace vkllm::ops
