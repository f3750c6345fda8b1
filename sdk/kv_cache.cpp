#include "sdk/kv_cache.h"

#include <fmt/format.h>

#include <algorithm>

#include "sdk/base/error.h"
#include "sdk/base/hash.h"
#include "sdk/base/log.h"
#include "sdk/vk/device.h"

namespace vkllm::sdk {

KvCache::KvCache(std::shared_ptr<Device> device, std::vector<KvLayerSpec> layers,
                 KvCacheOptions opt)
    : device_(std::move(device)), layers_(std::move(layers)), opt_(opt) {
  if (opt_.block_size <= 0 || opt_.max_tokens <= 0 || opt_.max_sequences <= 0) {
    throw InputError("[kv_cache] block size, capacity and sequences must be positive");
  }
  if (opt_.bits != 16 && opt_.bits != 8 && opt_.bits != 4) {
    throw InputError(
        fmt::format("[kv_cache] {} bits per value not supported: 16, 8 or 4", opt_.bits));
  }
  group_of_.resize(layers_.size());
  for (size_t i = 0; i < layers_.size(); ++i) {
    const auto& l = layers_[i];
    if (l.kv_heads <= 0 || l.head_dim <= 0 || l.head_dim % 8 != 0 || l.window < 0 || l.sink < 0 ||
        (l.sink > 0 && l.window == 0)) {
      throw InputError(
          fmt::format("[kv_cache] layer {}: {} kv heads of dim {} (window {}, sink {}) "
                      "not supported; head_dim must be a multiple of 8, sinks need a window",
                      i, l.kv_heads, l.head_dim, l.window, l.sink));
    }
    if (opt_.bits < 16 && (l.head_dim % 32 != 0 || opt_.group < 8 || opt_.group % 8 != 0 ||
                           l.head_dim % opt_.group != 0)) {
      throw InputError(fmt::format(
          "[kv_cache] layer {}: a {}-bit cache needs head_dim a multiple of 32 and a group size "
          "(multiple of 8) dividing it; got head_dim {}, group {}",
          i, opt_.bits, l.head_dim, opt_.group));
    }
    auto it = std::find_if(groups_.begin(), groups_.end(), [&](const Group& g) {
      return g.window == l.window && g.sink == l.sink;
    });
    if (it == groups_.end()) {
      groups_.push_back(Group{l.window, l.sink, {}, 0, {}, {}});
      it = groups_.end() - 1;
    }
    it->layers.push_back(int(i));
    group_of_[i] = int(it - groups_.begin());
  }
  int64_t bs = opt_.block_size;
  for (auto& g : groups_) {
    g.blocks = group_tokens(g.window, g.sink, opt_) / bs;
    g.refs.assign(size_t(g.blocks), 0);
    for (int32_t b = int32_t(g.blocks) - 1; b >= 0; --b) g.free.push_back(b);
  }
  k_.resize(layers_.size());
  v_.resize(layers_.size());
  device_->weights().reserve(pool_bytes(layers_, opt_));
  for (size_t i = 0; i < layers_.size(); ++i) {
    const auto& l = layers_[i];
    int64_t slots = groups_[size_t(group_of_[i])].blocks * bs;
    if (opt_.bits == 16) {
      k_[i] = Tensor::allocate(device_->weights(), Dtype::f16, {slots, l.kv_heads, l.head_dim});
      v_[i] = Tensor::allocate(device_->weights(), Dtype::f16, {slots, l.kv_heads, l.head_dim});
      continue;
    }
    int64_t words = l.head_dim * opt_.bits / 32, groups = l.head_dim / opt_.group;
    ks_.resize(layers_.size());
    vs_.resize(layers_.size());
    k_[i] = Tensor::allocate(device_->weights(), Dtype::i32, {slots, l.kv_heads, words});
    v_[i] = Tensor::allocate(device_->weights(), Dtype::i32, {slots, l.kv_heads, words});
    ks_[i] = Tensor::allocate(device_->weights(), Dtype::f32, {slots, l.kv_heads, groups});
    vs_[i] = Tensor::allocate(device_->weights(), Dtype::f32, {slots, l.kv_heads, groups});
  }
  if (opt_.prefix_cache && !opt_.disk.dir.empty()) {
    // The files fit only a cache of the same format: mix it into the model's fingerprint.
    uint64_t fp = hash_mix(opt_.disk.fingerprint ^ 0x6b766469736b3031ull);
    for (int64_t v :
         {int64_t(opt_.bits), int64_t(opt_.group), int64_t(bs), int64_t(layers_.size())})
      fp = hash_mix(fp ^ uint64_t(v));
    for (const auto& l : layers_)
      for (int v : {l.kv_heads, l.head_dim, l.window, l.sink}) fp = hash_mix(fp + uint64_t(v));
    disk_ = std::make_unique<KvDiskTier>(opt_.disk, fp);
  }
}

KvCache::~KvCache() = default;

KvCache::Sequence& KvCache::seq_ref(SeqId s) {
  auto it = seqs_.find(s);
  if (it == seqs_.end()) throw InternalError(fmt::format("[kv_cache] no sequence {}", s));
  return it->second;
}

const KvCache::Sequence& KvCache::seq_ref(SeqId s) const {
  auto it = seqs_.find(s);
  if (it == seqs_.end()) throw InternalError(fmt::format("[kv_cache] no sequence {}", s));
  return it->second;
}

int32_t KvCache::take_block(int group) {
  auto& g = groups_[size_t(group)];
  while (g.free.empty() && evict_one(group)) {
  }
  if (g.free.empty()) {
    throw CacheFull(
        fmt::format("[kv_cache] out of cache blocks ({} blocks of {} tokens{}); raise "
                    "the context size or release sequences",
                    g.blocks, opt_.block_size,
                    g.window ? fmt::format(", window {}", g.window) : std::string()));
  }
  int32_t b = g.free.back();
  g.free.pop_back();
  g.refs[size_t(b)] = 1;
  return b;
}

void KvCache::drop_block(int group, int32_t block) {
  if (block < 0) return;
  auto& g = groups_[size_t(group)];
  VKLLM_ASSERT(g.refs[size_t(block)] > 0, "kv block released twice");
  if (--g.refs[size_t(block)] == 0) g.free.push_back(block);
}

namespace {

// A layer's pools: keys and values, and their scales for a quantized cache (ks, vs empty
// otherwise).
std::vector<const Tensor*> layer_pools(const std::vector<Tensor>& k, const std::vector<Tensor>& v,
                                       const std::vector<Tensor>& ks, const std::vector<Tensor>& vs,
                                       int layer) {
  std::vector<const Tensor*> pools{&k[size_t(layer)], &v[size_t(layer)]};
  if (!ks.empty()) pools.insert(pools.end(), {&ks[size_t(layer)], &vs[size_t(layer)]});
  return pools;
}

uint64_t splitmix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

// Hash of a block given its parent's hash and its keys; never 0 (0 means "no parent").
uint64_t block_hash(uint64_t parent, std::span<const uint64_t> keys) {
  uint64_t h = splitmix(parent ^ 0x6b766c6c6d2d6b76ull);
  for (uint64_t k : keys) h = splitmix(h ^ k);
  return h ? h : 1;
}

}  // namespace

const KvCache::PrefixEntry* KvCache::find_entry(uint64_t hash, uint64_t parent,
                                                std::span<const uint64_t> keys) const {
  auto it = prefix_.find(hash);
  if (it == prefix_.end() || it->second.parent != parent ||
      !std::equal(keys.begin(), keys.end(), it->second.keys.begin(), it->second.keys.end()))
    return nullptr;
  return &it->second;
}

void KvCache::publish(SeqId seq, std::span<const uint64_t> keys) {
  if (!opt_.prefix_cache) return;
  Sequence& s = seq_ref(seq);
  const int64_t bs = opt_.block_size;
  if (int64_t(keys.size()) < s.length)
    throw InternalError("[kv_cache] publish: fewer keys than the sequence holds");
  std::vector<uint64_t> fresh;  // entries this call creates
  for (int64_t b = int64_t(s.chain.size()); (b + 1) * bs <= s.length; ++b) {
    uint64_t parent = b ? s.chain[size_t(b - 1)] : 0;
    // The previous block's entry may be gone: when another sequence had published the same
    // block first, this one only named it in its chain, and the entry could be evicted since.
    if (parent && !prefix_.contains(parent)) break;
    auto block_keys = keys.subspan(size_t(b * bs), size_t(bs));
    uint64_t h = block_hash(parent, block_keys);
    auto it = prefix_.find(h);
    if (it != prefix_.end()) {
      if (!find_entry(h, parent, block_keys)) break;  // a hash collision: stop publishing
      it->second.used = ++tick_;
    } else {
      PrefixEntry e;
      e.parent = parent;
      e.keys.assign(block_keys.begin(), block_keys.end());
      for (size_t gi = 0; gi < groups_.size(); ++gi) {
        int32_t blk = s.tables[gi][size_t(b)];
        if (blk >= 0) ++groups_[gi].refs[size_t(blk)];
        e.blocks.push_back(blk);
      }
      e.used = ++tick_;
      if (parent) ++prefix_.at(parent).children;
      prefix_.emplace(h, std::move(e));
      fresh.push_back(h);
    }
    s.chain.push_back(h);
  }
  if (disk_ && !fresh.empty()) write_to_disk(fresh);
}

std::vector<ByteRange> KvCache::block_ranges(int group, int32_t block) const {
  std::vector<ByteRange> out;
  const int64_t bs = opt_.block_size;
  for (int li : groups_[size_t(group)].layers) {
    for (const Tensor* pool : layer_pools(k_, v_, ks_, vs_, li)) {
      uint64_t row = uint64_t(pool->stride(0)) * dtype_size(pool->dtype());
      out.push_back({*pool, uint64_t(block) * uint64_t(bs) * row, uint64_t(bs) * row});
    }
  }
  return out;
}

void KvCache::write_to_disk(std::span<const uint64_t> hashes) {
  // One copy out of the device for all the new blocks; the files are written in the
  // background.
  std::vector<ByteRange> ranges;
  std::vector<std::pair<uint64_t, uint64_t>> sizes;  // hash, payload bytes
  for (uint64_t h : hashes) {
    if (disk_->contains(h)) continue;
    const PrefixEntry& e = prefix_.at(h);
    uint64_t bytes = 0;
    for (size_t gi = 0; gi < groups_.size(); ++gi) {
      if (e.blocks[gi] < 0) continue;
      for (auto& r : block_ranges(int(gi), e.blocks[gi])) {
        bytes += r.bytes;
        ranges.push_back(std::move(r));
      }
    }
    sizes.emplace_back(h, bytes);
  }
  if (sizes.empty()) return;
  uint64_t total = 0;
  for (const auto& [h, n] : sizes) total += n;
  std::vector<uint8_t> data(total);
  download_ranges(ranges, data.data());
  uint64_t at = 0;
  for (const auto& [h, n] : sizes) {
    const PrefixEntry& e = prefix_.at(h);
    KvDiskRecord r;
    r.parent = e.parent;
    r.keys = e.keys;
    for (int32_t blk : e.blocks) r.present.push_back(blk >= 0 ? 1 : 0);
    r.payload.assign(data.begin() + int64_t(at), data.begin() + int64_t(at + n));
    at += n;
    disk_->put(h, std::move(r));
  }
}

const KvCache::PrefixEntry* KvCache::restore(uint64_t hash, uint64_t parent,
                                             std::span<const uint64_t> keys,
                                             const std::vector<bool>& wanted) {
  if (prefix_.contains(hash)) return nullptr;  // another block under this hash
  std::optional<KvDiskRecord> rec = disk_->get(hash, parent, keys);
  if (!rec) return nullptr;
  if (rec->present.size() != groups_.size()) return nullptr;
  // The payload holds each present group's ranges in order; a group whose block no query of
  // this prompt can see (behind a window) is skipped, as if its window had dropped it.
  std::vector<uint64_t> group_bytes(groups_.size(), 0);
  uint64_t expected = 0;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    for (const auto& r : block_ranges(int(gi), 0)) group_bytes[gi] += r.bytes;
    if (rec->present[gi]) expected += group_bytes[gi];
  }
  if (expected != rec->payload.size()) {
    log::sdk().warn("[kv_cache] disk block {:016x} holds {} bytes, the cache expects {}", hash,
                    rec->payload.size(), expected);
    return nullptr;
  }
  std::vector<ByteRange> ranges;
  std::vector<uint8_t> data;
  std::vector<int32_t> blocks(groups_.size(), -1);
  uint64_t at = 0;
  try {
    for (size_t gi = 0; gi < groups_.size(); ++gi) {
      if (!rec->present[gi]) continue;
      const uint64_t n = group_bytes[gi];
      if (wanted[gi]) {
        blocks[gi] = take_block(int(gi));
        for (auto& r : block_ranges(int(gi), blocks[gi])) ranges.push_back(std::move(r));
        data.insert(data.end(), rec->payload.begin() + int64_t(at),
                    rec->payload.begin() + int64_t(at + n));
      }
      at += n;
    }
  } catch (const CacheFull&) {
    for (size_t gi = 0; gi < groups_.size(); ++gi) drop_block(int(gi), blocks[gi]);
    return nullptr;
  }
  // Graphs still in flight must not see the blocks change under them.
  device_->wait_in_flight(VK_NULL_HANDLE);
  upload_ranges(ranges, data.data());
  PrefixEntry e;
  e.parent = parent;
  e.keys = std::move(rec->keys);
  e.blocks = std::move(blocks);
  e.used = ++tick_;
  if (parent) ++prefix_.at(parent).children;
  ++stats_.disk_restored;
  return &prefix_.emplace(hash, std::move(e)).first->second;
}

