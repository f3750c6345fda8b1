// libFuzzer target: chat templates (parse and render with a small conversation).
#include <cstdint>
#include <string>

#include "core/jinja/template.h"
#include "sdk/base/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto ctx = vkllm::core::jinja::Value::from_json(nlohmann::ordered_json::parse(
      R"({"messages": [{"role": "user", "content": "hi"}], "add_generation_prompt": true})"));
  try {
    vkllm::core::jinja::Template(std::string(reinterpret_cast<const char*>(data), size))
        .render(ctx);
  } catch (const vkllm::Error&) {
  }
  return 0;
}
