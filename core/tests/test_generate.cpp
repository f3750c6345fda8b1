// Sampling and logit processors on synthetic logits.
#include <gtest/gtest.h>

#include <cmath>
#include <map>

#include "core/generate.h"
#include "sdk/base/error.h"

namespace vkllm::test {
namespace {

using core::Sampler;
using core::SamplingParams;

std::map<int32_t, int> histogram(SamplingParams p, const std::vector<float>& logits, int n = 4000) {
  Sampler s(p);
  std::map<int32_t, int> h;
  for (int i = 0; i < n; ++i) h[s.sample(logits)]++;
  return h;
}

const std::vector<float> kLogits = {2.0f, 1.0f, 0.5f, 0.0f, -1.0f, 3.0f};  // best: 5, then 0

TEST(Sampler, GreedyPicksTheMax) {
  Sampler s({.temperature = 0.0f});
  EXPECT_EQ(s.sample(kLogits), 5);
  Sampler k1({.temperature = 1.0f, .top_k = 1});
  EXPECT_EQ(k1.sample(kLogits), 5);
}

TEST(Sampler, TemperatureOneFollowsSoftmax) {
  auto h = histogram({.temperature = 1.0f, .seed = 1}, kLogits, 20000);
  double z = 0;
  for (float l : kLogits) z += std::exp(l);
  for (int i = 0; i < 6; ++i) {
    double p = std::exp(kLogits[size_t(i)]) / z;
    EXPECT_NEAR(h[i] / 20000.0, p, 4 * std::sqrt(p * (1 - p) / 20000) + 1e-3) << i;
  }
}

TEST(Sampler, TopKTopPMinPTruncate) {
  auto k = histogram({.temperature = 1.0f, .top_k = 2, .seed = 2}, kLogits);
  EXPECT_EQ(k.size(), 2u);
  EXPECT_TRUE(k.count(5) && k.count(0));
  // p(5) = 0.63, p(0) = 0.23: top_p 0.7 keeps exactly those two
  auto p = histogram({.temperature = 1.0f, .top_p = 0.7f, .seed = 3}, kLogits);
  EXPECT_EQ(p.size(), 2u);
  // min_p 0.3: keeps tokens with p >= 0.3 * p_max = 0.19 -> 5 and 0
  auto m = histogram({.temperature = 1.0f, .min_p = 0.3f, .seed = 4}, kLogits);
  EXPECT_EQ(m.size(), 2u);
}

TEST(Sampler, SeedsReproduce) {
  Sampler a({.temperature = 0.8f, .seed = 99}), b({.temperature = 0.8f, .seed = 99});
  for (int i = 0; i < 50; ++i) EXPECT_EQ(a.sample(kLogits), b.sample(kLogits));
}

TEST(Sampler, PenaltiesFollowTheirDefinitions) {
  std::vector<float> l = {2.0f, -2.0f, 1.0f, 0.5f};
  std::vector<int32_t> history = {0, 1, 2, 2, 3};  // prompt: 0, 1; output: 2, 2, 3
  Sampler s({.repetition_penalty = 2.0f, .presence_penalty = 0.5f, .frequency_penalty = 0.25f});
  s.penalize(l, history, 2);
  EXPECT_FLOAT_EQ(l[0], 1.0f);                     // positive: divided
  EXPECT_FLOAT_EQ(l[1], -4.0f);                    // negative: multiplied
  EXPECT_FLOAT_EQ(l[2], 0.5f - 0.5f - 0.25f * 2);  // output twice
  EXPECT_FLOAT_EQ(l[3], 0.25f - 0.5f - 0.25f);
}

TEST(Sampler, LogprobsAreLogSoftmax) {
  auto t = Sampler::logprob_of(kLogits, 0, 3);
  double z = 0;
  for (float x : kLogits) z += std::exp(x);
  EXPECT_NEAR(t.logprob, 2.0 - std::log(z), 1e-6);
  ASSERT_EQ(t.top.size(), 3u);
  EXPECT_EQ(t.top[0].first, 5);
  EXPECT_EQ(t.top[1].first, 0);
  EXPECT_EQ(t.top[2].first, 1);
}

TEST(Sampler, RejectsBadParameters) {
  EXPECT_THROW(Sampler({.temperature = -1.0f}), InputError);
  EXPECT_THROW(Sampler({.top_p = 0.0f}), InputError);
  EXPECT_THROW(Sampler({.min_p = 1.5f}), InputError);
  EXPECT_THROW(Sampler({.repetition_penalty = 0.0f}), InputError);
}

TEST(Sampler, SpeculativeAcceptanceFollowsTheTargetDistribution) {
  // Draft q proposes, accept_or_resample keeps or replaces: the result is distributed as the
  // target p (temperature 1, no truncation), whatever q is.
  const std::vector<float> target = {1.0f, 0.0f, 2.0f, -1.0f, 0.5f};
  const std::vector<float> draft = {0.0f, 2.0f, 0.5f, 0.0f, -3.0f};  // a poor draft
  Sampler s({.temperature = 1.0f, .seed = 11});
  auto p = s.probabilities(target), q = s.probabilities(draft);
  const int n = 40000;
  std::vector<int> count(target.size(), 0);
  int kept = 0;
  for (int i = 0; i < n; ++i) {
    int32_t d = s.draw(q);
    int32_t t = s.accept_or_resample(target, d, q);
    kept += t == d;
    count[size_t(t)]++;
  }
  for (size_t i = 0; i < p.size(); ++i) {
    double sd = std::sqrt(p[i] * (1 - p[i]) / n);
    EXPECT_NEAR(double(count[i]) / n, p[i], 5 * sd + 1e-3) << "token " << i;
  }
  // Acceptance rate is sum_x min(p, q).
  double expect_kept = 0;
  for (size_t i = 0; i < p.size(); ++i) expect_kept += std::min(p[i], q[i]);
  EXPECT_NEAR(double(kept) / n, expect_kept, 0.01);
  // Greedy: the target's argmax whatever the proposal.
  Sampler g({.temperature = 0.0f});
  EXPECT_EQ(g.accept_or_resample(target, 1, q), 2);
}

}  // namespace
}  // namespace vkllm::test
