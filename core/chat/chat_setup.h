#pragma once
// What a chat request's tools, tool_choice, template variables and thinking options turn into:
// template variables, a system message describing tools (templates that do not render them), the
// reply's format (reasoning markers, tool-call style) and, for a required or named tool choice,
// the grammar of a call.
#include <nlohmann/json.hpp>

#include <optional>
#include <string>

#include "core/chat/reply_parser.h"

namespace vkllm::core {
class Tokenizer;
}

namespace vkllm::core::chat {

struct ChatOptions {
  std::string tools;  // OpenAI's tools array, JSON text ("" for none)
  std::string tool_choice = "auto";
  std::string template_kwargs;  // a JSON object, text
  std::optional<bool> enable_thinking;
  std::string think_start, think_end;  // overrides
};

struct ChatSetup {
  nlohmann::ordered_json variables = nlohmann::ordered_json::object();  // tools, kwargs, ...
  std::string tools_system;  // a system message to add (empty: none)
  ReplyFormat reply;
  std::string call_gbnf;  // the grammar of a forced call (empty: the reply is free)
};

// InputError naming the field (tools[1].function.name, tool_choice, chat_template_kwargs).
ChatSetup prepare_chat(const ChatOptions& o, const std::string& chat_template,
                       const Tokenizer& tok);

// Whether the rendered prompt ends by opening a thinking block (the model continues inside it).
bool opens_thinking(const std::string& prompt, const std::string& start);

}  // namespace vkllm::core::chat