void KvCache::flush_disk() {
  if (disk_) disk_->flush();
}

int64_t KvCache::attach_prefix(SeqId seq, std::span<const uint64_t> keys) {
  if (!opt_.prefix_cache || keys.empty()) return 0;
  Sequence& s = seq_ref(seq);
  if (s.length != 0) throw InternalError("[kv_cache] attach_prefix needs an empty sequence");
  const int64_t bs = opt_.block_size;
  std::vector<uint64_t> chain;
  std::vector<const PrefixEntry*> entries;
  auto pin = [&](const PrefixEntry& e, int by) {
    for (size_t gi = 0; gi < groups_.size(); ++gi)
      if (e.blocks[gi] >= 0) groups_[gi].refs[size_t(e.blocks[gi])] += by;
  };
  // Which blocks the next query needs in each group, for `len` tokens attached (window groups
  // need only those it can see, and their sinks).
  auto first_needed = [&](size_t gi, int64_t len) {
    int w = groups_[gi].window;
    return w > 0 ? std::max<int64_t>(0, len - w + 1 - opt_.window_margin) / bs : 0;
  };
  auto needed = [&](size_t gi, int64_t len, int64_t b) {
    return b >= first_needed(gi, len) || b * bs < groups_[gi].sink;
  };
  const int64_t most = (int64_t(keys.size()) - 1) / bs * bs;  // the most tokens attachable
  std::vector<bool> wanted(groups_.size());
  for (int64_t b = 0; (b + 1) * bs < int64_t(keys.size()); ++b) {
    uint64_t parent = b ? chain.back() : 0;
    auto block_keys = keys.subspan(size_t(b * bs), size_t(bs));
    uint64_t h = block_hash(parent, block_keys);
    const PrefixEntry* e = find_entry(h, parent, block_keys);
    if (!e && disk_) {
      for (size_t gi = 0; gi < groups_.size(); ++gi) wanted[gi] = needed(gi, most, b);
      e = restore(h, parent, block_keys, wanted);
    }
    if (!e) break;
    // Held while the chain grows, so restoring a later block cannot evict this one.
    pin(*e, +1);
    chain.push_back(h);
    entries.push_back(e);
  }
  for (const PrefixEntry* e : entries) pin(*e, -1);
  // The longest chain whose blocks the next query needs are all resident (a window group
  // may have dropped old ones before they were published).
  int64_t k = int64_t(entries.size());
  for (; k > 0; --k) {
    bool ok = true;
    for (size_t gi = 0; gi < groups_.size() && ok; ++gi) {
      for (int64_t b = 0; b < k && ok; ++b)
        ok = !needed(gi, k * bs, b) || entries[size_t(b)]->blocks[gi] >= 0;
    }
    if (ok) break;
  }
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    auto& table = s.tables[gi];
    for (int64_t b = 0; b < k; ++b) {
      int32_t blk = needed(gi, k * bs, b) ? entries[size_t(b)]->blocks[gi] : -1;
      if (blk >= 0) ++groups_[gi].refs[size_t(blk)];
      table.push_back(blk);
    }
  }
  for (int64_t b = 0; b < k; ++b) prefix_.at(chain[size_t(b)]).used = ++tick_;
  chain.resize(size_t(k));
  s.chain = std::move(chain);
  s.length = k * bs;
  stats_.attached_tokens += k * bs;
  return k * bs;
}

