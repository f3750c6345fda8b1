#include "sdk/kv_cache.h"

#include <fmt/format.h>

#include <algorithm>

#include "sdk/base/error.h"
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
    if (l.kv_heads <= 0 || l.head_dim <= 0 || l.head_dim % 8 != 0 || l.window < 0) {
      throw InputError(
          fmt::format("[kv_cache] layer {}: {} kv heads of dim {} (window {}) "
                      "not supported; head_dim must be a multiple of 8",
                      i, l.kv_heads, l.head_dim, l.window));
    }
    if (opt_.bits < 16 && (l.head_dim % 32 != 0 || opt_.group < 8 || opt_.group % 8 != 0 ||
                           l.head_dim % opt_.group != 0)) {
      throw InputError(fmt::format(
          "[kv_cache] layer {}: a {}-bit cache needs head_dim a multiple of 32 and a group size "
          "(multiple of 8) dividing it; got head_dim {}, group {}",
          i, opt_.bits, l.head_dim, opt_.group));
    }
    auto it = std::find_if(groups_.begin(), groups_.end(),
                           [&](const Group& g) { return g.window == l.window; });
    if (it == groups_.end()) {
      groups_.push_back(Group{l.window, {}, 0, {}, {}});
      it = groups_.end() - 1;
    }
    it->layers.push_back(int(i));
    group_of_[i] = int(it - groups_.begin());
  }
  int64_t bs = opt_.block_size;
  for (auto& g : groups_) {
    int64_t tokens = opt_.max_tokens;
    if (g.window > 0) {
      int64_t per_seq = g.window + opt_.window_margin + 2 * bs;
      tokens = std::min<int64_t>(tokens, per_seq * opt_.max_sequences);
    }
    g.blocks = (tokens + bs - 1) / bs;
    g.refs.assign(size_t(g.blocks), 0);
    for (int32_t b = int32_t(g.blocks) - 1; b >= 0; --b) g.free.push_back(b);
  }
  k_.resize(layers_.size());
  v_.resize(layers_.size());
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
  if (g.free.empty()) {
    throw Error(
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

void KvCache::truncate(SeqId seq, int64_t n) {
  Sequence& s = seq_ref(seq);
  if (n < 0 || n > s.length) {
    throw InputError(
        fmt::format("[kv_cache] cannot truncate a sequence of {} tokens to {}", s.length, n));
  }
  int64_t bs = opt_.block_size;
  int64_t keep = (n + bs - 1) / bs;
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    auto& table = s.tables[gi];
    int window = groups_[gi].window;
    if (window > 0 && n > 0) {
      // The next query (position n) needs keys from n - window + 1 on.
      int64_t need = std::max<int64_t>(0, n - window + 1) / bs;
      for (int64_t b = need; b < keep && b < int64_t(table.size()); ++b) {
        if (table[size_t(b)] < 0) {
          throw InputError(
              fmt::format("[kv_cache] cannot rewind the sliding-window cache to {} "
                          "tokens: blocks behind the window were already dropped "
                          "(keep more with window_margin)",
                          n));
        }
      }
    }
    while (int64_t(table.size()) > keep) {
      drop_block(int(gi), table.back());
      table.pop_back();
    }
  }
  s.length = n;
}

KvStep KvCache::begin(Graph& g, SeqId seq, int n) {
  Sequence& s = seq_ref(seq);
  if (n <= 0) throw InternalError("[kv_cache] begin needs n > 0");
  int64_t bs = opt_.block_size;
  int64_t start = s.length, end = start + n;
  KvStep step;
  step.seq = seq;
  step.start = start;
  step.n = n;
  // Reserve everything first so a full cache leaves the sequence unchanged.
  std::vector<std::vector<int32_t>> tables = s.tables;
  std::vector<std::vector<int32_t>> taken(groups_.size()), replaced(groups_.size());
  try {
    for (size_t gi = 0; gi < groups_.size(); ++gi) {
      auto& table = tables[gi];
      int64_t first = start / bs;
      // Copy-on-write of a shared, partly filled last block.
      if (start % bs != 0 && first < int64_t(table.size())) {
        int32_t old = table[size_t(first)];
        if (old >= 0 && groups_[gi].refs[size_t(old)] > 1) {
          int32_t fresh = take_block(int(gi));
          taken[gi].push_back(fresh);
          for (int li : groups_[gi].layers) {
            std::vector<Tensor*> pools{&k_[size_t(li)], &v_[size_t(li)]};
            if (!ks_.empty()) pools.insert(pools.end(), {&ks_[size_t(li)], &vs_[size_t(li)]});
            for (Tensor* pool : pools) {
              uint64_t row = uint64_t(pool->stride(0)) * dtype_size(pool->dtype());
              uint64_t bytes = uint64_t(start % bs) * row;
              Tensor src = pool->slice(0, int64_t(old) * bs, bs);
              Tensor dst = pool->slice(0, int64_t(fresh) * bs, bs);
              g.copy_bytes(src, dst, bytes);
            }
          }
          table[size_t(first)] = fresh;
          replaced[gi].push_back(old);
        }
      }
      while (int64_t(table.size()) * bs < end) {
        int32_t b = take_block(int(gi));
        taken[gi].push_back(b);
        table.push_back(b);
      }
    }
  } catch (...) {
    for (size_t gi = 0; gi < groups_.size(); ++gi)
      for (int32_t b : taken[gi]) drop_block(int(gi), b);
    throw;
  }
  for (size_t gi = 0; gi < groups_.size(); ++gi) {
    for (int32_t b : replaced[gi]) drop_block(int(gi), b);
    auto& table = tables[gi];
    int window = groups_[gi].window;
    if (window > 0) {
      // Keys below start - window + 1 (less the margin) are invisible to every query from now on.
      int64_t first_needed = std::max<int64_t>(0, start - window + 1 - opt_.window_margin);
      for (int64_t b = 0; (b + 1) * bs <= first_needed && b < int64_t(table.size()); ++b) {
        drop_block(int(gi), table[size_t(b)]);
        table[size_t(b)] = -1;
      }
    }
    std::vector<int32_t> slots(static_cast<size_t>(n));
    for (int64_t p = start; p < end; ++p) {
      slots[size_t(p - start)] = int32_t(table[size_t(p / bs)] * bs + p % bs);
    }
    Tensor tt = g.alloc(Dtype::i32, {int64_t(table.size())});
    g.upload(tt, table.data(), table.size() * 4);
    Tensor st = g.alloc(Dtype::i32, {int64_t(n)});
    g.upload(st, slots.data(), slots.size() * 4);
    step.tables.push_back(tt);
    step.slots.push_back(st);
  }
  s.tables = std::move(tables);
  s.length = end;
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
  v.kv_len = step.start + step.n;
  v.block_size = opt_.block_size;
  v.window = groups_[size_t(gi)].window;
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

uint64_t KvCache::bytes_per_token(const KvLayerSpec& layer, int bits, int group) {
  uint64_t values = uint64_t(layer.kv_heads) * uint64_t(layer.head_dim);
  uint64_t one =
      bits == 16 ? values * 2 : values * uint64_t(bits) / 8 + values / uint64_t(group) * 4;
  return 2 * one;  // keys and values
}

}  // namespace vkllm::sdk
