#pragma once
// Splits a chat reply, as it streams, into what OpenAI's API returns apart: reasoning
// (<think>...</think>, or the template's markers), content, and tool calls in the template's
// style. Text that may still become a marker is held back; a call is returned whole once its end
// marker (or the end of the reply) is seen; a call that does not parse stays content.
#include <string>
#include <string_view>
#include <vector>

#include "core/chat/tool_style.h"

namespace vkllm::core::chat {

struct ReplyFormat {
  std::string think_start, think_end;  // empty: no reasoning markers
  bool starts_in_thinking = false;     // the prompt opened the thinking block
  bool tools = false;                  // tools were offered: look for calls
  ToolStyle style;
};

struct ReplyDelta {
  std::string content, reasoning;
  std::vector<ToolCall> calls;
  bool empty() const { return content.empty() && reasoning.empty() && calls.empty(); }
};

class ReplyParser {
 public:
  explicit ReplyParser(ReplyFormat f);
  ReplyDelta feed(std::string_view text);
  ReplyDelta finish();  // the end of the reply: whatever was held back

 private:
  enum class Mode { text, thinking, call, whole_reply };
  void run(ReplyDelta& d, bool at_end);
  void emit(ReplyDelta& d, std::string_view s);
  void end_call(ReplyDelta& d, std::string_view body, std::string_view raw);

  ReplyFormat f_;
  Mode mode_;
  std::string pending_;  // not yet assigned
  bool content_started_ = false, reasoning_started_ = false, after_think_ = false;
};

}  // namespace vkllm::core::chat
