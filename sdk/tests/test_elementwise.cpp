#include <cmath>

#include "sdk/ops/elementwise.h"
#include "sdk/tests/fixture.h"

namespace vkllm::test {
namespace {

using sdk::Shape;

class Elementwise : public SdkTest {};

double ref_act(ops::Act a, double x, double cap) {
  switch (a) {
    case ops::Act::identity:
      return x;
    case ops::Act::silu:
      return x / (1 + std::exp(-x));
    case ops::Act::gelu:
      return 0.5 * x * (1 + std::erf(x / std::sqrt(2.0)));
    case ops::Act::gelu_tanh:
      return 0.5 * x * (1 + std::tanh(std::sqrt(2 / M_PI) * (x + 0.044715 * x * x * x)));
    case ops::Act::relu:
      return x > 0 ? x : 0;
    case ops::Act::tanh:
      return std::tanh(x);
    case ops::Act::softcap:
      return cap * std::tanh(x / cap);
    case ops::Act::sigmoid:
      return 1 / (1 + std::exp(-x));
    case ops::Act::exp:
      return std::exp(x);
    case ops::Act::quick_gelu:
      return x / (1 + std::exp(-1.702 * x));
  }
  return 0;
}

TEST_F(Elementwise, CopyConvertsDtypesAndStrides) {
  for (auto shape : {Shape{1}, Shape{7, 5}, Shape{3, 33, 17}, Shape{2, 3, 4, 65}}) {
    for (Dtype src : {Dtype::f32, Dtype::f16, Dtype::bf16}) {
      for (Dtype dst : {Dtype::f32, Dtype::f16}) {
        poison_arena(dev());
        auto v = randn(size_t(shape.numel()), 3.0f);
        auto x = input(src, shape, v);
        auto g = graph();
        auto y = ops::copy(*g, x, dst);
        g->run();
        auto got = sdk::download_f32(y);
        // Expected: rounding to src, then to dst.
        std::vector<double> want(v.size());
        for (size_t i = 0; i < v.size(); ++i) {
          float s = src == Dtype::f16    ? f16_to_f32(f32_to_f16(v[i]))
                    : src == Dtype::bf16 ? bf16_to_f32(f32_to_bf16(v[i]))
                                         : v[i];
          want[i] = dst == Dtype::f16 ? f16_to_f32(f32_to_f16(s)) : s;
        }
        expect_close(got, want, {0, 0}, "copy " + x.str() + " -> " + std::string(dtype_name(dst)));
      }
    }
  }
}

TEST_F(Elementwise, PermuteCopyMatchesTranspose) {
  Shape s{3, 5, 7, 9};
  auto v = randn(size_t(s.numel()));
  auto x = input(Dtype::f32, s, v);
  auto g = graph();
  auto y = ops::copy(*g, x.permute({2, 0, 3, 1}));
  g->run();
  auto got = sdk::download_f32(y);
  std::vector<double> want;
  for (int c = 0; c < 7; ++c)
    for (int a = 0; a < 3; ++a)
      for (int d = 0; d < 9; ++d)
        for (int b = 0; b < 5; ++b) want.push_back(v[size_t(((a * 5 + b) * 7 + c) * 9 + d)]);
  expect_close(got, want, {0, 0}, "permute");
}

TEST_F(Elementwise, IntegerCopyIsExact) {
  std::vector<int32_t> v = {0, -1, 7, 2147483647, -2147483647 - 1, 123456789, 5};
  auto x = sdk::Tensor::allocate(dev().weights(), Dtype::i32, {int64_t(v.size())});
  sdk::upload_i32(x, v);
  auto g = graph();
  auto y = ops::copy(*g, x, Dtype::i32);
  g->run();
  EXPECT_EQ(sdk::download_i32(y), v);
}

TEST_F(Elementwise, BinaryBroadcasts) {
  struct Case {
    Shape a, b;
  };
  for (auto c : {Case{{5}, {5}}, Case{{4, 33}, {33}}, Case{{2, 3, 5}, {3, 1}}, Case{{1, 7}, {6, 1}},
                 Case{{2, 1, 4, 3}, {5, 1, 3}}}) {
    for (auto op :
         {ops::BinaryOp::add, ops::BinaryOp::mul, ops::BinaryOp::sub, ops::BinaryOp::div}) {
      poison_arena(dev());
      auto va = randn(size_t(c.a.numel()));
      auto vb = uniform(size_t(c.b.numel()), 0.5f, 2.0f);
      auto a = input(Dtype::f32, c.a, va), b = input(Dtype::f32, c.b, vb);
      auto g = graph();
      auto y = ops::binary(*g, op, a, b);
      g->run();
      auto got = sdk::download_f32(y);
      // reference broadcast
      int rank = y.rank();
      std::vector<double> want(size_t(y.numel()));
      for (int64_t i = 0; i < y.numel(); ++i) {
        int64_t rem = i, ia = 0, ib = 0, sa = 1, sb = 1;
        for (int d = rank - 1; d >= 0; --d) {
          int64_t idx = rem % y.dim(d);
          rem /= y.dim(d);
          int da = d - (rank - a.rank()), db = d - (rank - b.rank());
          if (da >= 0) {
            ia += (a.dim(da) == 1 ? 0 : idx) * sa;
            sa *= a.dim(da);
          }
          if (db >= 0) {
            ib += (b.dim(db) == 1 ? 0 : idx) * sb;
            sb *= b.dim(db);
          }
        }
        double x1 = va[size_t(ia)], x2 = vb[size_t(ib)];
        want[size_t(i)] = op == ops::BinaryOp::add   ? x1 + x2
                          : op == ops::BinaryOp::mul ? x1 * x2
                          : op == ops::BinaryOp::sub ? x1 - x2
                                                     : x1 / x2;
      }
      expect_close(got, want, {1e-6, 1e-6}, "binary " + a.str() + " " + b.str());
    }
  }
}

TEST_F(Elementwise, ActivationsMatchReference) {
  using ops::Act;
  for (Act a : {Act::identity, Act::silu, Act::gelu, Act::gelu_tanh, Act::relu, Act::tanh,
                Act::softcap, Act::sigmoid, Act::exp, Act::quick_gelu}) {
    for (auto shape : {Shape{1}, Shape{3, 37}, Shape{2, 5, 64}}) {
      poison_arena(dev());
      auto v = randn(size_t(shape.numel()), 3.0f);
      auto x = input(Dtype::f32, shape, v);
      auto g = graph();
      ops::ActOptions opt{.scale = 0.5f, .cap = 2.5f};
      auto y = ops::act(*g, a, x, opt);
      g->run();
      std::vector<double> want(v.size());
      for (size_t i = 0; i < v.size(); ++i) want[i] = ref_act(a, v[i], 2.5) * 0.5;
      expect_close(sdk::download_f32(y), want, {2e-6, 2e-6}, "act " + std::to_string(int(a)));
    }
  }
}

TEST_F(Elementwise, GatedTakesColumnSlices) {
  // gate and up as the two halves of one [rows, 2*cols] projection
  for (auto [rows, cols] : {std::pair{1, 8}, std::pair{5, 37}, std::pair{3, 128}}) {
    auto v = randn(size_t(rows * 2 * cols), 2.0f);
    auto x = input(Dtype::f32, {rows, 2 * cols}, v);
    for (auto a : {ops::Act::silu, ops::Act::gelu_tanh, ops::Act::gelu}) {
      auto g = graph();
      auto y = ops::gated(*g, a, x.slice(1, 0, cols), x.slice(1, cols, cols));
      g->run();
      std::vector<double> want;
      for (int r = 0; r < rows; ++r)
        for (int c = 0; c < cols; ++c)
          want.push_back(ref_act(a, v[size_t(r * 2 * cols + c)], 0) *
                         v[size_t(r * 2 * cols + cols + c)]);
      expect_close(sdk::download_f32(y), want, {2e-6, 2e-6}, "gated");
    }
  }
}

}  // namespace
}  // namespace vkllm::test
