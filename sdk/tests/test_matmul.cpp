#include <fmt/format.h>

#include <cmath>

#include "sdk/base/error.h"
#include "sdk/ops/matmul.h"
#include "sdk/quant.h"
#include "sdk/tests/fixture.h"

namespace vkllm::test {
namespace {

// llama.cpp's formats beyond q8_0/q4_0, read as stored (sdk/quant.h).
constexpr Dtype kGgufFormats[] = {Dtype::q4_1,   Dtype::q5_0,  Dtype::q5_1, Dtype::q2_k,
                                  Dtype::q3_k,   Dtype::q4_k,  Dtype::q5_k, Dtype::q6_k,
                                  Dtype::iq4_nl, Dtype::iq4_xs};

class Matmul : public SdkTest {
 protected:
  // Every stored field random over its whole range: values, scales of both signs, the
  // K-quants' sub-scales and mins at their extremes (what a quantizer rarely produces).
  sdk::QuantHost random_quant(Dtype dt, int64_t N, int64_t K) {
    auto q = sdk::detail::quant_host(dt, N, K, 32);
    auto pick = [&](int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(rng()); };
    auto f16 = [&](float lo, float hi) {
      float v = std::uniform_real_distribution<float>(lo, hi)(rng());
      return f16_to_f32(f32_to_f16(pick(0, 1) ? v : -v));
    };
    for (auto& v : q.values) v = uint8_t(pick(0, (1 << quant_bits(dt)) - 1));
    for (auto& s : q.scales) s = f16(0.01f, 0.1f);
    for (auto& b : q.biases) b = f16(0.0f, 0.5f);
    const bool signed_sub = dt == Dtype::q3_k || dt == Dtype::q6_k || dt == Dtype::iq4_xs;
    const int sub_hi = dt == Dtype::q2_k ? 15 : dt == Dtype::q6_k ? 127 : signed_sub ? 31 : 63;
    const int sub_lo = dt == Dtype::q6_k ? -128 : signed_sub ? -32 : 0;
    for (auto& s : q.sub_scales) s = int8_t(pick(sub_lo, sub_hi));
    for (auto& m : q.sub_mins) m = int8_t(pick(0, dt == Dtype::q2_k ? 15 : 63));
    for (auto& d : q.supers) d = f16(0.0005f, 0.004f);
    for (auto& d : q.super_mins) d = std::fabs(f16(0.0f, 0.02f));
    return q;
  }

  // Uploads w [N, K] as `dt` and returns the tensor and the values the device sees.
  std::pair<sdk::Tensor, std::vector<float>> weight(Dtype dt, int64_t N, int64_t K,
                                                    std::span<const float> w, int group = 32) {
    if (is_quantized(dt)) {
      auto q = sdk::quantize(dt, w.data(), N, K, group);
      return {sdk::upload_quant(dev().weights(), q), sdk::dequantize(q)};
    }
    auto t = sdk::Tensor::allocate_weight(dev().weights(), dt, N, K);
    sdk::upload_f32(t, w);
    return {t, round_to(dt, w)};
  }

