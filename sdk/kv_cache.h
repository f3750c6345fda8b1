#pragma once
// The paged KV cache. Every layer stores keys and values in pools of fixed-size blocks
// ([slots, kv_heads, head_dim], slot = block * block_size + offset): f16, or 8- / 4-bit
// integers with one f32 scale per `group` values (KvCacheOptions::bits). Layers with the same
// attention window form a group that shares one block allocator and one block table per
// sequence. Blocks are reference counted: fork() shares a sequence's blocks, and a write into
// a shared, partly filled block copies it first. Sliding-window groups drop blocks that no
// future query can see.
//
// Prefix cache (KvCacheOptions::prefix_cache): the full blocks of a sequence are published
// under a hash chain of their token keys (a key is the token id, or for an image token a hash
// of the image's content and the token's place in it), so a later sequence whose keys start the
// same way attaches those blocks instead of recomputing them, across requests. Published
// blocks stay resident (the index holds a reference) until a block is needed and none is free:
// then the least recently used chain ends that no sequence holds are evicted. With a disk tier
// (KvCacheOptions::disk) every published block is also written to a file, and attach_prefix
// continues a chain from disk where device memory no longer has it.
#include <cstdint>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include "sdk/base/error.h"
#include "sdk/io.h"
#include "sdk/kv_disk.h"
#include "sdk/tensor.h"
#include "sdk/vk/graph.h"

namespace vkllm::sdk {

struct KvLayerSpec {
  int kv_heads = 0;
  int head_dim = 0;
  int window = 0;  // 0: full attention; > 0: sliding window of that many tokens
  int sink = 0;    // with a window: the first `sink` tokens stay visible too (attention sinks)
};

struct KvCacheOptions {
  int block_size = 16;
  int64_t max_tokens = 4096;  // capacity of full-attention groups (all sequences together)
  int max_sequences = 4;      // sizes sliding-window groups: max_sequences * window tokens
  // Extra tokens kept behind a window so truncate() (e.g. speculative rollback) can rewind
  // that far.
  int window_margin = 0;
  int max_step = 512;  // most tokens one begin() adds (sizes the sliding-window pools)
  // Storage: 16 (f16), 8 or 4 bits per value; quantized pools keep one f32 scale per `group`
  // consecutive values of a head (group divides head_dim; head_dim a multiple of 32).
  int bits = 16;
  int group = 32;
  bool prefix_cache = false;  // publish / attach_prefix
  // With the prefix cache: published blocks are also written to disk (in the background) and
  // read back when a prompt's prefix is no longer in device memory (also after a restart).
  KvDiskOptions disk;
};

struct PrefixCacheStats {
  int64_t entries = 0;      // published blocks in the index
  int64_t held_blocks = 0;  // blocks only the index keeps alive (reusable, evictable)
  int64_t attached_tokens = 0, evictions = 0;  // totals since creation
  int64_t disk_restored = 0;                   // blocks read back from the disk tier
};

using SeqId = int32_t;

// The cache has no room for a step (every block is held by a sequence). A scheduler may
// release or preempt sequences and try again; the step left every sequence unchanged.
class CacheFull : public Error {
 public:
  using Error::Error;
  ~CacheFull() override;
};

// One sequence's share of a forward pass: n new tokens.
struct KvPart {
  SeqId seq = -1;
  int n = 0;
};

// One forward pass over the new tokens of one or more sequences (their rows in the order of
// the parts): per group, the block tables and the slots the tokens are written to (device
// tensors).
struct KvStep {
  struct Part {
    SeqId seq = -1;
    int64_t start = 0, row = 0;  // first new token's sequence index and batch row
    int n = 0;                   // new tokens
  };
  std::vector<Part> parts;
  int64_t kv_len = 0;          // longest sequence after the step
  std::vector<Tensor> tables;  // per group: the parts' tables one after another
  std::vector<Tensor> slots;   // per group: i32 [rows]
  // Per group, with several parts: i32 [parts, 4] (first row, rows, table offset, keys).
  std::vector<Tensor> part_info;
};

// What the attention and cache-write ops need for one layer.
struct KvLayerView {
  // Pools: f16 [slots, kv_heads, head_dim]; quantized: i32 [slots, kv_heads, head_dim * bits
  // / 32] of packed values and f32 scales [slots, kv_heads, head_dim / group].
  Tensor k, v;
  Tensor k_scales, v_scales;  // quantized pools only
  int bits = 16, group = 32;
  int kv_heads = 0, head_dim = 0;
  Tensor table;        // i32 [logical blocks], -1 = dropped
  Tensor slots;        // i32 [n]: where this step's tokens go
  int64_t kv_len = 0;  // keys visible after the step: start + n (the longest part's)
  // A pass over several sequences: its parts and KvStep::part_info (empty / undefined for one).
  std::span<const KvStep::Part> parts;
  Tensor part_info;
  int block_size = 16;
  int window = 0;
  int sink = 0;  // with a window: keys [0, sink) stay visible
};

class KvCache {
 public:
  KvCache(std::shared_ptr<Device> device, std::vector<KvLayerSpec> layers, KvCacheOptions opt = {});
  ~KvCache();
  KvCache(const KvCache&) = delete;
  KvCache& operator=(const KvCache&) = delete;