// Evicts the least recently used chain end (no published successor) whose block in `group`
// only the index holds. Returns false when there is none.
bool KvCache::evict_one(int group) {
  auto victim = prefix_.end();
  for (auto it = prefix_.begin(); it != prefix_.end(); ++it) {
    const auto& e = it->second;
    int32_t blk = e.blocks[size_t(group)];
    if (e.children > 0 || blk < 0 || groups_[size_t(group)].refs[size_t(blk)] != 1) continue;
    if (victim == prefix_.end() || e.used < victim->second.used) victim = it;
  }
  if (victim == prefix_.end()) return false;
  for (size_t gi = 0; gi < groups_.size(); ++gi) drop_block(int(gi), victim->second.blocks[gi]);
  if (victim->second.parent) --prefix_.at(victim->second.parent).children;
  prefix_.erase(victim);
  ++stats_.evictions;
  return true;
}

PrefixCacheStats KvCache::prefix_stats() const {
  PrefixCacheStats st = stats_;
  st.entries = int64_t(prefix_.size());
  for (const auto& [h, e] : prefix_) {
    bool only_index = true;
    for (size_t gi = 0; gi < groups_.size(); ++gi) {
      int32_t blk = e.blocks[gi];
      if (blk >= 0 && groups_[gi].refs[size_t(blk)] != 1) only_index = false;
    }
    st.held_blocks += only_index;
  }
  return st;
}

