#include <algorithm>
#include <cmath>
#include <numeric>

#include "sdk/ops/gather.h"
#include "sdk/ops/sample.h"
#include "sdk/ops/vision.h"
#include "sdk/quant.h"
#include "sdk/tests/fixture.h"

namespace vkllm::test {
namespace {

class Gather : public SdkTest {};

TEST_F(Gather, EmbeddingEveryWeightFormat) {
  int64_t V = 37, D = 256;
  auto wv = randn(size_t(V * D));
  std::vector<int32_t> ids = {0, 36, 5, 5, 17, 2, 36};
  for (Dtype dt : {Dtype::f32, Dtype::f16, Dtype::bf16, Dtype::q8_0, Dtype::q4_0, Dtype::mlx4,
                   Dtype::mlx8, Dtype::q4_1, Dtype::q5_0, Dtype::q5_1, Dtype::q2_k, Dtype::q3_k,
                   Dtype::q4_k, Dtype::q5_k, Dtype::q6_k, Dtype::iq4_nl, Dtype::iq4_xs}) {
    poison_arena(dev());
    sdk::Tensor w;
    std::vector<float> wd;
    if (is_quantized(dt)) {
      auto q = sdk::quantize(dt, wv.data(), V, D, dt == Dtype::mlx4 ? 64 : 32);
      w = sdk::upload_quant(dev().weights(), q);
      wd = sdk::dequantize(q);
    } else {
      w = sdk::Tensor::allocate_weight(dev().weights(), dt, V, D);
      sdk::upload_f32(w, wv);
      wd = round_to(dt, wv);
    }
    auto it = sdk::Tensor::allocate(dev().weights(), Dtype::i32, {int64_t(ids.size())});
    sdk::upload_i32(it, ids);
    auto g = graph();
    auto y = ops::embedding(*g, it, w, 0.5f);
    g->run();
    std::vector<double> want;
    for (int32_t id : ids)
      for (int64_t d = 0; d < D; ++d) want.push_back(0.5 * wd[size_t(id * D + d)]);
    expect_close(sdk::download_f32(y), want, {1e-6, 1e-6},
                 std::string("embedding ") + std::string(dtype_name(dt)));
  }
}

TEST_F(Gather, ScatterRowsPlacesImageEmbeddings) {
  int64_t T = 11, D = 24;
  auto base = randn(size_t(T * D)), img = randn(size_t(4 * D));
  auto y = input(Dtype::f32, {T, D}, base);
  auto x = input(Dtype::f32, {4, D}, img);
  std::vector<int32_t> idx = {2, 3, 4, -1};
  auto it = sdk::Tensor::allocate(dev().weights(), Dtype::i32, {4});
  sdk::upload_i32(it, idx);
  auto g = graph();
  ops::scatter_rows(*g, x, it, y);
  g->run();
  std::vector<double> want(base.begin(), base.end());
  for (int i = 0; i < 3; ++i)
    for (int64_t d = 0; d < D; ++d) want[size_t(idx[size_t(i)] * D + d)] = img[size_t(i * D + d)];
  expect_close(sdk::download_f32(y), want, {0, 0}, "scatter");
}

TEST_F(Gather, ConcatAlongEachDim) {
  auto a = randn(2 * 3 * 5), b = randn(2 * 4 * 5);
  auto ta = input(Dtype::f32, {2, 3, 5}, a), tb = input(Dtype::f32, {2, 4, 5}, b);
  auto g = graph();
  auto y = ops::concat(*g, {ta, tb}, 1);
  g->run();
  std::vector<double> want;
  for (int i = 0; i < 2; ++i) {
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 5; ++k) want.push_back(a[size_t((i * 3 + j) * 5 + k)]);
    for (int j = 0; j < 4; ++j)
      for (int k = 0; k < 5; ++k) want.push_back(b[size_t((i * 4 + j) * 5 + k)]);
  }
  expect_close(sdk::download_f32(y), want, {0, 0}, "concat");
}

TEST_F(Gather, PatchEmbedMatchesConvolution) {
  for (auto [C, H, W, P, O] : {std::tuple{3, 28, 42, 14, 16}, std::tuple{1, 6, 4, 2, 5}}) {
    poison_arena(dev());
    auto img = randn(size_t(C * H * W)), wv = randn(size_t(O * C * P * P), 0.2f),
         bv = randn(size_t(O));
    auto x = input(Dtype::f32, {C, H, W}, img);
    auto w = sdk::Tensor::allocate_weight(dev().weights(), Dtype::f32, O, C * P * P);
    sdk::upload_f32(w, wv);
    auto b = input(Dtype::f32, {O}, bv);
    auto g = graph();
    auto y = ops::patch_embed(*g, x, w, &b, P);
    g->run();
    std::vector<double> want;
    for (int py = 0; py < H / P; ++py)
      for (int px = 0; px < W / P; ++px)
        for (int o = 0; o < O; ++o) {
          double s = bv[size_t(o)];
          for (int c = 0; c < C; ++c)
            for (int ky = 0; ky < P; ++ky)
              for (int kx = 0; kx < P; ++kx)
                s += double(wv[size_t(((o * C + c) * P + ky) * P + kx)]) *
                     img[size_t((c * H + py * P + ky) * W + px * P + kx)];
          want.push_back(s);
        }
    expect_close(sdk::download_f32(y), want, {1e-4, 1e-5}, "patch_embed");
  }
}

TEST_F(Gather, AvgPoolTokenGrid) {
  int64_t H = 8, W = 12, D = 5, K = 4;
  auto v = randn(size_t(H * W * D));
  auto x = input(Dtype::f32, {H, W, D}, v);
  auto g = graph();
  auto y = ops::avg_pool2d(*g, x, int(K));
  g->run();
  std::vector<double> want;
  for (int64_t oy = 0; oy < H / K; ++oy)
    for (int64_t ox = 0; ox < W / K; ++ox)
      for (int64_t d = 0; d < D; ++d) {
        double s = 0;
        for (int64_t ky = 0; ky < K; ++ky)
          for (int64_t kx = 0; kx < K; ++kx)
            s += v[size_t(((oy * K + ky) * W + ox * K + kx) * D + d)];
        want.push_back(s / double(K * K));
      }
  expect_close(sdk::download_f32(y), want, {1e-6, 1e-6}, "avg_pool2d");
}

TEST_F(Gather, TopKAndArgmax) {
  for (auto [rows, cols, k] :
       {std::tuple{1, 1, 1}, std::tuple{1, 151936, 40}, std::tuple{3, 1000, 5},
        std::tuple{2, 70, 64}, std::tuple{4, 32000, 1}}) {
    poison_arena(dev());
    auto v = randn(size_t(rows * cols));
    // ties: duplicate the row maximum at a later index
    for (int r = 0; r < rows && cols > 3; ++r) {
      auto* row = v.data() + r * cols;
      auto m = std::max_element(row, row + cols) - row;
      row[cols - 1] = row[m];
    }
    auto x = input(Dtype::f32, {rows, cols}, v);
    auto g = graph();
    auto t = ops::topk(*g, x, k);
    auto am = ops::argmax(*g, x);
    g->run();
    auto vals = sdk::download_f32(t.values);
    auto idx = sdk::download_i32(t.indices);
    auto amv = sdk::download_i32(am);
    for (int r = 0; r < rows; ++r) {
      std::vector<int> order(static_cast<size_t>(cols));
      std::iota(order.begin(), order.end(), 0);
      const float* row = v.data() + r * cols;
      std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return row[a] > row[b]; });
      for (int j = 0; j < k; ++j) {
        EXPECT_EQ(idx[size_t(r * k + j)], order[size_t(j)]) << "row " << r << " rank " << j;
        EXPECT_EQ(vals[size_t(r * k + j)], row[order[size_t(j)]]);
      }
      EXPECT_EQ(amv[size_t(r)], order[0]);
    }
  }
}

}  // namespace
}  // namespace vkllm::test
