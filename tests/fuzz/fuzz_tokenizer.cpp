// libFuzzer target: tokenizer.json (the first line of the input), optionally
// tokenizer_config.json (the second line, when it is a JSON object), and text (the rest):
// load, encode with and without special tokens, decode, and stream-decode.
#include <cstdint>
#include <string>

#include "core/tokenizer/tokenizer.h"
#include "sdk/base/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  size_t nl = in.find('\n');
  std::string json = in.substr(0, nl), rest = nl == std::string::npos ? "" : in.substr(nl + 1);
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded()) return 0;
  nlohmann::json cfg = nlohmann::json::object();
  size_t nl2 = rest.find('\n');
  if (!rest.empty() && rest[0] == '{') {
    auto c = nlohmann::json::parse(rest.substr(0, nl2), nullptr, false);
    if (!c.is_discarded()) {
      cfg = c;
      rest = nl2 == std::string::npos ? "" : rest.substr(nl2 + 1);
    }
  }
  try {
    auto t = vkllm::core::Tokenizer::from_json(j, cfg, "fuzz");
    for (bool special : {true, false}) {
      try {
        auto ids = t->encode(rest, special);
        t->decode(ids);
        vkllm::core::StreamDecoder sd(*t);
        for (int32_t id : ids) sd.push(id);
        sd.flush();
      } catch (const vkllm::Error&) {
      }
    }
  } catch (const vkllm::Error&) {
  }
  return 0;
}
