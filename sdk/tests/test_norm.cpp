#include <array>
#include <cmath>

#include "sdk/ops/norm.h"
#include "sdk/tests/fixture.h"

namespace vkllm::test {
namespace {

class Norm : public SdkTest {};

std::vector<double> ref_norm(bool layer, const std::vector<float>& x, const std::vector<float>* r,
                             const std::vector<float>& w, const std::vector<float>* b, int64_t rows,
                             int64_t dim, double eps, double offset) {
  std::vector<double> y(size_t(rows * dim));
  for (int64_t i = 0; i < rows; ++i) {
    std::vector<double> h(static_cast<size_t>(dim));
    double mean = 0, sq = 0;
    for (int64_t j = 0; j < dim; ++j) {
      h[size_t(j)] = double(x[size_t(i * dim + j)]) + (r ? double((*r)[size_t(i * dim + j)]) : 0.0);
      mean += h[size_t(j)];
    }
    mean = layer ? mean / double(dim) : 0.0;
    for (int64_t j = 0; j < dim; ++j) sq += (h[size_t(j)] - mean) * (h[size_t(j)] - mean);
    double inv = 1.0 / std::sqrt(sq / double(dim) + eps);
    for (int64_t j = 0; j < dim; ++j) {
      double v = (h[size_t(j)] - mean) * inv * (double(w[size_t(j)]) + offset);
      if (b) v += (*b)[size_t(j)];
      y[size_t(i * dim + j)] = v;
    }
  }
  return y;
}

TEST_F(Norm, RmsNormShapesAndOffset) {
  for (auto [rows, dim] : {std::pair{1, 1}, std::pair{1, 4096}, std::pair{3, 33}, std::pair{17, 96},
                           std::pair{64, 100}}) {
    for (float offset : {0.0f, 1.0f}) {
      poison_arena(dev());
      auto xv = randn(size_t(rows * dim), 2.0f), wv = randn(size_t(dim));
      auto x = input(Dtype::f32, {rows, dim}, xv), w = input(Dtype::f32, {dim}, wv);
      auto g = graph();
      auto y = ops::rms_norm(*g, x, w, {.eps = 1e-5f, .weight_offset = offset});
      g->run();
      expect_close(sdk::download_f32(y),
                   ref_norm(false, xv, nullptr, wv, nullptr, rows, dim, 1e-5, offset), {1e-5, 1e-5},
                   fmt::format("rms_norm {}x{} offset {}", rows, dim, offset));
    }
  }
}

TEST_F(Norm, LayerNormWithBias) {
  for (auto [rows, dim] : {std::pair{1, 7}, std::pair{5, 64}, std::pair{9, 1152}}) {
    poison_arena(dev());
    // a large common offset checks the two-pass variance
    auto xv = randn(size_t(rows * dim));
    for (auto& v : xv) v += 100.0f;
    auto wv = randn(size_t(dim)), bv = randn(size_t(dim));
    auto x = input(Dtype::f32, {rows, dim}, xv), w = input(Dtype::f32, {dim}, wv),
         b = input(Dtype::f32, {dim}, bv);
    auto g = graph();
    auto y = ops::layer_norm(*g, x, w, b, {.eps = 1e-6f});
    g->run();
    expect_close(sdk::download_f32(y), ref_norm(true, xv, nullptr, wv, &bv, rows, dim, 1e-6, 0),
                 {2e-4, 2e-4}, fmt::format("layer_norm {}x{}", rows, dim));
  }
}

TEST_F(Norm, AddRmsNormWritesSumAndNorm) {
  for (auto [rows, dim] : {std::pair{1, 64}, std::pair{6, 37}}) {
    auto xv = randn(size_t(rows * dim)), rv = randn(size_t(rows * dim)), wv = randn(size_t(dim));
    auto x = input(Dtype::f32, {rows, dim}, xv), r = input(Dtype::f32, {rows, dim}, rv),
         w = input(Dtype::f32, {dim}, wv);
    auto g = graph();
    auto out = ops::add_rms_norm(*g, x, r, w);
    g->run();
    std::vector<double> sum(xv.size());
    for (size_t i = 0; i < sum.size(); ++i) sum[i] = double(xv[i]) + rv[i];
    expect_close(sdk::download_f32(out.sum), sum, {1e-6, 1e-6}, "sum");
    expect_close(sdk::download_f32(out.normed),
                 ref_norm(false, xv, &rv, wv, nullptr, rows, dim, 1e-6, 0), {1e-5, 1e-5}, "normed");
  }
}

TEST_F(Norm, PerHeadWeightsOnStridedHeads) {
  // q/k norms: the first H of (H + 2 * K) heads of a fused projection [T, H + 2K, D], each head
  // with its own weight row, as a (1 + w) RMSNorm; the result is contiguous [T, H, D].
  for (auto [T, H, K, D] : {std::array{1, 1, 1, 4}, std::array{5, 3, 1, 33},
                            std::array{17, 4, 2, 128}}) {
    poison_arena(dev());
    const int heads = H + 2 * K;
    auto xv = randn(size_t(T * heads * D), 3.0f), wv = randn(size_t(H * D));
    auto x = input(Dtype::f32, {T, heads, D}, xv), w = input(Dtype::f32, {H, D}, wv);
    auto g = graph();
    auto y = ops::rms_norm(*g, x.slice(1, 0, H), w, {.eps = 1e-6f, .weight_offset = 1.0f});
    g->run();
    std::vector<double> want;
    for (int t = 0; t < T; ++t) {
      for (int h = 0; h < H; ++h) {
        std::vector<float> row(xv.begin() + (t * heads + h) * D, xv.begin() + (t * heads + h + 1) * D);
        std::vector<float> wrow(wv.begin() + h * D, wv.begin() + (h + 1) * D);
        auto r = ref_norm(false, row, nullptr, wrow, nullptr, 1, D, 1e-6, 1.0);
        want.insert(want.end(), r.begin(), r.end());
      }
    }
    EXPECT_EQ(y.shape(), (sdk::Shape{T, H, D}));
    expect_close(sdk::download_f32(y), want, {1e-5, 1e-5},
                 fmt::format("per-head rms_norm T={} H={} K={} D={}", T, H, K, D));
  }
}

TEST_F(Norm, ResidualAddedAfterTheNorm) {
  // Gemma's post-norms: h + norm(o) * (1 + w) in one dispatch.
  for (auto [rows, dim] : {std::pair{1, 1}, std::pair{3, 65}, std::pair{40, 256}}) {
    auto xv = randn(size_t(rows * dim), 4.0f), rv = randn(size_t(rows * dim)),
         wv = randn(size_t(dim));
    auto x = input(Dtype::f32, {rows, dim}, xv), r = input(Dtype::f32, {rows, dim}, rv),
         w = input(Dtype::f32, {dim}, wv);
    auto g = graph();
    auto y = ops::rms_norm(*g, x, w, {.eps = 1e-6f, .weight_offset = 1.0f, .residual_after = &r});
    g->run();
    auto want = ref_norm(false, xv, nullptr, wv, nullptr, rows, dim, 1e-6, 1.0);
    for (size_t i = 0; i < want.size(); ++i) want[i] += rv[i];
    expect_close(sdk::download_f32(y), want, {1e-5, 1e-5},
                 fmt::format("rms_norm + residual after {}x{}", rows, dim));
  }
}

TEST_F(Norm, SoftmaxRows) {
  for (auto [rows, cols] :
       {std::pair{1, 1}, std::pair{1, 1000}, std::pair{7, 33}, std::pair{40, 129}}) {
    poison_arena(dev());
    auto xv = randn(size_t(rows * cols), 4.0f);
    auto x = input(Dtype::f32, {rows, cols}, xv);
    auto g = graph();
    auto y = ops::softmax(*g, x, 0.7f);
    g->run();
    std::vector<double> want(xv.size());
    for (int r = 0; r < rows; ++r) {
      double m = -1e300, s = 0;
      for (int c = 0; c < cols; ++c) m = std::max(m, 0.7 * xv[size_t(r * cols + c)]);
      for (int c = 0; c < cols; ++c) s += std::exp(0.7 * xv[size_t(r * cols + c)] - m);
      for (int c = 0; c < cols; ++c)
        want[size_t(r * cols + c)] = std::exp(0.7 * xv[size_t(r * cols + c)] - m) / s;
    }
    expect_close(sdk::download_f32(y), want, {1e-7, 1e-5}, "softmax");
  }
}

}  // namespace
}  // namespace vkllm::test
