// libFuzzer entry point of the gguf target (tests/fuzz/targets.cpp); built by the clang preset.
#include <cstdint>
#include <string_view>

#include "tests/fuzz/targets.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  vkllm::fuzz::gguf(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
