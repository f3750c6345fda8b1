#include "core/chat/chat_setup.h"

#include <fmt/format.h>

#include "core/grammar/grammar.h"
#include "core/grammar/json_schema.h"
#include "core/tokenizer/tokenizer.h"
#include "sdk/base/error.h"

namespace vkllm::core::chat {

using nlohmann::ordered_json;

namespace {

ordered_json parse_json(const std::string& text, const char* field) {
  auto j = ordered_json::parse(text, nullptr, false);
  if (j.is_discarded()) throw InputError(fmt::format("{}: not valid JSON", field));
  return j;
}

// The grammar of one call of `tool` in the style: {"name": "...", "<args_key>": <arguments>}.
std::string call_rule(grammar::JsonGrammar& g, const ordered_json& fn, size_t i,
                      const ToolStyle& style) {
  const ordered_json params =
      fn.contains("parameters") ? fn["parameters"] : ordered_json{{"type", "object"}};
  const std::string args = g.add(params, fmt::format("tool{}-arguments", i),
                                 fmt::format("tools[{}].function.parameters", i));
  return fmt::format(
      "{} {} {}",
      grammar::gbnf_literal(
          fmt::format(R"({{"name": {}, "{}": )", ordered_json(fn["name"]).dump(), style.args_key)),
      args, grammar::gbnf_literal("}"));
}

}  // namespace

ChatSetup prepare_chat(const ChatOptions& o, const std::string& tmpl, const Tokenizer& tok) {
  ChatSetup s;
  // Template variables: chat_template_kwargs, then enable_thinking.
  if (!o.template_kwargs.empty()) {
    auto kw = parse_json(o.template_kwargs, "chat_template_kwargs");
    if (!kw.is_object()) throw InputError("chat_template_kwargs: expected a JSON object");
    for (const auto& [k, v] : kw.items()) {
      if (k == "messages" || k == "tools" || k == "add_generation_prompt")
        throw InputError(fmt::format("chat_template_kwargs.{}: set by the request itself", k));
      s.variables[k] = v;
    }
  }
  if (o.enable_thinking) s.variables["enable_thinking"] = *o.enable_thinking;

  // Reasoning markers: given, else the template's <think> pair.
  s.reply.think_start = o.think_start;
  s.reply.think_end = o.think_end;
  if (s.reply.think_start.empty() && s.reply.think_end.empty() &&
      tmpl.find("<think>") != std::string::npos) {
    s.reply.think_start = "<think>";
    s.reply.think_end = "</think>";
  }
  if (s.reply.think_start.empty() != s.reply.think_end.empty())
    throw InputError("thinking markers: give both the start and the end");

  // Tools.
  s.reply.style = tool_style_for(tmpl);
  const std::string& choice = o.tool_choice.empty() ? std::string("auto") : o.tool_choice;
  if (o.tools.empty()) {
    if (choice != "auto" && choice != "none")
      throw InputError(fmt::format("tool_choice: \"{}\" needs tools", choice));
    return s;
  }
  ordered_json tools = parse_json(o.tools, "tools");
  if (!tools.is_array()) throw InputError("tools: expected an array");
  if (tools.size() > 128) throw InputError("tools: at most 128");
  bool named_found = false;
  for (size_t i = 0; i < tools.size(); ++i) {
    const auto& t = tools[i];
    const std::string at = fmt::format("tools[{}]", i);
    if (!t.is_object() || t.value("type", "") != "function" || !t.contains("function") ||
        !t["function"].is_object())
      throw InputError(
          fmt::format("{}: expected {{\"type\": \"function\", \"function\": {{...}}}}", at));
    const auto& fn = t["function"];
    if (!fn.contains("name") || !fn["name"].is_string() || fn["name"].get<std::string>().empty())
      throw InputError(fmt::format("{}.function.name: expected a non-empty string", at));
    if (fn.contains("parameters") && !fn["parameters"].is_object())
      throw InputError(fmt::format("{}.function.parameters: expected a JSON Schema object", at));
    if (fn["name"] == choice) named_found = true;
  }
  if (choice == "none") return s;  // the template does not see them: no call can be made
  if (choice != "auto" && choice != "required" && !named_found)
    throw InputError(fmt::format("tool_choice: no tool is named \"{}\"", choice));
  s.reply.tools = true;
  if (s.reply.style.template_renders_tools)
    s.variables["tools"] = tools;
  else
    s.tools_system = tools_instructions(s.reply.style, tools);

  if (choice == "auto") return s;
  // A forced call: the style's markers around one call; left out where the style reads a bare
  // reply as calls, and where they are special tokens (which a grammar over text cannot write:
  // the reply is then read as the call itself).
  grammar::JsonGrammar g;
  std::vector<std::string> alts;
  for (size_t i = 0; i < tools.size(); ++i) {
    if (choice != "required" && tools[i]["function"]["name"] != choice) continue;
    alts.push_back(call_rule(g, tools[i]["function"], i, s.reply.style));
  }
  std::string call = "( " + alts[0];
  for (size_t i = 1; i < alts.size(); ++i) call += " | " + alts[i];
  call += " )";
  const ToolStyle& st = s.reply.style;
  const auto special = [&](const std::string& m) {
    auto id = tok.token_id(m);
    return id && tok.is_special(*id);
  };
  if (st.list) call = fmt::format("\"[\" {} \"]\"", call);
  if (!st.start.empty() && !st.whole_reply && !special(st.start)) {
    std::string open = st.start + (st.end.empty() ? "" : "\n");
    std::string close = st.end.empty() ? "" : "\n" + st.end;
    call = fmt::format("{} {} {}", grammar::gbnf_literal(open), call,
                       close.empty() ? "" : grammar::gbnf_literal(close));
  } else {
    s.reply.style.whole_reply = true;
  }
  s.call_gbnf = g.gbnf(call);
  return s;
}

bool opens_thinking(const std::string& prompt, const std::string& start) {
  // The generation prompt itself ends with the start marker (templates of thinking-only models);
  // a marker mentioned earlier (a system prompt about <think> tags) does not count.
  if (start.empty()) return false;
  const size_t last = prompt.find_last_not_of(" \t\r\n");
  if (last == std::string::npos || last + 1 < start.size()) return false;
  return prompt.compare(last + 1 - start.size(), start.size(), start) == 0;
}

}  // namespace vkllm::core::chat
