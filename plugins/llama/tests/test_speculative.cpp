// Speculative decoding on the bundled model with its own q4_0 quantization as the draft (same
// tokenizer, different weights, so some proposals are rejected and the caches roll back):
// greedy output equals decoding without a draft, token for token.
#include <gtest/gtest.h>

#include "vkllm/engine.h"

namespace vkllm::test {
namespace {

const std::string kModel = std::string(VKLLM_SOURCE_DIR) + "/models/tiny-kjv";

Result greedy(Engine& e, const std::string& prompt, int n) {
  Request r;
  r.prompt = prompt;
  r.sampling.temperature = 0.0f;
  r.max_tokens = n;
  r.ignore_eos = true;
  r.logprobs = 2;
  return e.generate(r);
}

TEST(Speculative, GreedyOutputIsIdenticalWithoutADraft) {
  auto plain = Engine::load(kModel);
  const char* prompts[] = {"And God said unto Moses", "Blessed are the poor in spirit",
                           "The LORD is my shepherd"};
  int64_t proposed = 0, accepted = 0;
  for (int k : {1, 4}) {
    auto spec =
        Engine::load(kModel, {.draft_model = kModel, .draft_quantize = "q4_0", .draft_tokens = k});
    for (const char* p : prompts) {
      Result want = greedy(*plain, p, 32);
      Result got = greedy(*spec, p, 32);
      EXPECT_EQ(got.ids, want.ids) << "k=" << k << " prompt: " << p;
      EXPECT_EQ(got.text, want.text);
      ASSERT_EQ(got.logprobs.size(), want.logprobs.size());
      for (size_t i = 0; i < want.logprobs.size(); ++i)  // batched verify vs one-token steps
        EXPECT_NEAR(got.logprobs[i].logprob, want.logprobs[i].logprob, 2e-3);
      EXPECT_GT(got.draft_proposed, 0);
      proposed += got.draft_proposed;
      accepted += got.draft_accepted;
    }
  }
  std::printf("draft acceptance: %lld of %lld\n", (long long)accepted, (long long)proposed);
  EXPECT_LT(accepted, proposed) << "no proposal was rejected: the rollback path went untested";
  EXPECT_GT(accepted, proposed / 2);
}

TEST(Speculative, SampledGenerationRuns) {
  auto spec = Engine::load(kModel, {.draft_model = kModel, .draft_quantize = "q8_0"});
  Request r;
  r.prompt = "In the beginning";
  r.sampling.temperature = 0.8f;
  r.sampling.top_p = 0.95f;
  r.sampling.seed = 3;
  r.max_tokens = 48;
  r.ignore_eos = true;
  Result a = spec->generate(r);
  EXPECT_EQ(a.generated_tokens, 48);
  EXPECT_GT(a.draft_accepted, 0);
  Result b = spec->generate(r);  // same seed, same output
  EXPECT_EQ(a.ids, b.ids);
}

TEST(Speculative, MismatchedVocabularyIsAClearError) {
  std::string other = std::string(VKLLM_TEST_DATA) + "/llama/llama3";
  try {
    Engine::load(kModel, {.draft_model = other});
    FAIL() << "a draft with another vocabulary was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("vocabulary"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vkllm::test
