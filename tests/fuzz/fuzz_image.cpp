// libFuzzer target: image decoding and preprocessing.  Build with -DVKLLM_FUZZ=ON (clang).
#include <cstdint>

#include "core/vision/image.h"
#include "core/vision/preprocess.h"
#include "sdk/base/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    auto img = vkllm::core::decode_image({data, size}, "fuzz");
    vkllm::core::merge_window_patches(img, {.min_pixels = 56 * 56, .max_pixels = 28 * 28 * 4});
  } catch (const vkllm::Error&) {
  }
  return 0;
}
