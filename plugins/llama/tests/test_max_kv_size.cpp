// max_kv_size on the bundled model (context 512): full-attention layers keep 4 sink tokens and
// the most recent ones. Until the sequence outgrows the limit the output equals an unbounded
// cache's; past it generation continues without error, also past the model's context.
#include <gtest/gtest.h>

#include "vkllm/engine.h"

namespace vkllm::test {
namespace {

const std::string kModel = std::string(VKLLM_SOURCE_DIR) + "/models/tiny-kjv";

Result run(Engine& e, const std::vector<int32_t>& ids, int n) {
  Request r;
  r.prompt_ids = ids;
  r.sampling.temperature = 0.0f;
  r.max_tokens = n;
  r.ignore_eos = true;
  r.logprobs = 0;
  return e.generate(r);
}

TEST(MaxKvSize, MatchesUnboundedCacheWithinTheLimitAndRunsPastTheContext) {
  auto full = Engine::load(kModel, {.context = 512});
  auto bounded = Engine::load(kModel, {.context = 512, .max_kv_size = 64});
  auto ids = full->tokenize("In the beginning God created the heaven and the earth.", true);
  int within = 64 - int(ids.size());
  Result a = run(*full, ids, within);
  Result b = run(*bounded, ids, within);
  EXPECT_EQ(a.ids, b.ids);
  for (size_t i = 0; i < a.logprobs.size() && i < b.logprobs.size(); ++i)
    EXPECT_NEAR(a.logprobs[i].logprob, b.logprobs[i].logprob, 1e-3) << "token " << i;
  // 520 tokens with a 64-token cache: past the model's 512 positions, no error.
  Result c = run(*bounded, ids, 520);
  EXPECT_EQ(c.generated_tokens, 520);
  EXPECT_EQ(c.finish_reason, "length");
  // An unbounded cache stops at its context instead.
  auto small = Engine::load(kModel, {.context = 96});
  Result d = run(*small, ids, 200);
  EXPECT_EQ(d.generated_tokens, 96 - int64_t(ids.size()) + 1);  // the last token needs no slot
}

TEST(MaxKvSize, PromptsLongerThanTheLimitPrefillInChunks) {
  // Each 64-token chunk first drops what the window no longer sees: a 200-token prompt fits a
  // 40-token limit (regression: the pool once had to hold every chunk's predecessors).
  auto e = Engine::load(kModel, {.prefill_chunk = 64, .max_kv_size = 40});
  auto ids = e->tokenize("And the LORD spake unto Moses, saying,", true);
  std::vector<int32_t> longer;
  while (longer.size() < 200) longer.insert(longer.end(), ids.begin(), ids.end());
  Result r = run(*e, longer, 8);
  EXPECT_EQ(r.generated_tokens, 8);
}

TEST(MaxKvSize, TooSmallALimitFailsClearly) {
  EXPECT_THROW(Engine::load(kModel, {.max_kv_size = 8}), InputError);
}

}  // namespace
}  // namespace vkllm::test
