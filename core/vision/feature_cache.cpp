#include "core/vision/feature_cache.h"

#include <cstring>

namespace vkllm::core {

std::vector<uint64_t> image_token_keys(const ContentHash& image, int64_t n) {
  std::vector<uint64_t> keys(static_cast<size_t>(std::max<int64_t>(n, 0)));
  for (int64_t i = 0; i < n; ++i)
    keys[size_t(i)] =
        sdk::hash_mix(image.lo ^ sdk::hash_mix(image.hi + uint64_t(i))) | (1ull << 63);
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