  void check(Dtype dt, int64_t M, int64_t N, int64_t K, bool bias, bool residual, int group = 32,
             bool random_fields = false) {
    SCOPED_TRACE(fmt::format("{} M={} N={} K={} bias={} residual={} group={}{}", dtype_name(dt), M,
                             N, K, bias, residual, group, random_fields ? " random fields" : ""));
    poison_arena(dev());
    auto wv = randn(size_t(N * K), 0.5f);
    auto [w, wd] = weight(dt, N, K, wv, group);
    if (random_fields) {
      auto q = random_quant(dt, N, K);
      w = sdk::upload_quant(dev().weights(), q);
      wd = sdk::dequantize(q);
    }
    auto xv = randn(size_t(M * K));
    auto x = input(Dtype::f32, {M, K}, xv);
    auto bv = randn(size_t(N));
    auto rv = randn(size_t(M * N));
    auto b = input(Dtype::f32, {N}, bv);
    auto r = input(Dtype::f32, {M, N}, rv);
    auto g = graph();
    auto y =
        ops::matmul(*g, x, w, {.bias = bias ? &b : nullptr, .residual = residual ? &r : nullptr});
    g->run();
    std::vector<double> want(size_t(M * N)), bound(size_t(M * N));
    for (int64_t m = 0; m < M; ++m) {
      for (int64_t n = 0; n < N; ++n) {
        double s = 0, mag = 0;
        for (int64_t k = 0; k < K; ++k) {
          double t = double(wd[size_t(n * K + k)]) * xv[size_t(m * K + k)];
          s += t;
          mag += std::fabs(t);
        }
        if (bias) s += bv[size_t(n)], mag += std::fabs(bv[size_t(n)]);
        if (residual) s += rv[size_t(m * N + n)], mag += std::fabs(rv[size_t(m * N + n)]);
        want[size_t(m * N + n)] = s;
        // f32 accumulation: a few ulps of the sum of magnitudes.
        bound[size_t(m * N + n)] = 4e-7 * mag * std::sqrt(double(K)) + 1e-6;
      }
    }
    expect_within(sdk::download_f32(y), want, bound, "matmul");
  }
};

TEST_F(Matmul, DenseAllShapes) {
  for (Dtype dt : {Dtype::f32, Dtype::f16, Dtype::bf16}) {
    for (auto [M, N, K] : {std::tuple{1, 1, 1}, std::tuple{1, 37, 29}, std::tuple{1, 64, 256},
                           std::tuple{3, 19, 100}, std::tuple{6, 45, 96}, std::tuple{8, 33, 64},
                           std::tuple{13, 70, 96}, std::tuple{17, 9, 1176}}) {
      check(dt, M, N, K, false, false);
    }
  }
}

TEST_F(Matmul, QuantizedAllShapes) {
  for (Dtype dt : {Dtype::q8_0, Dtype::q4_0, Dtype::mlx8, Dtype::mlx4}) {
    for (auto [M, N, K] : {std::tuple{1, 1, 32}, std::tuple{1, 37, 64}, std::tuple{1, 130, 256},
                           std::tuple{3, 50, 128}, std::tuple{5, 21, 128}, std::tuple{8, 64, 96},
                           std::tuple{19, 45, 160}}) {
      check(dt, M, N, K, false, false);
    }
  }
}

// Every tiling the device picks (decode, a few tokens, prefill tiles) over rows that end inside
// a tile, for llama.cpp's other formats: quantized by our quantizers, and with every stored
// field random over its range.
TEST_F(Matmul, GgufFormatsAllShapes) {
  for (Dtype dt : kGgufFormats) {
    const bool super = quant_format(dt).super;
    for (auto [M, N, K] :
         {std::tuple{1, 37, 512}, std::tuple{3, 50, 256}, std::tuple{19, 45, 768}}) {
      check(dt, M, N, super ? K : K / 2 + 32, false, false);
      check(dt, M, N, K, false, false, 32, true);
    }
  }
}

TEST_F(Matmul, MlxGroupSizes) {
  for (Dtype dt : {Dtype::mlx4, Dtype::mlx8}) {
    for (int group : {32, 64, 128}) {
      check(dt, 1, 29, 256, false, false, group);
      check(dt, 9, 29, 384, false, false, group);
    }
  }
}

TEST_F(Matmul, BiasAndResidual) {
  for (Dtype dt : {Dtype::f16, Dtype::q4_0}) {
    check(dt, 1, 41, 64, true, false);
    check(dt, 6, 41, 64, false, true);
    check(dt, 11, 41, 64, true, true);
  }
}

TEST_F(Matmul, StridedAndUnalignedInputs) {
  // x as a column slice (rows strided) and with K not a multiple of 4 (rows unaligned).
  int64_t M = 5, N = 23, K = 37;
  auto wv = randn(size_t(N * K));
  auto [w, wd] = weight(Dtype::f32, N, K, wv);
  auto big = randn(size_t(M * (K + 11)));
  auto xb = input(Dtype::f32, {M, K + 11}, big);
  auto g = graph();
  auto y = ops::matmul(*g, xb.slice(1, 3, K), w);
  g->run();
  std::vector<double> want, bound;
  for (int64_t m = 0; m < M; ++m)
    for (int64_t n = 0; n < N; ++n) {
      double s = 0, mag = 0;
      for (int64_t k = 0; k < K; ++k) {
        double t = double(wd[size_t(n * K + k)]) * big[size_t(m * (K + 11) + 3 + k)];
        s += t;
        mag += std::fabs(t);
      }
      want.push_back(s);
      bound.push_back(4e-7 * mag * std::sqrt(double(K)) + 1e-6);
    }
  expect_within(sdk::download_f32(y), want, bound, "strided matmul");
}

// Every field written to llama.cpp's blocks reads back the same (the block layouts against
// llama.cpp's own dequantization: tests/llamacpp, vkllm_ggml_quants_tests).
TEST_F(Matmul, GgufBlocksRoundTrip) {
  std::vector<Dtype> all = {Dtype::q8_0, Dtype::q4_0};
  all.insert(all.end(), std::begin(kGgufFormats), std::end(kGgufFormats));
  for (Dtype dt : all) {
    SCOPED_TRACE(dtype_name(dt));
    auto q = random_quant(dt, 3, 512);
    auto blocks = sdk::to_gguf_blocks(q);
    const auto info = *sdk::ggml_type_info(uint32_t(sdk::ggml_type_of(dt)));
    EXPECT_EQ(blocks.size(), size_t(3 * 512 / info.block_values * info.block_bytes));
    auto back = sdk::from_gguf_blocks(dt, blocks.data(), 3, 512);
    EXPECT_EQ(back.values, q.values);
    EXPECT_EQ(back.scales, q.scales);
    EXPECT_EQ(back.biases, q.biases);
    EXPECT_EQ(back.sub_scales, q.sub_scales);
    EXPECT_EQ(back.sub_mins, q.sub_mins);
    EXPECT_EQ(back.supers, q.supers);
    EXPECT_EQ(back.super_mins, q.super_mins);
  }
}

// The quantizers of llama.cpp's formats: every value within its group's range at the stored
// scales, and an RMS error per weight near what the format's bits allow (on N(0, 1) weights;
// llama.cpp's own quantizers measured on the same data in vkllm_ggml_quants_tests).
TEST_F(Matmul, GgufQuantizersErrors) {
  auto w = randn(16 * 1024);
  // Upper bounds of RMS error / RMS weight, about 1.25x what these quantizers reach.
  const std::pair<Dtype, double> bounds[] = {
      {Dtype::q4_1, 0.12},   {Dtype::q5_0, 0.06},  {Dtype::q5_1, 0.06},  {Dtype::q2_k, 0.40},
      {Dtype::q3_k, 0.22},   {Dtype::q4_k, 0.11},  {Dtype::q5_k, 0.055}, {Dtype::q6_k, 0.03},
      {Dtype::iq4_nl, 0.11}, {Dtype::iq4_xs, 0.11}};
  for (auto [dt, bound] : bounds) {
    auto q = sdk::quantize(dt, w.data(), 16, 1024);
    auto d = sdk::dequantize(q);
    double se = 0, sw = 0;
    for (size_t i = 0; i < w.size(); ++i) {
      se += (double(d[i]) - w[i]) * (double(d[i]) - w[i]);
      sw += double(w[i]) * w[i];
    }
    const double rel = std::sqrt(se / sw);
    EXPECT_LE(rel, bound) << dtype_name(dt);
    fmt::print("{}: relative RMS error {:.4f}\n", dtype_name(dt), rel);
  }
}

TEST_F(Matmul, QuantizationErrorIsBounded) {
  // q8_0: half a step plus the f16 rounding of its scale (127 * 2^-11 steps); q4_0: one step
  // (the positive extreme clips at 15) plus the f16 rounding of the scale across the range
  // (8 * 2^-11 steps: ggml quantizes with the unrounded scale); MLX: one step at the clipped
  // end (the scale is stretched so the larger edge is exact: edge / round(edge / s), and the
  // edge is at least n_bins / 2 steps from zero) plus the f16 rounding of the scale across
  // the range (n_bins * 2^-11 steps) and of the bias (up to n_bins / 2 * 2^-11 steps there).
  auto w = randn(4 * 128, 1.0f);
  for (Dtype dt : {Dtype::q8_0, Dtype::q4_0, Dtype::mlx8, Dtype::mlx4}) {
    auto q = sdk::quantize(dt, w.data(), 4, 128, dt == Dtype::mlx4 ? 64 : 32);
    auto d = sdk::dequantize(q);
    for (size_t i = 0; i < w.size(); ++i) {
      size_t g = i / size_t(q.group);
      double step = std::fabs(q.scales[g]);
      double steps = dt == Dtype::q8_0   ? 0.5 + 127.0 / 2048
                     : dt == Dtype::q4_0 ? 1.0 + 8.0 / 2048
                                         : 1.0 + 1.5 * ((1 << quant_bits(dt)) - 1) / 2048.0;
      EXPECT_LE(std::fabs(d[i] - w[i]), step * steps * (1 + 1e-6) + 1e-7)
          << dtype_name(dt) << " " << i;
    }
  }
}

}  // namespace
}  // namespace vkllm::test