  SeqId create();
  SeqId fork(SeqId src);
  void release(SeqId seq);
  int64_t length(SeqId seq) const;
  // Keeps the first n tokens. Throws InputError when a window group already dropped blocks
  // that positions >= n would need.
  void truncate(SeqId seq, int64_t n);
  // Whether truncate(seq, n) can keep n tokens (0 always can).
  bool can_truncate(SeqId seq, int64_t n) const;

  // Reserves slots for n new tokens of `seq` (copying shared blocks it must write into, inside
  // g) and uploads the tables. The sequence's length grows by n. Throws CacheFull when the
  // cache is full (nothing changed).
  KvStep begin(Graph& g, SeqId seq, int n);
  // The same for several distinct sequences in one pass (all of them or none).
  KvStep begin(Graph& g, std::span<const KvPart> parts);

  // Publishes the full blocks of `seq` not yet published; keys[i] is the key of token i
  // (at least length(seq) keys). Call once the blocks' contents are computed.
  void publish(SeqId seq, std::span<const uint64_t> keys);
  // Attaches to an empty `seq` the longest published chain matching a prefix of `keys` (whole
  // blocks, always leaving at least one key to compute) and returns its length in tokens.
  int64_t attach_prefix(SeqId seq, std::span<const uint64_t> keys);
  PrefixCacheStats prefix_stats() const;
  // The disk tier's state (null without one), and a wait for its queued writes.
  const KvDiskTier* disk() const { return disk_.get(); }
  void flush_disk();
  KvLayerView layer(const KvStep& step, int layer) const;

  int layers() const { return int(layers_.size()); }
  int groups() const { return int(groups_.size()); }
  int block_size() const { return opt_.block_size; }
  int64_t free_blocks(int group) const;
  int64_t total_blocks(int group) const;
  int64_t blocks_of(SeqId seq, int group) const;  // blocks held (not dropped)
  int block_refcount(int group, int32_t block) const;
  uint64_t bytes() const;  // device memory of all pools
  // Device bytes one token occupies in one layer (keys, values and their scales).
  static uint64_t bytes_per_token(const KvLayerSpec& layer, int bits, int group);
  // Tokens the pools of a group of layers with this window and sinks hold (rounded up to whole
  // blocks), and the device bytes of every layer's pools: what the constructor allocates.
  static int64_t group_tokens(int window, int sink, const KvCacheOptions& opt);
  static uint64_t pool_bytes(std::span<const KvLayerSpec> layers, const KvCacheOptions& opt);
  const KvCacheOptions& options() const { return opt_; }
  const std::vector<int32_t>& table(SeqId seq, int group) const;

 private:
  struct Group {
    int window = 0, sink = 0;
    std::vector<int> layers;
    int64_t blocks = 0;
    std::vector<int32_t> free;
    std::vector<int32_t> refs;
  };
  struct Sequence {
    int64_t length = 0;
    std::vector<std::vector<int32_t>> tables;  // per group
    std::vector<uint64_t> chain;               // hash of each published block
  };
  struct PrefixEntry {
    uint64_t parent = 0;          // hash of the previous block (0: none)
    std::vector<uint64_t> keys;   // the block's keys (checked on lookup)
    std::vector<int32_t> blocks;  // per group; -1 where a window dropped it
    uint64_t used = 0;            // LRU tick
    int children = 0;
  };
  const PrefixEntry* find_entry(uint64_t hash, uint64_t parent,
                                std::span<const uint64_t> keys) const;
  bool evict_one(int group);
  // The pools' byte ranges of one block of a group (every layer of the group; keys, values
  // and their scales), in the order the disk tier stores them.
  std::vector<ByteRange> block_ranges(int group, int32_t block) const;
  void write_to_disk(std::span<const uint64_t> hashes);
  // Reads a block missing from the index back from disk into fresh blocks of the `wanted`
  // groups and publishes it (null when the disk has no intact copy or no block is free).
  const PrefixEntry* restore(uint64_t hash, uint64_t parent, std::span<const uint64_t> keys,
                             const std::vector<bool>& wanted);
  void drop_behind_windows(Sequence& s, int64_t start);
  struct Reserved {
    std::vector<std::vector<int32_t>> tables, taken, replaced;  // per group
  };
  // Blocks for n new tokens of s (copy-on-write copies recorded in g); undone by unreserve.
  void reserve(Graph& g, Sequence& s, int n, Reserved& r);
  void unreserve(Reserved& r);
  Sequence& seq_ref(SeqId s);
  const Sequence& seq_ref(SeqId s) const;
  int32_t take_block(int group);
  void drop_block(int group, int32_t block);

  std::shared_ptr<Device> device_;
  std::vector<KvLayerSpec> layers_;
  KvCacheOptions opt_;
  std::vector<Group> groups_;
  std::vector<int> group_of_;
  std::vector<Tensor> k_, v_;    // per layer
  std::vector<Tensor> ks_, vs_;  // per layer, quantized pools only
  std::unordered_map<SeqId, Sequence> seqs_;
  SeqId next_ = 0;
  std::unordered_map<uint64_t, PrefixEntry> prefix_;
  uint64_t tick_ = 0;
  PrefixCacheStats stats_;
  std::unique_ptr<KvDiskTier> disk_;
};

}  // namespace vkllm::sdk
