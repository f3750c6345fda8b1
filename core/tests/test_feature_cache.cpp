// The vision feature cache (LRU of encoded image features within a byte budget) and the content
// hashes that key it and the prefix cache's image tokens.
#include <gtest/gtest.h>

#include <set>

#include "core/vision/feature_cache.h"
#include "sdk/io.h"
#include "sdk/tests/fixture.h"

namespace vkllm::test {
namespace {

sdk::Tensor features(int64_t floats, float value) {
  auto t = sdk::Tensor::allocate(device()->weights(), Dtype::f32, {floats});
  sdk::upload_f32(t, std::vector<float>(size_t(floats), value));
  return t;
}

TEST(ContentHash, DistinguishesContentAndSalt) {
  std::vector<uint8_t> a(1000, 7), b = a;
  b[999] = 8;  // last byte (tail) differs
  std::vector<uint8_t> c = a;
  c[3] = 0;  // first word differs
  EXPECT_EQ(core::content_hash(a), core::content_hash(a));
  EXPECT_FALSE(core::content_hash(a) == core::content_hash(b));
  EXPECT_FALSE(core::content_hash(a) == core::content_hash(c));
  EXPECT_FALSE(core::content_hash(a) == core::content_hash(a, 1));  // other preprocessing
  EXPECT_FALSE(core::content_hash(std::span(a).first(999)) == core::content_hash(b));  // length
  EXPECT_FALSE(core::content_hash({}) == core::content_hash(std::span(a).first(1)));
}

TEST(ContentHash, ImageTokenKeysNeverCollideWithTokenIds) {
  auto h1 = core::content_hash(std::vector<uint8_t>(64, 1));
  auto h2 = core::content_hash(std::vector<uint8_t>(64, 2));
  auto k1 = core::image_token_keys(h1, 100), k2 = core::image_token_keys(h2, 100);
  std::set<uint64_t> all(k1.begin(), k1.end());
  all.insert(k2.begin(), k2.end());
  EXPECT_EQ(all.size(), 200u);  // distinct per image and per position
  for (uint64_t k : all) EXPECT_GE(k, 1ull << 63);
  EXPECT_EQ(core::image_token_keys(h1, 100), k1);
}

TEST(FeatureCache, HitsMissesAndLeastRecentlyUsedEviction) {
  core::FeatureCache cache(3 * 4096);  // room for three 1024-float feature maps
  auto key = [](int i) { return core::content_hash(std::vector<uint8_t>(16, uint8_t(i))); };
  EXPECT_FALSE(cache.get(key(1)).has_value());
  for (int i = 1; i <= 3; ++i) cache.put(key(i), features(1024, float(i)));
  ASSERT_TRUE(cache.get(key(1)).has_value());  // 1 is now the most recent; 2 the least
  cache.put(key(4), features(1024, 4.0f));
  EXPECT_FALSE(cache.get(key(2)).has_value());
  auto one = cache.get(key(1));
  ASSERT_TRUE(one.has_value());
  EXPECT_EQ(sdk::download_f32(*one)[0], 1.0f);  // the very features that were put
  auto s = cache.stats();
  EXPECT_EQ(s.entries, 3);
  EXPECT_EQ(s.evictions, 1);
  EXPECT_EQ(s.hits, 2);
  EXPECT_EQ(s.misses, 2);
  EXPECT_EQ(s.bytes, 3u * 4096u);
  // Replacing a key keeps one entry; something bigger than the budget is not kept.
  cache.put(key(1), features(1024, 9.0f));
  EXPECT_EQ(sdk::download_f32(*cache.get(key(1)))[0], 9.0f);
  EXPECT_EQ(cache.stats().entries, 3);
  cache.put(key(5), features(4 * 1024, 5.0f));
  EXPECT_FALSE(cache.get(key(5)).has_value());
  EXPECT_EQ(cache.stats().entries, 3);
}

}  // namespace
}  // namespace vkllm::test