namespace vkllm::test {
namespace {

// Runtime LoRA through the graph's LoraPass: two adapters on spans of the rows, rows of no
// span left to the base, bias and residual kept; odd ranks and shapes, a quantized base.
TEST_F(Matmul, LoraSpansAddTheirAdaptersUpdates) {
  for (auto [dt, M, N, K, r1, r2] :
       {std::tuple{Dtype::f32, 11, 37, 29, 3, 5}, std::tuple{Dtype::f16, 9, 70, 96, 8, 1},
        std::tuple{Dtype::q8_0, 7, 45, 64, 16, 4}, std::tuple{Dtype::f32, 1, 19, 33, 2, 7},
        std::tuple{Dtype::f32, 20, 130, 70, 300, 9}}) {
    SCOPED_TRACE(fmt::format("{} M={} N={} K={} r={},{}", dtype_name(dt), M, N, K, r1, r2));
    poison_arena(dev());
    auto wv = randn(size_t(N * K), 0.5f);
    auto [w, wd] = weight(dt, N, K, wv);
    const int ranks[2] = {r1, r2};
    std::vector<float> av[2], bv[2];
    sdk::LoraTable table;
    for (int a = 0; a < 2; ++a) {
      av[a] = randn(size_t(ranks[a] * K), 0.3f);
      bv[a] = randn(size_t(N * ranks[a]), 0.3f);
      auto at = sdk::Tensor::allocate_weight(dev().weights(), Dtype::f32, ranks[a], K);
      auto bt = sdk::Tensor::allocate_weight(dev().weights(), Dtype::f32, N, ranks[a]);
      sdk::upload_f32(at, av[a]);
      sdk::upload_f32(bt, bv[a]);
      table.add(w, a + 1, {at, bt});
    }
    auto xv = randn(size_t(M * K));
    auto rv = randn(size_t(M * N));
    auto bias = randn(size_t(N));
    auto x = input(Dtype::f32, {M, K}, xv);
    auto res = input(Dtype::f32, {M, N}, rv);
    auto b = input(Dtype::f32, {N}, bias);
    // Rows: adapter 2 on [0, s1), the base on [s1, s2), adapter 1 on [s2, M).
    const int64_t s1 = M / 3, s2 = M - M / 3;
    std::vector<int> row_adapter(size_t(M), 0);
    for (int64_t m = 0; m < M; ++m) row_adapter[size_t(m)] = m < s1 ? 2 : m < s2 ? 0 : 1;
    auto g = graph();
    g->set_lora({&table, {{0, s1, 2}, {s1, s2 - s1, 0}, {s2, M - s2, 1}}, M});
    auto y = ops::matmul(*g, x, w, {.bias = &b, .residual = &res});
    g->run();
    std::vector<double> want(size_t(M * N)), bound(size_t(M * N));
    for (int64_t m = 0; m < M; ++m) {
      const int a = row_adapter[size_t(m)];
      std::vector<double> t(a ? size_t(ranks[a - 1]) : 0);
      double tmag = 0;
      for (size_t j = 0; j < t.size(); ++j) {
        for (int64_t k = 0; k < K; ++k)
          t[j] += double(av[a - 1][j * size_t(K) + size_t(k)]) * xv[size_t(m * K + k)];
        tmag += std::fabs(t[j]);
      }
      for (int64_t n = 0; n < N; ++n) {
        double s = bias[size_t(n)] + rv[size_t(m * N + n)], mag = std::fabs(s);
        for (int64_t k = 0; k < K; ++k) {
          double p = double(wd[size_t(n * K + k)]) * xv[size_t(m * K + k)];
          s += p;
          mag += std::fabs(p);
        }
        for (size_t j = 0; j < t.size(); ++j) {
          double p = double(bv[a - 1][size_t(n) * t.size() + j]) * t[j];
          s += p;
          mag += std::fabs(p) + tmag;
        }
        want[size_t(m * N + n)] = s;
        bound[size_t(m * N + n)] = 4e-7 * mag * std::sqrt(double(K)) + 1e-6;
      }
    }
    expect_within(sdk::download_f32(y), want, bound, "matmul + lora");
  }
}

// A matmul over other rows than the pass's (the output head over the logits rows): fine with
// one adapter over the whole pass, an error with several.
TEST_F(Matmul, LoraOnOtherRowsNeedsOneAdapter) {
  auto wv = randn(size_t(8 * 32));
  auto [w, wd] = weight(Dtype::f32, 8, 32, wv);
  sdk::LoraTable table;
  auto at = sdk::Tensor::allocate_weight(dev().weights(), Dtype::f32, 2, 32);
  auto bt = sdk::Tensor::allocate_weight(dev().weights(), Dtype::f32, 8, 2);
  sdk::upload_f32(at, randn(64));
  sdk::upload_f32(bt, randn(16));
  table.add(w, 1, {at, bt});
  auto x = input(Dtype::f32, {3, 32}, randn(96));
  auto g = graph();
  g->set_lora({&table, {{0, 5, 1}}, 5});
  EXPECT_NO_THROW(ops::matmul(*g, x, w));
  g->set_lora({&table, {{0, 2, 1}, {2, 3, 0}}, 5});
  EXPECT_THROW(ops::matmul(*g, x, w), vkllm::Error);
  g->set_lora({&table, {{0, 2, 1}, {2, 3, 0}}, 5, {{0, 1, 1}}, 3});  // the head's rows told
  EXPECT_NO_THROW(ops::matmul(*g, x, w));
  EXPECT_THROW(table.add(w, 1, {bt, at}), vkllm::InternalError);
}

}  // namespace
}  // namespace vkllm::test

