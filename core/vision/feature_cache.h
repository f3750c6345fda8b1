#pragma once
// The vision feature cache: encoded image features (device tensors) keyed by the image's
// content, so the vision tower runs once per distinct image across turns and requests. Least
// recently used entries go first when the byte budget would be exceeded.
#include <cstdint>
#include <list>
#include <mutex>
#include <optional>
#include <span>
#include <unordered_map>

#include "sdk/base/hash.h"
#include "sdk/tensor.h"

namespace vkllm::core {

// Images are keyed by the 128-bit content hash of their encoded bytes, or of pixels plus the
// preprocessing that produced them.
using sdk::content_hash;
using sdk::ContentHash;

// Prefix-cache keys of the n placeholder tokens of one image: distinct per image and position,
// with the top bit set so they never equal a token id.
std::vector<uint64_t> image_token_keys(const ContentHash& image, int64_t n);

struct FeatureCacheStats {
  int64_t entries = 0, hits = 0, misses = 0, evictions = 0;
  uint64_t bytes = 0, budget = 0;
};

class FeatureCache {
 public:
  explicit FeatureCache(uint64_t budget_bytes) : budget_(budget_bytes) {}

  // The features of `key`, if cached (and marks them most recently used).
  std::optional<sdk::Tensor> get(const ContentHash& key);
  // Caches `features` (replacing an entry with the same key), evicting least recently used
  // entries to stay within the budget. Features larger than the whole budget are not kept.
  void put(const ContentHash& key, const sdk::Tensor& features);
  FeatureCacheStats stats() const;
  void clear();

 private:
  struct KeyHash {
    size_t operator()(const ContentHash& h) const { return size_t(h.lo ^ (h.hi * 31)); }
  };
  struct Entry {
    ContentHash key;
    sdk::Tensor features;
    uint64_t bytes;
  };
  void evict_to(uint64_t budget);

  mutable std::mutex mu_;
  uint64_t budget_, bytes_ = 0;
  std::list<Entry> lru_;  // front: most recently used
  std::unordered_map<ContentHash, std::list<Entry>::iterator, KeyHash> index_;
  FeatureCacheStats stats_;
};

}  // namespace vkllm::core
