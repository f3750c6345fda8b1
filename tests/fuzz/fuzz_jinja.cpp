// libFuzzer target: chat templates, parsed and rendered. When the input's first line is a JSON
// object it is the context and the rest the template; the template is also rendered with hostile
// contexts (wrong types where templates expect strings and lists, deep nesting, odd keys).
#include <cstdint>
#include <string>
#include <vector>

#include "core/jinja/template.h"
#include "sdk/base/error.h"

namespace {
using vkllm::core::jinja::Value;

const std::vector<Value>& hostile_contexts() {
  static const std::vector<Value> all = [] {
    std::vector<Value> v;
    for (const char* j : {
             R"({"messages": [{"role": "user", "content": "hi"}], "add_generation_prompt": true,
                 "bos_token": "<s>", "eos_token": "</s>"})",
             R"({"messages": [{"role": "system", "content": [{"type": "text", "text": "s"}]},
                 {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": " q "}]},
                 {"role": "assistant", "content": "<think>r</think>a", "tool_calls":
                 [{"function": {"name": "f", "arguments": {"x": [1, 2.5, null]}}}]},
                 {"role": "tool", "content": "{}"}], "tools": [{"type": "function",
                 "function": {"name": "f", "parameters": {}}}], "add_generation_prompt": false})",
             R"({"messages": [{"role": 7, "content": null}, {"content": [[[]]]}, 3, "x", null,
                 {"role": "user", "content": {"type": "text"}}], "tools": "none",
                 "add_generation_prompt": "yes", "bos_token": 1})",
             R"({"messages": "not a list", "tools": {"a": {"b": {"c": {"d": [[[[[[1]]]]]]}}}},
                 "enable_thinking": false, "loop": 1, "range": 2, "namespace": [], "raise_exception": 0})",
             R"({})",
         }) {
      v.push_back(Value::from_json(nlohmann::ordered_json::parse(j)));
    }
    return v;
  }();
  return all;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string in(reinterpret_cast<const char*>(data), size);
  std::string source = in;
  Value own;
  size_t nl = in.find('\n');
  if (nl != std::string::npos && !in.empty() && in[0] == '{') {
    auto j = nlohmann::ordered_json::parse(in.substr(0, nl), nullptr, false);
    if (!j.is_discarded() && j.is_object()) {
      try {
        own = Value::from_json(j);
      } catch (const vkllm::Error&) {
      }
      source = in.substr(nl + 1);
    }
  }
  try {
    vkllm::core::jinja::Template t(source);
    if (!own.is_undefined()) {
      try {
        t.render(own);
      } catch (const vkllm::Error&) {
      }
    }
    for (const auto& ctx : hostile_contexts()) {
      try {
        t.render(ctx);
      } catch (const vkllm::Error&) {
      }
    }
  } catch (const vkllm::Error&) {
  }
  return 0;
}
