// libFuzzer entry point of the json_schema target (tests/fuzz/targets.cpp); built by the clang
// preset.
#include <cstdint>
#include <string_view>

#include "tests/fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vkllm::fuzz::json_schema(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
