// Vision prompts with the caches and speculative decoding: the prefix cache keys image tokens by
// the image's content (same image: reused; another image with the same ids: not), the feature
// cache runs the tower once per distinct image, and a text draft model handles the text part of
// a vision target without changing its greedy output.
#include <gtest/gtest.h>

#include <cmath>

#include "reference.h"
#include "vkllm/engine.h"

namespace vkllm::test {
namespace {

std::vector<int32_t> prompt(const std::vector<int32_t>& tail) {
  std::vector<int32_t> ids = {1, 17, 42, 298, 297, 299};  // one placeholder, expanded by the host
  ids.insert(ids.end(), tail.begin(), tail.end());
  return ids;
}

Result run(Engine& e, const std::vector<int32_t>& ids, const std::string& image, int n = 6) {
  Request r;
  r.prompt_ids = ids;
  r.images = {{image, {}}};
  r.sampling.temperature = 0;
  r.max_tokens = n;
  r.ignore_eos = true;
  r.logprobs = 0;
  return e.generate(r);
}

std::string image(int i) {
  const char* names[] = {"rgba_150x100.png", "rgb_61x47.png", "photo_160x120.jpg"};
  return std::string(VKLLM_TEST_DATA) + "/images/" + names[i];
}

void expect_same(const Result& a, const Result& b) {
  EXPECT_EQ(a.ids, b.ids);
  ASSERT_EQ(a.logprobs.size(), b.logprobs.size());
  for (size_t i = 0; i < a.logprobs.size(); ++i)
    EXPECT_NEAR(a.logprobs[i].logprob, b.logprobs[i].logprob, 1e-4);
}

TEST(VisionCaches, SameImageReusesThePrefixAnotherImageDoesNot) {
  auto engine = Engine::load(qwen_vl_dir("qwen2_5_vl"));
  auto cold = run(*engine, prompt({50, 51, 52}), image(0));
  EXPECT_EQ(cold.cached_tokens, 0);
  EXPECT_EQ(cold.images_encoded, 1);
  // Next turn about the same image: the image's tokens come from the cache.
  auto warm = run(*engine, prompt({50, 51, 60, 61}), image(0));
  auto fresh = Engine::load(qwen_vl_dir("qwen2_5_vl"));
  auto want = run(*fresh, prompt({50, 51, 60, 61}), image(0));
  EXPECT_GE(warm.cached_tokens, 16);
  EXPECT_EQ(warm.images_encoded, 0);
  expect_same(warm, want);
  // Another image with the same token grid (160x120 and 150x100 both resize to 112x84): same
  // ids, different content: nothing past the text before
  // the image is reused, and the result is that image's.
  auto other = run(*engine, prompt({50, 51, 60, 61}), image(2));
  auto other_cold =
      run(*Engine::load(qwen_vl_dir("qwen2_5_vl")), prompt({50, 51, 60, 61}), image(2));
  EXPECT_LE(other.cached_tokens, 4);
  EXPECT_EQ(other.images_encoded, 1);
  expect_same(other, other_cold);
}

TEST(VisionCaches, FeatureCacheRunsTheTowerOncePerImage) {
  EngineOptions o;
  o.prefix_cache = false;  // every request prefills; only the feature cache can help
  auto engine = Engine::load(qwen_vl_dir("qwen2_vl"), o);
  auto a = run(*engine, prompt({50}), image(1));
  EXPECT_EQ(a.images_encoded, 1);
  auto b = run(*engine, {1, 99, 298, 297, 299, 70, 71}, image(1));  // a different prompt
  EXPECT_EQ(b.images_encoded, 0);
  EXPECT_EQ(b.images_cached, 1);
  auto want =
      run(*Engine::load(qwen_vl_dir("qwen2_vl"), o), {1, 99, 298, 297, 299, 70, 71}, image(1));
  expect_same(b, want);
  // The same image twice in one prompt is encoded once.
  Request r;
  r.prompt_ids = {1, 298, 297, 299, 5, 298, 297, 299, 6};
  r.images = {{image(0), {}}, {image(0), {}}};
  r.max_tokens = 1;
  auto twice = engine->generate(r);
  EXPECT_EQ(twice.images_encoded, 1);
  EXPECT_EQ(twice.images_cached, 1);
}

TEST(VisionCaches, TextDraftModelKeepsGreedyOutput) {
  // The draft sees the image placeholders as ordinary tokens (it has no vision tower of its
  // own in use): it proposes text, the vision target verifies.
  std::string dir = qwen_vl_dir("qwen2_vl");
  auto plain = run(*Engine::load(dir), prompt({50, 51}), image(0), 12);
  for (int k : {1, 3}) {
    EngineOptions o;
    o.draft_model = qwen_vl_dir("qwen2_5_vl");
    o.draft_tokens = k;
    auto spec = run(*Engine::load(dir, o), prompt({50, 51}), image(0), 12);
    EXPECT_EQ(spec.ids, plain.ids) << "k = " << k;
    EXPECT_GT(spec.draft_proposed, 0);
  }
}

}  // namespace
}  // namespace vkllm::test