SeqId KvCache::create() {
  SeqId id = next_++;
  Sequence s;
  s.tables.resize(groups_.size());
  seqs_.emplace(id, std::move(s));
  return id;
}

SeqId KvCache::fork(SeqId src) {
  Sequence copy = seq_ref(src);
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    for (int32_t b : copy.tables[gi])
      if (b >= 0) ++groups_[gi].refs[size_t(b)];
  }
  SeqId id = next_++;
  seqs_.emplace(id, std::move(copy));
  return id;
}

void KvCache::release(SeqId seq) {
  Sequence& s = seq_ref(seq);
  for (size_t gi = 0; gi < groups_.size(); ++gi)
    for (int32_t b : s.tables[gi]) drop_block(int(gi), b);
  seqs_.erase(seq);
}

int64_t KvCache::length(SeqId seq) const { return seq_ref(seq).length; }

bool KvCache::can_truncate(SeqId seq, int64_t n) const {
  const Sequence& s = seq_ref(seq);
  if (n < 0 || n > s.length) return false;
  const int64_t bs = opt_.block_size, keep = (n + bs - 1) / bs;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    const auto& table = s.tables[gi];
    const int window = groups_[gi].window;
    if (window <= 0 || n == 0) continue;
    // The next query (position n) needs keys from n - window + 1 on.
    const int64_t need = std::max<int64_t>(0, n - window + 1) / bs;
    for (int64_t b = 0; b < keep && b < int64_t(table.size()); ++b)
      if ((b >= need || b * bs < groups_[gi].sink) && table[size_t(b)] < 0) return false;
  }
  return true;
}