namespace vkllm::test {
namespace {

// A fused projection whose row ranges come in different formats (a Q4_K_M file's Q/K/V): one
// product per part into its columns, with bias and residual columns, as one weight would give.
TEST_F(Matmul, WeightInPartsOfSeveralFormats) {
  const int64_t K = 512;
  const std::pair<Dtype, int64_t> parts[] = {
      {Dtype::q4_k, 37}, {Dtype::q6_k, 16}, {Dtype::q8_0, 9}};
  for (int64_t M : {1, 6, 13}) {
    SCOPED_TRACE(fmt::format("M={}", M));
    poison_arena(dev());
    std::vector<sdk::Tensor> ts;
    std::vector<float> wd;
    for (auto [dt, n] : parts) {
      auto wv = randn(size_t(n * K), 0.5f);
      auto q = sdk::quantize(dt, wv.data(), n, K);
      ts.push_back(sdk::upload_quant(dev().weights(), q));
      auto d = sdk::dequantize(q);
      wd.insert(wd.end(), d.begin(), d.end());
    }
    auto w = sdk::Tensor::concat_rows(ts);
    const int64_t N = w.dim(0);
    ASSERT_EQ(N, 62);
    auto xv = randn(size_t(M * K)), bv = randn(size_t(N)), rv = randn(size_t(M * N));
    auto x = input(Dtype::f32, {M, K}, xv);
    auto b = input(Dtype::f32, {N}, bv);
    auto r = input(Dtype::f32, {M, N}, rv);
    auto g = graph();
    auto y = ops::matmul(*g, x, w, {.bias = &b, .residual = &r});
    g->run();
    std::vector<double> want, bound;
    for (int64_t m = 0; m < M; ++m)
      for (int64_t n = 0; n < N; ++n) {
        double s = bv[size_t(n)] + rv[size_t(m * N + n)], mag = std::fabs(s);
        for (int64_t k = 0; k < K; ++k) {
          const double t = double(wd[size_t(n * K + k)]) * xv[size_t(m * K + k)];
          s += t;
          mag += std::fabs(t);
        }
        want.push_back(s);
        bound.push_back(4e-7 * mag * std::sqrt(double(K)) + 1e-6);
      }
    expect_within(sdk::download_f32(y), want, bound, "matmul over parts");
  }
}

}  // namespace
}  // namespace vkllm::test
