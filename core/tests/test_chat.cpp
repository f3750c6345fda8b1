// Chat replies: tool-call styles chosen from real templates, calls read from recorded model
// texts in each style (malformed ones stay content), the streaming split into reasoning,
// content and calls (fed whole or a character at a time: the same result), and the checks on
// tools, tool_choice and template variables.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "core/chat/chat_setup.h"
#include "core/chat/reply_parser.h"
#include "core/grammar/grammar.h"
#include "core/grammar/matcher.h"
#include "core/tokenizer/tokenizer.h"
#include "sdk/base/error.h"

namespace vkllm::core::chat {
namespace {

namespace fs = std::filesystem;

std::string fixture_template(const std::string& name) {
  fs::path p = fs::path(VKLLM_SHARED_FIXTURES) / "templates" / name / "chat_template.jinja";
  std::ifstream f(p);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

TEST(ToolStyle, ChosenFromTheTemplate) {
  EXPECT_EQ(tool_style_for("{{ '<tool_call>' }}").name, "xml_tool_call");
  EXPECT_EQ(tool_style_for("[TOOL_CALLS]").name, "tool_calls_list");
  EXPECT_EQ(tool_style_for("<|python_tag|>").name, "json_reply");
  const ToolStyle fenced = tool_style_for("<start_of_turn>user");
  EXPECT_EQ(fenced.name, "fenced_python");
  EXPECT_FALSE(fenced.template_renders_tools);
  EXPECT_TRUE(tool_style_for("{% for tool in tools %}").template_renders_tools);
  EXPECT_FALSE(tool_style_for("plain").template_renders_tools);
  if (!fs::exists(VKLLM_SHARED_FIXTURES)) GTEST_SKIP() << "../shared/fixtures is not here";
  EXPECT_EQ(tool_style_for(fixture_template("qwen3")).name, "xml_tool_call");
  EXPECT_EQ(tool_style_for(fixture_template("llama3")).name, "json_reply");
  EXPECT_FALSE(tool_style_for(fixture_template("llama3")).template_renders_tools);  // 3.0
  EXPECT_EQ(tool_style_for(fixture_template("gemma3")).name, "fenced_python");
}

const ToolStyle& style(const char* marker) {
  static std::map<std::string, ToolStyle> s;
  auto it = s.find(marker);
  if (it == s.end()) it = s.emplace(marker, tool_style_for(marker)).first;
  return it->second;
}

// Feeds the reply whole and a byte at a time: both must give `want`.
ReplyDelta split(const ReplyFormat& f, const std::string& text) {
  ReplyParser whole(f);
  ReplyDelta a = whole.feed(text), end = whole.finish();
  a.content += end.content, a.reasoning += end.reasoning;
  a.calls.insert(a.calls.end(), end.calls.begin(), end.calls.end());
  ReplyParser bytes(f);
  ReplyDelta b;
  for (size_t i = 0; i <= text.size(); ++i) {
    ReplyDelta d = i < text.size() ? bytes.feed(text.substr(i, 1)) : bytes.finish();
    b.content += d.content, b.reasoning += d.reasoning;
    b.calls.insert(b.calls.end(), d.calls.begin(), d.calls.end());
  }
  EXPECT_EQ(a.content, b.content);
  EXPECT_EQ(a.reasoning, b.reasoning);
  EXPECT_EQ(a.calls.size(), b.calls.size());
  return a;
}

TEST(ReplyParser, XmlToolCallsWithReasoning) {
  ReplyFormat f{.think_start = "<think>",
                .think_end = "</think>",
                .tools = true,
                .style = style("<tool_call>")};
  auto d =
      split(f,
            "<think>\nThe user wants the weather.\n</think>\n\nLet me check.\n<tool_call>\n"
            "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\", \"days\": 2}}\n"
            "</tool_call>\n<tool_call>\n{\"name\": \"get_time\", \"arguments\": {}}\n</tool_call>");
  EXPECT_EQ(d.reasoning, "The user wants the weather.");
  EXPECT_EQ(d.content, "Let me check.\n\n");
  ASSERT_EQ(d.calls.size(), 2u);
  EXPECT_EQ(d.calls[0].name, "get_weather");
  EXPECT_EQ(d.calls[0].arguments, R"({"city":"Paris","days":2})");
  EXPECT_EQ(d.calls[1].name, "get_time");
  EXPECT_EQ(d.calls[1].arguments, "{}");
  EXPECT_TRUE(d.calls[0].id.starts_with("call_"));
  EXPECT_NE(d.calls[0].id, d.calls[1].id);
}

TEST(ReplyParser, OtherStyles) {
  auto d = split({.tools = true, .style = style("<|python_tag|>")},
                 R"({"name": "search", "parameters": {"query": "vulkan"}})");
  ASSERT_EQ(d.calls.size(), 1u);
  EXPECT_EQ(d.calls[0].arguments, R"({"query":"vulkan"})");
  EXPECT_EQ(d.content, "");
  d = split({.tools = true, .style = style("<|python_tag|>")},
            R"({"name": "a", "parameters": {}}; {"name": "b", "parameters": {"x": 1}})");
  ASSERT_EQ(d.calls.size(), 2u);
  EXPECT_EQ(d.calls[1].name, "b");
  d = split(
      {.tools = true, .style = style("[TOOL_CALLS]")},
      R"([TOOL_CALLS][{"name": "add", "arguments": {"a": 1, "b": 2}}, {"name": "neg", "arguments": {"a": 3}}])");
  ASSERT_EQ(d.calls.size(), 2u);
  EXPECT_EQ(d.calls[0].arguments, R"({"a":1,"b":2})");
  // The marker is a special token in Mistral's vocabulary: the text is the list alone.
  d = split({.tools = true, .style = style("[TOOL_CALLS]")},
            R"([{"name": "add", "arguments": {"a": 1}}])");
  ASSERT_EQ(d.calls.size(), 1u);
  d = split({.tools = true, .style = style("<start_of_turn>")},
            "I will look it up.\n```tool_code\nget_weather(city=\"Paris\", units='metric', days=3, "
            "detailed=True, tags=[\"a\", 'b'], extra=None)\n```");
  EXPECT_EQ(d.content, "I will look it up.\n");
  ASSERT_EQ(d.calls.size(), 1u);
  EXPECT_EQ(
      d.calls[0].arguments,
      R"({"city":"Paris","units":"metric","days":3,"detailed":true,"tags":["a","b"],"extra":null})");
}

TEST(ReplyParser, MalformedCallsStayContent) {
  const ReplyFormat xml{.tools = true, .style = style("<tool_call>")};
  for (const std::string& text :
       {std::string("<tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": }\n</tool_call>"),
        std::string("<tool_call>{\"arguments\": {}}</tool_call>"),  // no name
        std::string("<tool_call>{\"name\": \"f\", \"arguments\": [1]}</tool_call>"),
        std::string("<tool_call>{\"name\": \"f\"")}) {  // cut off
    auto d = split(xml, text);
    EXPECT_TRUE(d.calls.empty()) << text;
    EXPECT_EQ(d.content, text) << text;
  }
  auto d = split({.tools = true, .style = style("<|python_tag|>")}, "{not json at all");
  EXPECT_TRUE(d.calls.empty());
  EXPECT_EQ(d.content, "{not json at all");
  d = split({.tools = true, .style = style("<start_of_turn>")}, "```tool_code\nf(x=)\n```");
  EXPECT_TRUE(d.calls.empty());
  // Text that only looks like the start of a marker is content once it is clearly not one.
  d = split(xml, "a <tool it is not");
  EXPECT_EQ(d.content, "a <tool it is not");
}

TEST(ReplyParser, ThinkingOpenedByThePrompt) {
  ReplyFormat f{.think_start = "<think>", .think_end = "</think>", .starts_in_thinking = true};
  auto d = split(f, "step one\nstep two\n</think>\n\nThe answer is 4.");
  EXPECT_EQ(d.reasoning, "step one\nstep two");
  EXPECT_EQ(d.content, "The answer is 4.");
  // Without markers everything is content, <think> included.
  d = split({}, "<think>x</think>y");
  EXPECT_EQ(d.content, "<think>x</think>y");
  // An unfinished thought is reasoning.
  d = split(f, "still thinking");
  EXPECT_EQ(d.reasoning, "still thinking");
  EXPECT_EQ(d.content, "");
}

TEST(ChatSetup, ChecksToolsAndChoices) {
  auto tok = Tokenizer::from_json(
      nlohmann::json::parse(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})"));
  const std::string tmpl = "{% for t in tools %}{% endfor %}<tool_call>";
  const std::string tools =
      R"([{"type": "function", "function": {"name": "f", "parameters": {"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}}}])";
  auto error = [&](ChatOptions o) {
    try {
      prepare_chat(o, tmpl, *tok);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error({.tools = "[{}]"}).find("tools[0]"), std::string::npos);
  EXPECT_NE(error({.tools = R"([{"type": "function", "function": {"name": ""}}])"})
                .find("tools[0].function.name"),
            std::string::npos);
  EXPECT_NE(error({.tools = tools, .tool_choice = "g"}).find("no tool is named \"g\""),
            std::string::npos);
  EXPECT_NE(error({.tool_choice = "required"}).find("needs tools"), std::string::npos);
  EXPECT_NE(error({.template_kwargs = "[1]"}).find("chat_template_kwargs"), std::string::npos);
  EXPECT_NE(error({.template_kwargs = R"({"messages": 1})"}).find("chat_template_kwargs.messages"),
            std::string::npos);
  EXPECT_EQ(error({.tools = tools, .tool_choice = "f"}), "no error");

  ChatSetup s = prepare_chat({.tools = tools,
                              .tool_choice = "f",
                              .template_kwargs = R"({"a": 1})",
                              .enable_thinking = false},
                             tmpl, *tok);
  EXPECT_EQ(s.variables["a"], 1);
  EXPECT_EQ(s.variables["enable_thinking"], false);
  EXPECT_TRUE(s.variables["tools"].is_array());
  EXPECT_NE(s.call_gbnf.find("<tool_call>"), std::string::npos);
  EXPECT_TRUE(prepare_chat({.tools = tools, .tool_choice = "none"}, tmpl, *tok).variables.empty());
  // A template that does not render tools gets them described in a system message.
  s = prepare_chat({.tools = tools}, "<start_of_turn>", *tok);
  EXPECT_NE(s.tools_system.find("\"name\":\"f\""), std::string::npos);
  EXPECT_FALSE(s.variables.contains("tools"));
  EXPECT_TRUE(opens_thinking("<|im_start|>assistant\n<think>\n", "<think>"));
  EXPECT_FALSE(opens_thinking("<think>\n\n</think>\n\n", "<think>"));
  EXPECT_FALSE(opens_thinking("system: use <think> tags\nassistant:", "<think>"));
}

