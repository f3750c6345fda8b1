#pragma once
// Shared test fixture: one device per test binary, random inputs, poisoned outputs and a check
// that the validation layers (when enabled with VKLLM_VALIDATION=1) reported nothing.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <memory>
#include <random>
#include <span>
#include <string>
#include <vector>

#include "sdk/io.h"
#include "sdk/tensor.h"
#include "sdk/vk/device.h"
#include "sdk/vk/graph.h"

namespace vkllm::test {

std::shared_ptr<sdk::Device> device();

// Tells the test main (test_main.cpp) that n validation messages were caused on purpose (a test
// of the message counting itself), so its end-of-run check does not fail on them.
void expect_validation_messages(uint64_t n);

class SdkTest : public ::testing::Test {
 protected:
  void SetUp() override;
  void TearDown() override;
  sdk::Device& dev() { return *device(); }
  std::unique_ptr<sdk::Graph> graph() { return std::make_unique<sdk::Graph>(device()); }

  // Fresh seed per run (printed on failure through the trace).
  std::mt19937_64& rng() { return rng_; }
  std::vector<float> randn(size_t n, float scale = 1.0f);
  std::vector<float> uniform(size_t n, float lo, float hi);
  // A tensor filled with values (any dtype) in the weights pool.
  sdk::Tensor input(Dtype dt, const sdk::Shape& shape, std::span<const float> values);

 private:
  std::mt19937_64 rng_;
  uint64_t validation_before_ = 0;
  std::unique_ptr<::testing::ScopedTrace> trace_;
};

// Poisons the whole arena with NaN so an element a kernel fails to write shows up.
void poison_arena(sdk::Device& dev);

struct Tolerance {
  double abs, rel;
};
// Expects |got - want| <= abs + rel * |want| elementwise; reports the worst element.
void expect_close(std::span<const float> got, std::span<const double> want, Tolerance tol,
                  const std::string& what);

// Expects |got[i] - want[i]| <= bound[i] (per-element error bounds, e.g. from sum |terms|).
void expect_within(std::span<const float> got, std::span<const double> want,
                   std::span<const double> bound, const std::string& what);

// Values as the device stores them in `dt` (rounded to f16/bf16; f32 unchanged).
std::vector<float> round_to(Dtype dt, std::span<const float> v);

}  // namespace vkllm::test
