#include "sdk/base/hash.h"

#include <cstring>

namespace vkllm::sdk {

uint64_t hash_mix(uint64_t x) {
  x ^= x >> 33;
  x *= 0xff51afd7ed558ccdull;
  x ^= x >> 33;
  x *= 0xc4ceb9fe1a85ec53ull;
  return x ^ (x >> 33);
}

ContentHash content_hash(std::span<const uint8_t> bytes, uint64_t salt) {
  uint64_t a = 0x243f6a8885a308d3ull ^ salt, b = 0x13198a2e03707344ull ^ hash_mix(salt + 1);
  size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    uint64_t w;
    std::memcpy(&w, bytes.data() + i, 8);
    a = hash_mix(a ^ w) + 0x9e3779b97f4a7c15ull;
    b = hash_mix(b + w * 0xbf58476d1ce4e5b9ull) ^ (b >> 29);
  }
  uint64_t tail = 0;
  if (bytes.size() > i) std::memcpy(&tail, bytes.data() + i, bytes.size() - i);
  a = hash_mix(a ^ tail ^ (uint64_t(bytes.size()) << 3));
  b = hash_mix(b + tail + uint64_t(bytes.size()));
  return {a, b};
}

}  // namespace vkllm::sdk
