#include "core/vision/feature_cache.h"

#include <cstring>

namespace vkllm::core {
namespace {

uint64_t mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}

}  // namespace

ContentHash content_hash(std::span<const uint8_t> bytes, uint64_t salt) {
  uint64_t a = 0x243f6a8885a308d3ull ^ salt, b = 0x13198a2e03707344ull ^ mix(salt + 1);
  size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, bytes.data() + i, 8);
    a = mix(a ^ w) + 0x9e3779b97f4a7c15ull;
    b = mix(b + w * 0xbf58476d1ce4e5b9ull) ^ (b >> 29);
  }
  uint64_t tail = 0;
  if (bytes.size() > i) std::memcpy(&tail, bytes.data() + i, bytes.size() - i);
  a = mix(a ^ tail ^ (uint64_t(bytes.size()) << 3));
  b = mix(b + tail + uint64_t(bytes.size()));
  return {a, b};
}

std::vector<uint64_t> image_token_keys(const ContentHash& image, int64_t n) {
  std::vector<uint64_t> keys(static_cast<size_t>(std::max<int64_t>(n, 0)));
  for (int64_t i = 0; i < n; ++i)
    keys[size_t(i)] = mix(image.lo ^ mix(image.hi + uint64_t(i))) | (1ull << 63);
  return keys;
}

std::optional<sdk::Tensor> FeatureCache::get(const ContentHash& key) {
  std::lock_guard lock(mu_);
  auto it = index_.find(key);
  if (it == index_.end()) {
    ++stats_.misses;
    return std::nullopt;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  ++stats_.hits;
  return it->second->features;
}

void FeatureCache::put(const ContentHash& key, const sdk::Tensor& features) {
  std::lock_guard lock(mu_);
  uint64_t bytes = features.extent_bytes();
  if (auto it = index_.find(key); it != index_.end()) {
    bytes_ -= it->second->bytes;
    lru_.erase(it->second);
    index_.erase(it);
  }
  if (bytes > budget_) return;
  evict_to(budget_ - bytes);
  lru_.push_front({key, features, bytes});
  index_[key] = lru_.begin();
  bytes_ += bytes;
}

void FeatureCache::evict_to(uint64_t budget) {
  while (bytes_ > budget && !lru_.empty()) {
    bytes_ -= lru_.back().bytes;
    index_.erase(lru_.back().key);
    lru_.pop_back();
    ++stats_.evictions;
  }
}

FeatureCacheStats FeatureCache::stats() const {
  std::lock_guard lock(mu_);
  FeatureCacheStats s = stats_;
  s.entries = int64_t(lru_.size());
  s.bytes = bytes_;
  s.budget = budget_;
  return s;
}

void FeatureCache::clear() {
  std::lock_guard lock(mu_);
  lru_.clear();
  index_.clear();
  bytes_ = 0;
}

}  // namespace vkllm::core
