#pragma once
// Runtime LoRA: adapters kept beside the untouched base weights. For a weight W [out, in] an
// adapter holds A [r, in] and B [out, r] (its scale folded into B), and every product with W
// also adds (x·Aᵀ)·Bᵀ for the rows of the pass that use that adapter. ops::matmul applies it
// from the graph's LoraPass, so no family code names adapters: the host registers the factors
// of each loaded weight (fused weights get stacked A and block-diagonal B) and says, per pass,
// which rows use which adapter.
#include <cstdint>
#include <map>
#include <utility>
#include <vector>

#include "sdk/tensor.h"

namespace vkllm::sdk {

struct LoraFactors {
  Tensor a;  // [r, in], a matmul weight (Tensor::allocate_weight)
  Tensor b;  // [out, r], a matmul weight, scale included
};

class LoraTable {
 public:
  // Adapter indexes start at 1 (0: the base alone).
  void add(const Tensor& weight, int adapter, LoraFactors f);
  const LoraFactors* find(const Tensor& weight, int adapter) const;
  bool empty() const { return table_.empty(); }
  int64_t weights() const { return int64_t(table_.size()); }
  uint64_t bytes() const { return bytes_; }

 private:
  using Key = std::pair<const void*, uint64_t>;  // the weight's allocation and offset
  static Key key(const Tensor& w) { return {w.memory().get(), w.byte_offset()}; }
  std::map<Key, std::map<int, LoraFactors>> table_;
  uint64_t bytes_ = 0;
};

// Mixes a key (an adapter's) into a prefix-cache key.
inline uint64_t mix_key(uint64_t key, uint64_t with) {
  uint64_t h = key ^ (with + 0x9e3779b97f4a7c15ull + (key << 6) + (key >> 2));
  return h * 0xbf58476d1ce4e5b9ull;
}

// Rows [begin, begin + rows) of a pass use `adapter` (rows of other spans: the base alone).
struct LoraSpan {
  int64_t begin = 0, rows = 0;
  int adapter = 0;
};

// What a pass (a Graph) applies: matmuls over `rows` rows (the pass's tokens, or the patches
// of an image) add the updates of their spans' adapters; matmuls over `head_rows` rows (the
// output head over the logits rows of a batch) those of `head_spans`. Over any other number of
// rows, the adapter of a span that covers the pass applies to all of them; with several spans
// that is an error (the rows cannot be told apart).
// rows < 0: every matmul of the pass, whatever its rows, uses spans[0]'s adapter on all of them
// (an image's tower and projector, whose matmuls see patches and merged tokens).
struct LoraPass {
  const LoraTable* table = nullptr;
  std::vector<LoraSpan> spans;
  int64_t rows = 0;
  std::vector<LoraSpan> head_spans;
  int64_t head_rows = -1;
};

}  // namespace vkllm::sdk
