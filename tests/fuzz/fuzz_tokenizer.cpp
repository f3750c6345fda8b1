// libFuzzer target: tokenizer.json (the first line of the input) and text (the rest).
#include <cstdint>
#include <string>

#include "core/tokenizer/tokenizer.h"
#include "sdk/base/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  size_t nl = in.find('\n');
  std::string json = in.substr(0, nl), text = nl == std::string::npos ? "" : in.substr(nl + 1);
  try {
    auto j = nlohmann::json::parse(json, nullptr, false);
    if (j.is_discarded()) return 0;
    auto t = vkllm::core::Tokenizer::from_json(j, {}, "fuzz");
    t->decode(t->encode(text, true));
  } catch (const vkllm::Error&) {
  }
  return 0;
}
