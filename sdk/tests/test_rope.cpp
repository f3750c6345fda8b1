#include <cmath>

#include "sdk/ops/rope.h"
#include "sdk/tests/fixture.h"

namespace vkllm::test {
namespace {

class Rope : public SdkTest {
 protected:
  // Reference: pair p rotates by pos[sec(p)] * freq[p].
  std::vector<double> ref(const std::vector<float>& x, int64_t T, int64_t H, int64_t D,
                          int64_t stride_t, int64_t stride_h, int64_t col0,
                          const std::vector<int32_t>& pos, const std::vector<float>& freq,
                          const ops::RopeOptions& o) {
    int rot = o.rot_dim ? o.rot_dim : int(D);
    std::vector<double> y(size_t(T * H * D));
    for (int64_t t = 0; t < T; ++t)
      for (int64_t h = 0; h < H; ++h) {
        const float* xr = x.data() + t * stride_t + col0 + h * stride_h;
        double* yr = y.data() + (t * H + h) * D;
        for (int64_t i = 0; i < D; ++i) yr[i] = xr[i];
        for (int p = 0; p < rot / 2; ++p) {
          int sec = 0;
          for (int b : o.sections) sec += p >= b ? 1 : 0;
          // The angle is an f32 product, as in HF (inv_freq @ positions in float32).
          double angle = double(float(pos[size_t(sec * T + t)]) * freq[size_t(p)]);
          double c = std::cos(angle) * o.mscale, s = std::sin(angle) * o.mscale;
          int i0 = o.interleaved ? 2 * p : p, i1 = o.interleaved ? 2 * p + 1 : p + rot / 2;
          double a = xr[i0], b = xr[i1];
          yr[i0] = a * c - b * s;
          yr[i1] = b * c + a * s;
        }
      }
    return y;
  }

  void check(int64_t T, int64_t H, int64_t D, ops::RopeOptions o, bool strided) {
    SCOPED_TRACE(fmt::format("T={} H={} D={} interleaved={} rot={} sections={}", T, H, D,
                             o.interleaved, o.rot_dim, o.sections.size()));
    poison_arena(dev());
    int rows = int(o.sections.size()) + 1;
    int rot = o.rot_dim ? o.rot_dim : int(D);
    // x as heads of a wider fused projection when strided
    int64_t row = strided ? (H + 3) * D : H * D;
    auto xv = randn(size_t(T * row));
    auto xt = input(Dtype::f32, {T, row}, xv);
    // heads of a fused projection: columns [D, D + H*D) of each row
    sdk::Tensor x = (strided ? xt.slice(1, D, H * D) : xt).unflatten(1, H, D);
    std::vector<int32_t> pos(size_t(rows * T));
    for (auto& p : pos) p = int32_t(rng()() % 5000);
    auto freq = ops::rope_inv_freq(10000.0, rot);
    for (auto& f : freq) f *= 0.5f + float(rng()() % 100) / 100.0f;  // arbitrary scaling
    auto pt = sdk::Tensor::allocate(dev().weights(), Dtype::i32,
                                    rows == 1 ? sdk::Shape{T} : sdk::Shape{rows, T});
    sdk::upload_i32(pt, pos);
    auto ft = input(Dtype::f32, {int64_t(freq.size())}, freq);
    auto g = graph();
    auto y = ops::rope(*g, x, pt, ft, o);
    g->run();
    expect_close(sdk::download_f32(y), ref(xv, T, H, D, row, D, strided ? D : 0, pos, freq, o),
                 {2e-5, 2e-5}, "rope");
  }
};

TEST_F(Rope, NeoxAndInterleaved) {
  for (bool inter : {false, true}) {
    check(1, 1, 8, {.interleaved = inter}, false);
    check(5, 3, 64, {.interleaved = inter}, false);
    check(7, 2, 128, {.interleaved = inter}, true);
  }
}

TEST_F(Rope, PartialRotaryAndMscale) {
  check(4, 3, 64, {.rot_dim = 32, .mscale = 1.25f}, false);
  check(3, 2, 96, {.interleaved = true, .rot_dim = 48}, true);
}

TEST_F(Rope, MultimodalSections) {
  // Qwen2-VL: head_dim 128, mrope_section [16, 24, 24] -> bounds {16, 40}
  check(9, 2, 128, {.sections = {16, 40}}, false);
  // tiny: head_dim 16, sections [2, 3, 3]
  check(6, 4, 16, {.sections = {2, 5}}, true);
  // 2-D vision rope: two rows
  check(12, 2, 32, {.sections = {8}}, false);
}

}  // namespace
}  // namespace vkllm::test
