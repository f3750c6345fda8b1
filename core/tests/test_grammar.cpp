// The grammar engine: GBNF reading (and its errors), the byte-level matcher, the token trie's
// masks against a brute-force check of every token, closing within a token budget, and JSON
// Schema / pattern compilation checked by matching texts.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <random>

#include "core/grammar/constraint.h"
#include "core/grammar/json_schema.h"
#include "sdk/base/error.h"

namespace vkllm::core::grammar {
namespace {

using json = nlohmann::ordered_json;

std::shared_ptr<const Grammar> parse(const std::string& g) {
  return std::make_shared<const Grammar>(Grammar::parse(g, "test"));
}

// Whether the grammar matches `text` exactly (and, with prefix, whether text can start a match).
bool matches(const std::shared_ptr<const Grammar>& g, std::string_view text, bool prefix = false) {
  Matcher m(g);
  State s = m.initial(), next;
  for (unsigned char c : text) {
    m.advance(s, c, next);
    if (next.empty()) return false;
    s.swap(next);
  }
  return prefix || Matcher::complete(s);
}

std::string error_of(const std::string& g) {
  try {
    Grammar::parse(g, "test.gbnf");
  } catch (const InputError& e) {
    return e.what();
  }
  return "";
}

TEST(Grammar, LiteralsClassesAndRepetitions) {
  auto g = parse(R"(
    root ::= "ab" [0-9]+ x? ("-" | "+"){2,3} tail
    x    ::= [xyz]
    tail ::= "." [a-c]{0,2}   # a comment
  )");
  EXPECT_TRUE(matches(g, "ab1--."));
  EXPECT_TRUE(matches(g, "ab123x+-+.ab"));
  EXPECT_FALSE(matches(g, "ab--."));       // one digit at least
  EXPECT_FALSE(matches(g, "ab1-."));       // two signs at least
  EXPECT_FALSE(matches(g, "ab1----."));    // three at most
  EXPECT_FALSE(matches(g, "ab1--.abc"));   // two letters at most
  EXPECT_TRUE(matches(g, "ab1--", true));  // a prefix of a sentence
  // A nullable item under a star loops only in tail position: a fine grammar.
  auto star = parse("root ::= (\"a\"?)* \"b\"");
  EXPECT_TRUE(matches(star, "b"));
  EXPECT_TRUE(matches(star, "aaab"));
  EXPECT_FALSE(matches(star, "aba"));
  // Alternatives may continue on the next line.
  auto h = parse("root ::= \"a\"\n  | \"b\"\n");
  EXPECT_TRUE(matches(h, "a"));
  EXPECT_TRUE(matches(h, "b"));
}

TEST(Grammar, UnicodeClassesAreUtf8) {
  auto g = parse(R"(root ::= [^"\\a]* "!" [α-ω] [\U0001F600-\U0001F64F] .)");
  EXPECT_TRUE(matches(g, "xé中!λ😀z"));
  EXPECT_TRUE(matches(g, "!ω🙏\xf0\x9f\x8e\x89"));
  EXPECT_FALSE(matches(g, "a!λ😀z"));             // a is excluded
  EXPECT_FALSE(matches(g, "!A😀z"));              // not Greek
  EXPECT_FALSE(matches(g, "!λ🚀z"));              // outside the emoji range
  EXPECT_FALSE(matches(g, "\xc3!λ😀z"));          // a broken UTF-8 sequence is no character
  EXPECT_FALSE(matches(g, "\xed\xa0\x80!λ😀z"));  // a surrogate is no character
}

TEST(Grammar, ErrorsNameTheRuleAndPlace) {
  EXPECT_NE(error_of("root ::= item\n").find("rule 'item' is not defined"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\" |\nroot ::= \"b\"").find("defined twice"), std::string::npos);
  EXPECT_NE(error_of("root ::= expr\nexpr ::= expr \"+\" \"1\" | \"1\"").find("left-recursive"),
            std::string::npos);
  EXPECT_NE(error_of("root ::= x\nx ::= y \"b\"\ny ::= \"\" | x").find("left-recursive"),
            std::string::npos);
  EXPECT_NE(error_of("root ::= loop\nloop ::= \"a\" loop").find("can never finish"),
            std::string::npos);
  EXPECT_NE(error_of("x ::= \"a\"").find("no 'root' rule"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"a\"\n  [b-a]").find("test.gbnf:2:3"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"abc").find("unterminated"), std::string::npos);
  EXPECT_NE(error_of("root ::= [a]{5,2}").find("below its minimum"), std::string::npos);
  EXPECT_NE(error_of("root ::= [a]{99999}").find("limited"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"\\q\"").find("unknown escape"), std::string::npos);
  EXPECT_NE(error_of("root ::= \"\\uD800\"").find("not a Unicode scalar"), std::string::npos);
}

TEST(Grammar, DistanceIsTheShortestCompletion) {
  auto g = parse(R"(root ::= "{" item ("," item)* "}"
                    item ::= "ab" | [0-9]{3,5})");
  Matcher m(g);
  State s = m.initial(), next;
  EXPECT_EQ(m.distance(s), 4);  // {ab}
  for (unsigned char c : std::string("{12")) {
    m.advance(s, c, next);
    s.swap(next);
  }
  EXPECT_EQ(m.distance(s), 2);  // 3}
  m.advance(s, '3', next);
  s.swap(next);
  EXPECT_EQ(m.distance(s), 1);
  m.advance(s, '}', next);
  EXPECT_TRUE(Matcher::complete(next));
  EXPECT_FALSE(m.can_continue(next));
  EXPECT_EQ(m.distance(next), 0);
}

// A vocabulary of single bytes, common pieces and random strings.
std::vector<std::string> test_vocab(std::mt19937& rng) {
  std::vector<std::string> v;
  for (int b = 0; b < 256; ++b) v.push_back(std::string(1, char(b)));
  for (const char* p :
       {"{", "{\"", "\":", "\": ", "\",", "true", "false", "null", "12",  "345", "\"}",
        "}", "ab",  "abc", " ",    "  ",  "\n",   "é",     "中文", "\\n", "\\\""})
    v.push_back(p);
  const std::string alphabet = "ab{}[]\":, 0123456789-.etrufl\\n\xc3\xa9";
  for (int i = 0; i < 2000; ++i) {
    std::string s;
    const int len = 1 + int(rng() % 6);
    for (int k = 0; k < len; ++k) s += alphabet[rng() % alphabet.size()];
    v.push_back(s);
  }
  v.push_back("");  // an id no text spells (left out)
  return v;
}

TEST(Constraint, MasksEqualABruteForceCheckOfEveryToken) {
  std::mt19937 rng(7);
  const auto vocab = test_vocab(rng);
  auto trie = std::make_shared<const TokenTrie>(vocab);
  auto g = parse(json_schema_to_gbnf(json::parse(R"({"type": "object", "properties": {
      "ab": {"type": "array", "items": {"type": "integer"}, "maxItems": 3},
      "c": {"type": "string", "maxLength": 6}, "d": {"enum": [true, null, "x"]}},
      "required": ["ab"]})")));
  Constraint c(g, trie);
  const int32_t eos = int32_t(vocab.size());  // past the trie's ids
  for (int step = 0; step < 60; ++step) {
    std::vector<float> logits(vocab.size() + 1, 0.0f);
    const int64_t allowed = c.mask(logits, std::array<int32_t, 1>{eos}, 0);
    // Brute force: a token is allowed when the grammar accepts each of its bytes from here.
    std::vector<int32_t> ok;
    for (size_t id = 0; id < vocab.size(); ++id) {
      if (vocab[id].empty()) continue;
      Constraint probe = c;
      try {
        probe.accept(int32_t(id));
        ok.push_back(int32_t(id));
      } catch (const InternalError&) {
      }
    }
    std::vector<int32_t> masked;
    for (size_t id = 0; id < vocab.size(); ++id)
      if (logits[id] == 0.0f) masked.push_back(int32_t(id));
    ASSERT_EQ(masked, ok) << "step " << step;
    EXPECT_EQ(logits[size_t(eos)] == 0.0f, c.complete());
    EXPECT_EQ(allowed, int64_t(ok.size()) + (c.complete() ? 1 : 0));
    if (c.finished() || ok.empty()) break;
    c.accept(ok[rng() % ok.size()]);
  }
}

TEST(Constraint, ClosesWithinTheTokenBudget) {
  std::mt19937 rng(11);
  const auto vocab = test_vocab(rng);
  auto trie = std::make_shared<const TokenTrie>(vocab);
  // Unbounded strings and arrays: random choices would rarely close them.
  auto g = parse(json_schema_to_gbnf(json::parse(R"({"type": "object",
      "properties": {"s": {"type": "string"}, "list": {"type": "array", "items": {"type": "string"}}},
      "required": ["s", "list"]})")));
  for (int budget : {18, 24, 40}) {
    for (int trial = 0; trial < 10; ++trial) {
      Constraint c(g, trie);
      std::string text;
      int used = 0;
      for (; used < budget && !c.finished(); ++used) {
        std::vector<float> logits(vocab.size(), 0.0f);
        c.mask(logits, {}, budget - used);
        std::vector<int32_t> ok;
        for (size_t id = 0; id < vocab.size(); ++id)
          if (logits[id] == 0.0f) ok.push_back(int32_t(id));
        if (ok.empty()) break;  // complete; only the end of sequence is left
        const int32_t id = ok[rng() % ok.size()];
        c.accept(id);
        text += vocab[size_t(id)];
      }
      EXPECT_TRUE(c.complete()) << "budget " << budget << ": " << text;
      EXPECT_TRUE(json::accept(text)) << text;
    }
  }
}

TEST(Constraint, NoTokenSpellsTheNextCharacter) {
  auto trie = std::make_shared<const TokenTrie>(std::vector<std::string>{"a", "b"});
  Constraint c(parse("root ::= \"a\" \"c\""), trie);
  std::vector<float> logits(2, 0.0f);
  c.mask(logits, {}, 0);
  c.accept(0);
  try {
    c.mask(logits, {}, 0);
    FAIL() << "expected an error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("cannot spell"), std::string::npos);
  }
}

// Schema -> grammar: texts that must and must not match.
struct SchemaCase {
  const char* schema;
  std::vector<const char*> good, bad;
};

TEST(JsonSchema, AcceptsWhatTheSchemaAcceptsAndNothingElse) {
  const std::vector<SchemaCase> cases = {
      {R"({"type": "integer", "minimum": -15, "maximum": 120})",
       {"-15", "-9", "0", "7", "99", "100", "120"},
       {"-16", "121", "007", "-0", "1000", "1.5"}},
      {R"({"type": "integer", "exclusiveMinimum": 9})", {"10", "999", "123456"}, {"9", "0", "-1"}},
      {R"({"type": "integer", "maximum": -3})", {"-3", "-40", "-1000"}, {"-2", "0", "5"}},
      {R"({"type": "string", "pattern": "^[A-Z]{2}-\\d{3}$"})",
       {R"("AB-123")"},
       {R"("AB-12")", R"("ab-123")"}},
      {R"({"type": "string", "pattern": "^(cat|dog)s?$"})",
       {R"("cat")", R"("dogs")"},
       {R"("cow")", R"("cats!")"}},
      {R"({"type": "string", "pattern": "a\"b"})", {R"("xxa\"byy")"}, {R"("ab")"}},
      {R"({"type": "string", "pattern": "^(ab|)*$"})", {R"("")", R"("abab")"}, {R"("aba")"}},
      {R"({"type": "string", "format": "date"})",
       {R"("2024-02-28")", R"("1999-12-31")"},
       {R"("2024-02-30")", R"("2024-13-01")", R"("2024-04-31")"}},
      {R"({"type": "string", "format": "uuid"})",
       {R"("123e4567-e89b-12d3-a456-426614174000")"},
       {R"("123")"}},
      {R"({"type": "string", "minLength": 2, "maxLength": 3})",
       {R"("ab")", R"("a\nc")", R"("中文字")"},
       {R"("a")", R"("abcd")"}},
      {R"({"enum": ["red", 3, null, {"a": [1]}]})",
       {R"("red")", "3", "null", R"({"a":[1]})"},
       {R"("blue")", "4"}},
      {R"({"const": "x"})", {R"("x")"}, {R"("y")"}},
      {R"({"type": "array", "items": {"type": "boolean"}, "minItems": 1, "maxItems": 2})",
       {"[true]", "[true, false]", "[\n  false\n]"},
       {"[]", "[true,true,true]"}},
      {R"({"type": "array", "prefixItems": [{"type": "integer"}, {"type": "string"}], "items": false})",
       {"[]", "[1]", R"([1, "a"])"},
       {R"([1, "a", 2])", R"(["a"])"}},
      {R"({"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}},
           "required": ["b"], "additionalProperties": false})",
       {R"({"b": "x"})", R"({"a": 1, "b": "x"})"},
       {R"({"a": 1})", R"({"b": "x", "c": 1})", R"({"b": "x", "a": 1})"}},
      {R"({"type": "object", "properties": {"a": {"type": "integer"}}, "additionalProperties": {"type": "boolean"}})",
       {R"({})", R"({"a": 1, "z": true})", R"({"ab": false})"},
       {R"({"a": 1, "a": true})", R"({"z": 1})"}},
      {R"({"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 1}]})",
       {"1", R"("a")"},
       {R"("ab")", "true"}},
      {R"({"type": ["number", "null"]})", {"1.5e3", "-0.25", "null"}, {"01", "1.", "\"1\""}},
      {R"({"$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer"},
           "next": {"anyOf": [{"$ref": "#/$defs/node"}, {"type": "null"}]}}, "required": ["v", "next"]}},
           "$ref": "#/$defs/node"})",
       {R"({"v": 1, "next": {"v": 2, "next": null}})"},
       {R"({"v": 1, "next": {"v": 2}})"}},
      {R"({"allOf": [{"properties": {"a": {"type": "integer"}}, "required": ["a"]},
                     {"properties": {"b": {"type": "integer"}}, "required": ["b"]}]})",
       {R"({"a": 1, "b": 2})"},
       {R"({"a": 1})"}},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.schema);
    auto g = parse(json_schema_to_gbnf(json::parse(c.schema)));
    for (const char* t : c.good) EXPECT_TRUE(matches(g, t)) << t;
    for (const char* t : c.bad) EXPECT_FALSE(matches(g, t)) << t;
  }
}

