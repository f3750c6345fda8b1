// The cross-request prefix cache and chunked prefill on the bundled model: a later request
// prefills only what no earlier one computed and gets what a cold engine gets; cancellation
// between chunks leaves the computed chunks reusable.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdio>

#include "vkllm/engine.h"

namespace vkllm::test {
namespace {

const std::string kModel = std::string(VKLLM_SOURCE_DIR) + "/models/tiny-kjv";

std::vector<int32_t> concat(std::vector<int32_t> a, const std::vector<int32_t>& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

Result greedy(Engine& e, const std::vector<int32_t>& ids, int n = 12) {
  Request r;
  r.prompt_ids = ids;
  r.sampling.temperature = 0.0f;
  r.max_tokens = n;
  r.ignore_eos = true;
  r.logprobs = 3;
  return e.generate(r);
}

// Same tokens and the same log-probabilities (to rounding: chunking changes the order of
// floating-point sums).
void expect_same(const Result& got, const Result& cold) {
  EXPECT_EQ(got.ids, cold.ids);
  ASSERT_EQ(got.logprobs.size(), cold.logprobs.size());
  for (size_t i = 0; i < got.logprobs.size(); ++i) {
    EXPECT_NEAR(got.logprobs[i].logprob, cold.logprobs[i].logprob, 2e-3) << "token " << i;
    ASSERT_EQ(got.logprobs[i].top.size(), cold.logprobs[i].top.size());
    for (size_t k = 0; k < got.logprobs[i].top.size(); ++k)
      EXPECT_NEAR(got.logprobs[i].top[k].second, cold.logprobs[i].top[k].second, 2e-3);
  }
}

class PrefixCache : public ::testing::Test {
 protected:
  void SetUp() override {
    engine = Engine::load(kModel, {.prefill_chunk = 16});
    cold = Engine::load(kModel, {.prefill_chunk = 16, .prefix_cache = false});
    book = engine->tokenize(
        "In the beginning God created the heaven and the earth. And the earth was without form, "
        "and void; and darkness was upon the face of the deep.",
        true);
    other = engine->tokenize("Blessed are the meek: for they shall inherit the earth.", true);
    more = engine->tokenize(" And the Spirit of God moved upon the face of the waters.");
    ASSERT_GT(book.size(), 32u);
  }
  std::unique_ptr<Engine> engine, cold;
  std::vector<int32_t> book, other, more;
};

TEST_F(PrefixCache, SecondTurnPrefillsOnlyNewTokens) {
  Result first = greedy(*engine, book);
  EXPECT_EQ(first.cached_tokens, 0);
  // The next turn: the first prompt, the reply, new text.
  auto turn2 = concat(concat(book, first.ids), more);
  Result second = greedy(*engine, turn2);
  std::printf("turn 2: %lld of %lld prompt tokens reused\n", (long long)second.cached_tokens,
              (long long)second.prompt_tokens);
  int64_t held = int64_t(book.size() + first.ids.size()) - 1;  // the last reply token is not
  EXPECT_GE(second.cached_tokens, held);                       // in the cache yet
  EXPECT_EQ(second.prompt_tokens, int64_t(turn2.size()));
  expect_same(second, greedy(*cold, turn2));
}

TEST_F(PrefixCache, IndependentRequestsShareBlocks) {
  greedy(*engine, book);
  greedy(*engine, other);  // the session now holds an unrelated prompt
  auto again = concat(book, more);
  Result r = greedy(*engine, again);
  std::printf("independent: %lld of %lld prompt tokens reused\n", (long long)r.cached_tokens,
              (long long)r.prompt_tokens);
  // Whole 16-token blocks of `book` come from the index.
  EXPECT_EQ(r.cached_tokens, int64_t(book.size()) / 16 * 16);
  expect_same(r, greedy(*cold, again));
  // The same prompt once more: everything but the last token is reused.
  Result same = greedy(*engine, again);
  EXPECT_EQ(same.cached_tokens, int64_t(again.size()) - 1);
  expect_same(same, greedy(*cold, again));
}

TEST_F(PrefixCache, CancelledPrefillLeavesReusableChunks) {
  auto long_prompt = concat(concat(book, more), book);
  Request r;
  r.prompt_ids = long_prompt;
  r.max_tokens = 4;
  int64_t seen = 0;
  r.on_prefill = [&](int64_t done, int64_t total) {
    EXPECT_LE(done, total);
    EXPECT_GT(done, seen);
    seen = done;
    if (done >= 32) engine->cancel();
  };
  Result c = engine->generate(r);
  EXPECT_EQ(c.finish_reason, "cancelled");
  EXPECT_TRUE(c.ids.empty());
  EXPECT_EQ(seen, 32) << "cancellation takes effect at the next chunk boundary";
  Result after = greedy(*engine, long_prompt);
  std::printf("after cancel: %lld of %lld prompt tokens reused\n", (long long)after.cached_tokens,
              (long long)after.prompt_tokens);
  EXPECT_GE(after.cached_tokens, 32);
  expect_same(after, greedy(*cold, long_prompt));
}

TEST_F(PrefixCache, EvictsLeastRecentlyUsedWithinItsBudget) {
  // A cache of 64 tokens: four 16-token blocks. Filling it with other prompts evicts `book`.
  auto small = Engine::load(kModel, {.context = 48, .prefill_chunk = 16, .cache_tokens = 64});
  greedy(*small, book, 4);
  for (int i = 0; i < 3; ++i) {
    std::vector<int32_t> filler = other;
    for (int k = 0; k < 3; ++k) filler = concat(filler, more);
    filler[1] = filler[1] + i + 1;  // distinct from the first block on
    greedy(*small, std::vector<int32_t>(filler.begin(), filler.begin() + 40), 4);
  }
  Result r = greedy(*small, book, 4);
  std::printf("after eviction: %lld of %lld prompt tokens reused\n", (long long)r.cached_tokens,
              (long long)r.prompt_tokens);
  EXPECT_LT(r.cached_tokens, int64_t(book.size()) / 16 * 16);
  expect_same(r, greedy(*cold, book, 4));
}

}  // namespace
}  // namespace vkllm::test
