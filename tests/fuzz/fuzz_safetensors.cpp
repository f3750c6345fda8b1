// libFuzzer target: safetensors headers.  Build with -DVKLLM_FUZZ=ON (clang).
#include <cstdint>

#include "core/weights/safetensors.h"
#include "sdk/base/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  try {
    uint64_t start = 0;
    vkllm::core::SafetensorsFile::parse_header(data, size, "fuzz", &start);
  } catch (const vkllm::Error&) {
  }
  return 0;
}
