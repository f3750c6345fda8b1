#pragma once
// Reading the transformers references of tests/data/qwen_vl (tools/fixtures/make_qwen_vl.py).
#include <algorithm>
#include <cmath>
#include <cstring>
#include <span>
#include <string>
#include <tuple>
#include <vector>

#include "core/weights/safetensors.h"

namespace vkllm::test {

inline std::string qwen_vl_dir(const std::string& variant) {
  return std::string(VKLLM_TEST_DATA) + "/qwen_vl/" + variant;
}

// max |a[i] - b[i]| over the first n values.
inline double max_abs_diff(std::span<const float> a, const float* b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; ++i) m = std::max(m, std::abs(double(a[i]) - double(b[i])));
  return m;
}

// The images of each reference case, in prompt order (tests/data/images).
inline std::vector<std::string> case_images(const std::string& c) {
  std::string d = std::string(VKLLM_TEST_DATA) + "/images/";
  if (c == "one_image") return {d + "rgba_150x100.png"};
  return {d + "rgb_61x47.png", d + "rgba_150x100.png"};
}

// Test names for (variant, case) parameters: "qwen2_vl_one_image".
template <class Info>
std::string case_name(const Info& i) {
  return std::string(std::get<0>(i.param)) + "_" + std::get<1>(i.param);
}

inline const char* const kVariants[] = {"qwen2_vl", "qwen2_5_vl"};
inline const char* const kCases[] = {"one_image", "two_images"};

}  // namespace vkllm::test
