#pragma once
// Non-cryptographic hashing shared by the caches: a 64-bit mixer and a 128-bit content hash
// (two independent lanes) used for cache keys and for checking files the caches write.
#include <cstdint>
#include <span>

namespace vkllm::sdk {

// murmur3's finalizer: a bijective 64-bit mix.
uint64_t hash_mix(uint64_t x);

struct ContentHash {
  uint64_t lo = 0, hi = 0;
  bool operator==(const ContentHash&) const = default;
};
ContentHash content_hash(std::span<const uint8_t> bytes, uint64_t salt = 0);

}  // namespace vkllm::sdk
