// Parity of the Gemma 3 text model with transformers on a tiny random checkpoint
// (tests/data/gemma3/gemma3_text, tools/fixtures/make_gemma3.py): head_dim != hidden / heads,
// query_pre_attn_scalar != head_dim, GQA, a sliding window of 8 on two of every three layers
// (local rotary base) and linear rope scaling on the global ones, soft-capped logits; its
// attn_logit_softcapping is set and, as in transformers' Gemma 3, not applied.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>

#include "core/gguf_export.h"
#include "core/plugin_host.h"
#include "core/weights/safetensors.h"
#include "sdk/nn/decoder_config.h"
#include "vkllm/engine.h"

namespace vkllm::test {
namespace {

std::string text_dir() { return std::string(VKLLM_TEST_DATA) + "/gemma3/gemma3_text"; }

double max_abs_diff(const std::vector<float>& a, const std::vector<float>& b) {
  double m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    m = std::max(m, std::fabs(double(a[i]) - double(b[i])));
  return m;
}

// The KV cache holds f16 keys and values (transformers keeps f32).
constexpr double kLogitTolerance = 5e-3;

struct Outcome {
  std::vector<float> logits;
  std::vector<int32_t> greedy;
  int64_t cached = 0, accepted = 0;
};

Outcome run(Engine& e, const std::vector<int32_t>& ids, int n, bool logits = true) {
  Request r;
  r.prompt_ids = ids;
  r.prompt_logits = logits;
  r.sampling.temperature = 0.0f;
  r.max_tokens = n;
  r.ignore_eos = true;
  auto res = e.generate(r);
  return {res.prompt_logits, res.ids, res.cached_tokens, res.draft_accepted};
}

TEST(Gemma3Text, LogitsAndGreedyMatchTransformers) {
  core::SafetensorsFile ref(text_dir() + "/reference.safetensors");
  auto ids = ref.values<int32_t>("input_ids");
  auto want = ref.values<float>("logits");
  auto greedy = ref.values<int32_t>("greedy");
  auto engine = Engine::load(text_dir());
  Outcome got = run(*engine, ids, int(greedy.size()));
  ASSERT_EQ(got.logits.size(), want.size());
  EXPECT_LE(max_abs_diff(got.logits, want), kLogitTolerance) << "max |logit difference|";
  EXPECT_EQ(got.greedy, greedy);
}

// The llama.cpp-shaped checkpoint (every 6th layer global, local base 10000) exported as an F32
// GGUF file and loaded from it (norms stored as 1 + w and read back, the window, linear rope
// scaling from the metadata) matches transformers as its folder does; Q8_0 equals the folder
// quantized at load.
TEST(Gemma3Text, GgufFileMatchesTransformers) {
  const std::string dir = std::string(VKLLM_TEST_DATA) + "/gemma3/gemma3_text_llamacpp";
  core::SafetensorsFile ref(dir + "/reference.safetensors");
  auto ids = ref.values<int32_t>("input_ids");
  auto want = ref.values<float>("logits");
  auto greedy = ref.values<int32_t>("greedy");
  core::PluginHost host;
  for (Dtype type : {Dtype::f32, Dtype::q8_0}) {
    SCOPED_TRACE(dtype_name(type));
    const auto gguf = std::filesystem::temp_directory_path() /
                      fmt::format("vkllm-gemma3-import-{}-{}.gguf", dtype_name(type), ::getpid());
    core::export_gguf(dir, gguf.string(), type, host);
    Outcome got = run(*Engine::load(gguf.string()), ids, int(greedy.size()));
    if (type == Dtype::f32) {
      ASSERT_EQ(got.logits.size(), want.size());
      EXPECT_LE(max_abs_diff(got.logits, want), kLogitTolerance) << "max |logit difference|";
      EXPECT_EQ(got.greedy, greedy);
    } else {
      Outcome folder = run(*Engine::load(dir, {.quantize = "q8_0"}), ids, int(greedy.size()));
      EXPECT_EQ(got.logits, folder.logits);
      EXPECT_EQ(got.greedy, folder.greedy);
    }
    std::filesystem::remove(gguf);
  }
}

TEST(Gemma3Text, ChunkedPrefillAndKvBitsOverTheMixedCache) {
  // Prefill chunks of 5 across the 8-token windows give the same logits; 8-bit KV stays close.
  core::SafetensorsFile ref(text_dir() + "/reference.safetensors");
  auto ids = ref.values<int32_t>("input_ids");
  auto want = ref.values<float>("logits");
  auto greedy = ref.values<int32_t>("greedy");
  auto chunked = Engine::load(text_dir(), {.prefill_chunk = 5});
  Outcome got = run(*chunked, ids, int(greedy.size()));
  EXPECT_LE(max_abs_diff(got.logits, want), kLogitTolerance);
  EXPECT_EQ(got.greedy, greedy);
  auto q8 = Engine::load(text_dir(), {.kv_bits = 8});
  got = run(*q8, ids, 0);
  EXPECT_LE(max_abs_diff(got.logits, want), 0.1);
}

TEST(Gemma3Text, PrefixCacheAndSpeculativeKeepGreedy) {
  core::SafetensorsFile ref(text_dir() + "/reference.safetensors");
  auto ids = ref.values<int32_t>("input_ids");
  auto greedy = ref.values<int32_t>("greedy");
  // The same prompt twice: the second reuses the cached prefix (windows included).
  auto engine = Engine::load(text_dir());
  run(*engine, ids, int(greedy.size()), false);
  Outcome second = run(*engine, ids, int(greedy.size()), false);
  EXPECT_EQ(second.greedy, greedy);
  EXPECT_EQ(second.cached, int64_t(ids.size()) - 1);
  // The model as its own draft: every proposal is accepted, output unchanged.
  auto spec = Engine::load(text_dir(), {.draft_model = text_dir(), .draft_tokens = 3});
  Outcome s = run(*spec, ids, int(greedy.size()), false);
  EXPECT_EQ(s.greedy, greedy);
  EXPECT_GT(s.accepted, 0);
}

TEST(Gemma3Text, EmbeddingScaleRoundsToTheCheckpointDtype) {
  // sqrt(2560) = 50.596 is 50.5 in bfloat16 (the reference multiplies in the weight's dtype).
  nlohmann::json j = {{"model_type", "gemma3_text"},
                      {"vocab_size", 8},
                      {"hidden_size", 2560},
                      {"intermediate_size", 8},
                      {"num_hidden_layers", 1},
                      {"num_attention_heads", 1},
                      {"decoder", {{"scale_embeddings", true}}}};
  for (auto [dtype, want] : {std::pair{"bfloat16", 50.5f}, std::pair{"float16", 50.59375f},
                             std::pair{"float32", float(std::sqrt(2560.0))}}) {
    j["torch_dtype"] = dtype;
    EXPECT_EQ(nn::DecoderConfig::parse(j).embedding_scale(), want) << dtype;
  }
}

TEST(Gemma3Text, LayerTypesFromPatternOrList) {
  nlohmann::json j = {{"model_type", "gemma3_text"},
                      {"vocab_size", 8},
                      {"hidden_size", 8},
                      {"intermediate_size", 8},
                      {"num_hidden_layers", 6},
                      {"num_attention_heads", 1},
                      {"sliding_window", 4},
                      {"sliding_window_pattern", 3}};
  EXPECT_EQ(nn::DecoderConfig::parse(j).sliding_window, (std::vector<int>{4, 4, 0, 4, 4, 0}));
  j["layer_types"] = {"full_attention", "sliding_attention", "sliding_attention",
                      "full_attention", "sliding_attention", "full_attention"};
  EXPECT_EQ(nn::DecoderConfig::parse(j).sliding_window, (std::vector<int>{0, 4, 4, 0, 4, 0}));
  j["layer_types"] = {"full_attention"};
  EXPECT_THROW(nn::DecoderConfig::parse(j), ModelError);
  j["layer_types"] = {"full_attention", "chunked_attention", "sliding_attention",
                      "full_attention", "sliding_attention", "full_attention"};
  EXPECT_THROW(nn::DecoderConfig::parse(j), ModelError);
}

}  // namespace
}  // namespace vkllm::test