void KvCache::truncate(SeqId seq, int64_t n) {
  Sequence& s = seq_ref(seq);
  if (n < 0 || n > s.length) {
    throw InputError(
        fmt::format("[kv_cache] cannot truncate a sequence of {} tokens to {}", s.length, n));
  }
  if (!can_truncate(seq, n)) {
    throw InputError(
        fmt::format("[kv_cache] cannot rewind the sliding-window cache to {} "
                    "tokens: blocks behind the window were already dropped "
                    "(keep more with window_margin)",
                    n));
  }
  int64_t bs = opt_.block_size;
  int64_t keep = (n + bs - 1) / bs;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    auto& table = s.tables[gi];
    while (int64_t(table.size()) > keep) {
      drop_block(int(gi), table.back());
      table.pop_back();
    }
  }
  if (int64_t(s.chain.size()) > n / bs) s.chain.resize(size_t(n / bs));
  s.length = n;
}

void KvCache::drop_behind_windows(Sequence& s, int64_t start) {
  const int64_t bs = opt_.block_size;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    int window = groups_[gi].window;
    if (window <= 0) continue;
    auto& table = s.tables[gi];
    // Keys below start - window + 1 (less the margin) are invisible to every query from now on.
    int64_t first_needed = std::max<int64_t>(0, start - window + 1 - opt_.window_margin);
    for (int64_t b = 0; (b + 1) * bs <= first_needed && b < int64_t(table.size()); ++b) {
      if (b * bs < groups_[gi].sink || table[size_t(b)] < 0) continue;  // sinks stay
      drop_block(int(gi), table[size_t(b)]);
      table[size_t(b)] = -1;
    }
  }
}

