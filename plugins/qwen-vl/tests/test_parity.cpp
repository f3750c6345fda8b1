// Qwen2-VL and Qwen2.5-VL end to end against transformers: the host decodes and preprocesses
// the images, the tower encodes them, their features fill the expanded <|image_pad|> runs of
// the reference's input_ids, M-RoPE positions drive the text model. Logits of every prompt
// position within tolerance; the greedy continuation (decode steps continue the M-RoPE
// positions past the images) identical.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "reference.h"
#include "vkllm/engine.h"

namespace vkllm::test {
namespace {

// The KV cache holds f16 keys and values (transformers keeps f32); with these checkpoints'
// logits (|logit| < 3) that moves them by up to ~2e-3. Preprocessing differs from PIL's by
// at most 1e-5 per pixel value.
constexpr double kLogitTolerance = 5e-3;

class Parity : public ::testing::TestWithParam<std::tuple<const char*, const char*>> {};

TEST_P(Parity, LogitsAndGreedyMatchTransformers) {
  auto [variant, which] = GetParam();
  std::string dir = qwen_vl_dir(variant);
  core::SafetensorsFile ref(dir + "/reference_" + std::string(which) + ".safetensors");
  auto ids = ref.values<int32_t>("input_ids");
  auto want = ref.values<float>("logits");
  auto greedy = ref.values<int32_t>("greedy");
  auto engine = Engine::load(dir);
  Request r;
  r.prompt_ids = ids;
  for (const auto& f : case_images(which)) r.images.push_back({f, {}});
  r.prompt_logits = true;
  r.sampling.temperature = 0;
  r.max_tokens = int(greedy.size());
  r.ignore_eos = true;
  auto res = engine->generate(r);
  ASSERT_EQ(res.prompt_logits.size(), want.size());
  double worst = max_abs_diff(res.prompt_logits, want.data(), want.size());
  EXPECT_LT(worst, kLogitTolerance) << variant << " " << which;
  std::printf("%s %s: max |logit - transformers| = %.2e\n", variant, which, worst);
  EXPECT_EQ(res.ids, greedy) << variant << " " << which;
  EXPECT_EQ(res.images_encoded, int64_t(case_images(which).size()));
}

// Prefill in chunks of 5 tokens cuts through the images' runs: every chunk gets its rows of the
// features and its M-RoPE positions; the logits stay those of transformers.
TEST_P(Parity, ChunksCuttingThroughImages) {
  auto [variant, which] = GetParam();
  std::string dir = qwen_vl_dir(variant);
  core::SafetensorsFile ref(dir + "/reference_" + std::string(which) + ".safetensors");
  auto want = ref.values<float>("logits");
  EngineOptions o;
  o.prefill_chunk = 5;
  auto engine = Engine::load(dir, o);
  Request r;
  r.prompt_ids = ref.values<int32_t>("input_ids");
  for (const auto& f : case_images(which)) r.images.push_back({f, {}});
  r.prompt_logits = true;
  r.max_tokens = 1;
  auto res = engine->generate(r);
  ASSERT_EQ(res.prompt_logits.size(), want.size());
  EXPECT_LT(max_abs_diff(res.prompt_logits, want.data(), want.size()), kLogitTolerance);
}

// The same prompt with one placeholder per image (expanded by the host) gives the same result.
TEST_P(Parity, CollapsedPlaceholdersAreExpanded) {
  auto [variant, which] = GetParam();
  std::string dir = qwen_vl_dir(variant);
  core::SafetensorsFile ref(dir + "/reference_" + std::string(which) + ".safetensors");
  auto ids = ref.values<int32_t>("input_ids");
  auto greedy = ref.values<int32_t>("greedy");
  std::vector<int32_t> collapsed;
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] != 297 || i == 0 || ids[i - 1] != 297) collapsed.push_back(ids[i]);
  ASSERT_LT(collapsed.size(), ids.size());
  auto engine = Engine::load(dir);
  Request r;
  r.prompt_ids = collapsed;
  for (const auto& f : case_images(which)) r.images.push_back({f, {}});
  r.sampling.temperature = 0;
  r.max_tokens = int(greedy.size());
  r.ignore_eos = true;
  auto res = engine->generate(r);
  EXPECT_EQ(res.prompt_tokens, int64_t(ids.size()));
  EXPECT_EQ(res.ids, greedy);
}

INSTANTIATE_TEST_SUITE_P(Cases, Parity,
                         ::testing::Combine(::testing::ValuesIn(kVariants),
                                            ::testing::ValuesIn(kCases)),
                         case_name<::testing::TestParamInfo<Parity::ParamType>>);

}  // namespace
}  // namespace vkllm::test
