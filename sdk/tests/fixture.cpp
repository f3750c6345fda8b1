#include "sdk/tests/fixture.h"

#include <fmt/format.h>

#include "sdk/vk/memory.h"

namespace vkllm::test {

std::shared_ptr<sdk::Device> device() {
  // Kept until the process ends: destroying the device unloads JIT-compiled llvmpipe code whose
  // driver-internal allocations LeakSanitizer could then not attribute (or suppress).
  static auto* d = new std::shared_ptr<sdk::Device>(sdk::Device::create());
  return *d;
}

void SdkTest::SetUp() {
  uint64_t seed = std::random_device{}();
  if (const char* s = std::getenv("VKLLM_TEST_SEED")) seed = std::stoull(s);
  rng_.seed(seed);
  trace_ = std::make_unique<::testing::ScopedTrace>(__FILE__, __LINE__,
                                                    fmt::format("VKLLM_TEST_SEED={}", seed));
  validation_before_ = device()->validation_messages();
}

void SdkTest::TearDown() {
  EXPECT_EQ(device()->validation_messages(), validation_before_)
      << "Vulkan validation layers reported problems (see the log above)";
  trace_.reset();
}

std::vector<float> SdkTest::randn(size_t n, float scale) {
  std::normal_distribution<float> d(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng_);
  return v;
}

std::vector<float> SdkTest::uniform(size_t n, float lo, float hi) {
  std::uniform_real_distribution<float> d(lo, hi);
  std::vector<float> v(n);
  for (auto& x : v) x = d(rng_);
  return v;
}

sdk::Tensor SdkTest::input(Dtype dt, const sdk::Shape& shape, std::span<const float> values) {
  auto t = sdk::Tensor::allocate(dev().weights(), dt, shape);
  sdk::upload_f32(t, values);
  return t;
}

void poison_arena(sdk::Device& dev) {
  // Allocate everything free in the arena's current blocks would be intrusive; instead
  // allocate a large poisoned tensor, release it, and let kernels reuse that memory.
  auto& arena = dev.arena();
  uint64_t reserved = std::max<uint64_t>(arena.bytes_reserved(), 64ull << 20);
  uint64_t free_bytes = reserved - arena.bytes_in_use();
  if (free_bytes < 4096) return;
  auto t = sdk::Tensor::allocate(arena, Dtype::i32, {int64_t(free_bytes / 4 - 1024)});
  sdk::Graph g(device());
  g.fill(t, 0x7fc00000u);  // quiet NaN
  g.run();
}

void expect_close(std::span<const float> got, std::span<const double> want, Tolerance tol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  size_t bad = 0, worst = 0;
  double worst_excess = -1;
  for (size_t i = 0; i < got.size(); ++i) {
    double err = std::fabs(double(got[i]) - want[i]);
    double allowed = tol.abs + tol.rel * std::fabs(want[i]);
    if (!(err <= allowed)) {  // NaN fails too
      ++bad;
      double excess = std::isnan(err) ? 1e300 : err - allowed;
      if (excess > worst_excess) {
        worst_excess = excess;
        worst = i;
      }
    }
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.size()
                     << " elements out of tolerance (abs " << tol.abs << ", rel " << tol.rel
                     << "); worst at " << worst << ": got " << got[worst] << ", want "
                     << want[worst];
}

void expect_within(std::span<const float> got, std::span<const double> want,
                   std::span<const double> bound, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  ASSERT_EQ(bound.size(), want.size()) << what;
  size_t bad = 0, worst = 0;
  double worst_ratio = -1;
  for (size_t i = 0; i < got.size(); ++i) {
    double err = std::fabs(double(got[i]) - want[i]);
    if (!(err <= bound[i])) {
      ++bad;
      double ratio = std::isnan(err) ? 1e300 : err / std::max(bound[i], 1e-300);
      if (ratio > worst_ratio) {
        worst_ratio = ratio;
        worst = i;
      }
    }
  }
  EXPECT_EQ(bad, 0u) << what << ": " << bad << " of " << got.size()
                     << " elements outside their bound; worst at " << worst << ": got "
                     << got[worst] << ", want " << want[worst] << ", bound " << bound[worst];
}

std::vector<float> round_to(Dtype dt, std::span<const float> v) {
  std::vector<float> out(v.begin(), v.end());
  for (auto& x : out) {
    if (dt == Dtype::f16) x = f16_to_f32(f32_to_f16(x));
    if (dt == Dtype::bf16) x = bf16_to_f32(f32_to_bf16(x));
  }
  return out;
}

}  // namespace vkllm::test