// A forced call's grammar in every style accepts the call the style's parser reads back, and
// refuses a call of another tool or with arguments outside the schema.
TEST(ChatSetup, ForcedCallGrammarPerStyle) {
  auto tok = Tokenizer::from_json(
      nlohmann::json::parse(R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})"));
  const std::string tools =
      R"([{"type": "function", "function": {"name": "f", "parameters": {"type": "object",
      "properties": {"x": {"type": "integer", "maximum": 9}}, "required": ["x"]}}},
      {"type": "function", "function": {"name": "g"}}])";
  struct Case {
    const char* tmpl;
    std::string call, wrong;
  };
  const std::vector<Case> cases = {
      {"{{ tools }}<tool_call>",
       "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": 3}}\n</tool_call>",
       "<tool_call>\n{\"name\": \"f\", \"arguments\": {\"x\": 12}}\n</tool_call>"},
      {"{{ tools }}<|python_tag|>", R"({"name": "f", "parameters": {"x": 3}})",
       R"({"name": "g", "parameters": {}})"},
      {"{{ tools }}[TOOL_CALLS]", R"([{"name": "f", "arguments": {"x": 3}}])",
       R"([{"name": "f", "arguments": {}}])"},
      {"<start_of_turn>", "```tool_code\n{\"name\": \"f\", \"arguments\": {\"x\": 3}}\n```",
       "```tool_code\nf(x=3)\n```"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.tmpl);
    ChatSetup s = prepare_chat({.tools = tools, .tool_choice = "f"}, c.tmpl, *tok);
    auto g = std::make_shared<const grammar::Grammar>(grammar::Grammar::parse(s.call_gbnf));
    auto matches = [&](const std::string& text) {
      grammar::Matcher m(g);
      grammar::State st = m.initial(), next;
      for (unsigned char b : text) {
        m.advance(st, b, next);
        if (next.empty()) return false;
        st.swap(next);
      }
      return grammar::Matcher::complete(st);
    };
    EXPECT_TRUE(matches(c.call)) << s.call_gbnf;
    EXPECT_FALSE(matches(c.wrong)) << s.call_gbnf;
    ReplyDelta d = split({.tools = true, .style = s.reply.style}, c.call);
    ASSERT_EQ(d.calls.size(), 1u) << c.call;
    EXPECT_EQ(d.calls[0].name, "f");
    EXPECT_EQ(d.calls[0].arguments, R"({"x":3})");
  }
}

}  // namespace
}  // namespace vkllm::core::chat
