#pragma once
// How a model writes tool calls, as data chosen from its chat template (never from its name):
// registry/tool_styles.json lists the styles (a call between XML-like markers, a JSON list after
// a marker, the reply as a JSON object, a fenced python call) and what in a template selects
// each. parse_calls() reads a call's body in any of the shapes.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vkllm::core::chat {

struct ToolCall {
  std::string id, name, arguments;  // arguments: a JSON object as text
};

struct ToolStyle {
  std::string name;
  std::string start, end;    // around a call; end "": the call runs to the end of the reply
  bool list = false;         // the body is a JSON array of calls
  bool whole_reply = false;  // the reply itself may be the call, without start
  bool python = false;       // name(arg=value, ...) bodies are read too
  std::string args_key = "arguments";  // what the grammar writes (both keys are read)
  bool template_renders_tools = true;  // false: vkllm describes the tools in a system message
};

ToolStyle tool_style_for(const std::string& chat_template);

// The system message that describes `tools` (OpenAI's array) for templates that do not.
std::string tools_instructions(const ToolStyle& style, const nlohmann::ordered_json& tools);

// The calls in one body (between start and end): an object, an array of objects (or objects
// separated by ';' / newlines), or python calls. nullopt when it is not a well-formed call: the
// caller then keeps the text as content.
std::optional<std::vector<ToolCall>> parse_calls(std::string_view body, const ToolStyle& style);

// A new call id ("call_" and 24 hexadecimal digits).
std::string new_call_id();

}  // namespace vkllm::core::chat