CacheFull::~CacheFull() = default;

void KvCache::reserve(Graph& g, Sequence& s, int n, Reserved& r) {
  const int64_t bs = opt_.block_size;
  const int64_t start = s.length, end = start + n;
  r.tables = s.tables;
  r.taken.assign(groups_.size(), {});
  r.replaced.assign(groups_.size(), {});
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    auto& table = r.tables[gi];
    int64_t first = start / bs;
    // Copy-on-write of a shared, partly filled last block.
    if (start % bs != 0 && first < int64_t(table.size())) {
      int32_t old = table[size_t(first)];
      if (old >= 0 && groups_[gi].refs[size_t(old)] > 1) {
        int32_t fresh = take_block(int(gi));
        r.taken[gi].push_back(fresh);
        for (int li : groups_[gi].layers) {
          for (const Tensor* pool : layer_pools(k_, v_, ks_, vs_, li)) {
            uint64_t row = uint64_t(pool->stride(0)) * dtype_size(pool->dtype());
            uint64_t bytes = uint64_t(start % bs) * row;
            Tensor src = pool->slice(0, int64_t(old) * bs, bs);
            Tensor dst = pool->slice(0, int64_t(fresh) * bs, bs);
            g.copy_bytes(src, dst, bytes);
          }
        }
        table[size_t(first)] = fresh;
        r.replaced[gi].push_back(old);
      }
    }
    while (int64_t(table.size()) * bs < end) {
      int32_t b = take_block(int(gi));
      r.taken[gi].push_back(b);
      table.push_back(b);
    }
  }
}

void KvCache::unreserve(Reserved& r) {
  for (size_t gi = 0; gi < r.taken.size(); ++gi)
    for (int32_t b : r.taken[gi]) drop_block(int(gi), b);
  r.taken.clear();
}

KvStep KvCache::begin(Graph& g, SeqId seq, int n) {
  const KvPart part{seq, n};
  return begin(g, std::span(&part, 1));
}

KvStep KvCache::begin(Graph& g, std::span<const KvPart> parts) {
  if (parts.empty()) throw InternalError("[kv_cache] begin needs a sequence");
  const int64_t bs = opt_.block_size;
  KvStep step;
  int64_t rows = 0;
  for (const KvPart& p : parts) {
    Sequence& s = seq_ref(p.seq);
    if (p.n <= 0) throw InternalError("[kv_cache] begin needs n > 0");
    for (const auto& q : step.parts)
      if (q.seq == p.seq) throw InternalError("[kv_cache] a sequence twice in one step");
    step.parts.push_back({p.seq, s.length, rows, p.n});
    step.kv_len = std::max(step.kv_len, s.length + p.n);
    rows += p.n;
    // Window groups first let go of the blocks no new query can see, so that a long step fits
    // a pool sized for window + step (this cannot be undone, nor does it need to be).
    drop_behind_windows(s, s.length);
  }
  // Reserve everything first so a full cache leaves every sequence unchanged.
  std::vector<Reserved> reserved(parts.size());
  try {
    for (size_t i = 0; i < parts.size(); ++i)
      reserve(g, seq_ref(parts[i].seq), parts[i].n, reserved[i]);
  } catch (...) {
    for (auto& r : reserved) unreserve(r);
    throw;
  }
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    std::vector<int32_t> tables, slots, info;
    for (size_t i = 0; i < parts.size(); ++i) {
      const auto& part = step.parts[i];
      const auto& table = reserved[i].tables[gi];
      for (int32_t b : reserved[i].replaced[gi]) drop_block(int(gi), b);
      info.insert(info.end(), {int32_t(part.row), int32_t(part.n), int32_t(tables.size()),
                               int32_t(part.start + part.n)});
      for (int64_t p = part.start; p < part.start + part.n; ++p)
        slots.push_back(int32_t(table[size_t(p / bs)] * bs + p % bs));
      tables.insert(tables.end(), table.begin(), table.end());
    }
    step.tables.push_back(g.upload_i32(tables, {int64_t(tables.size())}));
    step.slots.push_back(g.upload_i32(slots, {int64_t(slots.size())}));
    step.part_info.push_back(parts.size() > 1 ? g.upload_i32(info, {int64_t(parts.size()), 4})
                                              : Tensor());
  }
  for (size_t i = 0; i < parts.size(); ++i) {
    Sequence& s = seq_ref(parts[i].seq);
    s.tables = std::move(reserved[i].tables);
    s.length += parts[i].n;
  }
  return step;
}