TEST(JsonSchema, RefusesWhatItCannotEnforce) {
  auto error = [](const char* schema) {
    try {
      json_schema_to_gbnf(json::parse(schema));
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_NE(error(R"({"properties": {"n": {"type": "integer", "multipleOf": 3}}})")
                .find("/properties/n/multipleOf: the keyword 'multipleOf' is not supported"),
            std::string::npos);
  EXPECT_NE(error(R"({"type": "string", "format": "hostname"})").find("format \"hostname\""),
            std::string::npos);
  EXPECT_NE(error(R"({"$ref": "#/$defs/missing"})").find("points to nothing"), std::string::npos);
  EXPECT_NE(error(R"({"$ref": "https://example.com/s.json"})").find("only references within"),
            std::string::npos);
  EXPECT_NE(error(R"j({"type": "string", "pattern": "(?=a)"})j").find("lookarounds"),
            std::string::npos);
  EXPECT_NE(error(R"({"type": "strin"})").find("unknown type \"strin\""), std::string::npos);
  EXPECT_NE(error(R"({"type": "string", "pattern": "^[A-Z]{38,4}$"})").find("below its minimum"),
            std::string::npos);
  EXPECT_NE(error(R"({"type": "string", "pattern": "^[\\uwww]$"})").find("four hexadecimal"),
            std::string::npos);
  EXPECT_NE(error(R"({"type": "number", "maximum": 3})").find("/maximum"), std::string::npos);
  EXPECT_NE(error("false").find("allows no value"), std::string::npos);
}

TEST(JsonSchema, AnyObjectAcceptsNestedJson) {
  auto g = parse(json_object_gbnf());
  EXPECT_TRUE(matches(g, R"({"a": [1, {"b": null}], "c": "\u00e9", "d": -1.5E+3})"));
  EXPECT_TRUE(matches(g, "{}"));
  EXPECT_FALSE(matches(g, "[1]"));
  EXPECT_FALSE(matches(g, R"({"a": 1,})"));
  EXPECT_FALSE(matches(g, R"({"a": tru})"));
}

}  // namespace
}  // namespace vkllm::core::grammar