KvLayerView KvCache::layer(const KvStep& step, int layer) const {
  if (layer < 0 || layer >= int(layers_.size())) {
    throw InternalError(fmt::format("[kv_cache] no layer {}", layer));
  }
  int gi = group_of_[size_t(layer)];
  KvLayerView v;
  v.k = k_[size_t(layer)];
  v.v = v_[size_t(layer)];
  if (!ks_.empty()) {
    v.k_scales = ks_[size_t(layer)];
    v.v_scales = vs_[size_t(layer)];
  }
  v.bits = opt_.bits;
  v.group = opt_.group;
  v.kv_heads = layers_[size_t(layer)].kv_heads;
  v.head_dim = layers_[size_t(layer)].head_dim;
  v.table = step.tables[size_t(gi)];
  v.slots = step.slots[size_t(gi)];
  v.kv_len = step.kv_len;
  if (step.parts.size() > 1) {
    v.parts = step.parts;
    v.part_info = step.part_info[size_t(gi)];
  }
  v.block_size = opt_.block_size;
  v.window = groups_[size_t(gi)].window;
  v.sink = groups_[size_t(gi)].sink;
  return v;
}

int64_t KvCache::free_blocks(int group) const {
  return int64_t(groups_[size_t(group)].free.size());
}
int64_t KvCache::total_blocks(int group) const { return groups_[size_t(group)].blocks; }

int64_t KvCache::blocks_of(SeqId seq, int group) const {
  const auto& t = seq_ref(seq).tables[size_t(group)];
  return std::count_if(t.begin(), t.end(), [](int32_t b) { return b >= 0; });
}

int KvCache::block_refcount(int group, int32_t block) const {
  return groups_[size_t(group)].refs[size_t(block)];
}

const std::vector<int32_t>& KvCache::table(SeqId seq, int group) const {
  return seq_ref(seq).tables[size_t(group)];
}

uint64_t KvCache::bytes() const {
  uint64_t total = 0;
  for (size_t i = 0; i < k_.size(); ++i) total += k_[i].extent_bytes() + v_[i].extent_bytes();
  for (size_t i = 0; i < ks_.size(); ++i) total += ks_[i].extent_bytes() + vs_[i].extent_bytes();
  return total;
}

int64_t KvCache::group_tokens(int window, int sink, const KvCacheOptions& opt) {
  const int64_t bs = opt.block_size;
  int64_t tokens = opt.max_tokens;
  if (window > 0) {
    // The window behind the first new token, the new tokens, the sinks, partial blocks.
    int64_t per_seq = window + sink + opt.window_margin + std::max(opt.max_step, 1) + 3 * bs;
    tokens = std::min<int64_t>(tokens, per_seq * opt.max_sequences);
  }
  return (tokens + bs - 1) / bs * bs;
}

uint64_t KvCache::pool_bytes(std::span<const KvLayerSpec> layers, const KvCacheOptions& opt) {
  uint64_t total = 0;
  for (const auto& l : layers)
    total +=
        uint64_t(group_tokens(l.window, l.sink, opt)) * bytes_per_token(l, opt.bits, opt.group);
  return total;
}

uint64_t KvCache::bytes_per_token(const KvLayerSpec& layer, int bits, int group) {
  uint64_t values = uint64_t(layer.kv_heads) * uint64_t(layer.head_dim);
  uint64_t one =
      bits == 16 ? values * 2 : values * uint64_t(bits) / 8 + values / uint64_t(group) * 4;
  return 2 * one;  // keys and values
}

}  // namespace vkllm::sdk
