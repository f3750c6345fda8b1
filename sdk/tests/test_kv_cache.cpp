#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>

#include "sdk/base/error.h"
#include "sdk/kv_cache.h"
#include "sdk/ops/attention.h"
#include "sdk/tests/fixture.h"

namespace vkllm::test {
namespace {

constexpr int64_t H = 2;

// Keeps the host copy of each sequence's keys/values to check what attention reads.
class KvCacheTest : public SdkTest {
 protected:
  int64_t D = 16;
  int bits = 16;  // 8: values an 8-bit cache stores exactly (integers / 64, 127 / 64 per group)

  std::vector<float> values(size_t n) {
    if (bits == 16) return round_to(Dtype::f16, randn(n));
    std::vector<float> v(n);
    for (size_t i = 0; i < n; ++i) {
      int q = (i % 32 == 0) ? 127 : int(rng()() % 255) - 127;
      v[i] = float(q) / 64.0f;
    }
    return v;
  }

  struct Host {
    std::vector<float> k, v;  // [len, H, D], f16-rounded
  };

  // Appends n random tokens to seq and checks a decode-style attention of one query at the
  // last position against the host copy.
  void append_and_check(sdk::KvCache& cache, sdk::SeqId seq, Host& host, int n, int window = 0) {
    auto kn = values(size_t(n * H * D));
    auto vn = values(size_t(n * H * D));
    auto qv = randn(size_t(H * D));
    int64_t last = cache.length(seq) + n - 1;
    auto g = graph();
    auto step = cache.begin(*g, seq, n);
    auto view = cache.layer(step, 0);
    auto kt = input(Dtype::f32, {n, H, D}, kn), vt = input(Dtype::f32, {n, H, D}, vn);
    ops::kv_write(*g, view, kt, vt);
    auto q = input(Dtype::f32, {1, H, D}, qv);
    auto qp = sdk::Tensor::allocate(dev().weights(), Dtype::i32, {1});
    sdk::upload_i32(qp, std::vector<int32_t>{int32_t(last)});
    auto o = ops::attention(*g, q, view, qp, {.scale = 0.25f});
    g->run();
    host.k.insert(host.k.end(), kn.begin(), kn.end());
    host.v.insert(host.v.end(), vn.begin(), vn.end());
    // reference
    std::vector<double> want(size_t(H * D), 0.0);
    for (int64_t h = 0; h < H; ++h) {
      std::vector<double> s;
      int64_t first = window ? std::max<int64_t>(0, last - window + 1) : 0;
      for (int64_t j = first; j <= last; ++j) {
        double d = 0;
        for (int64_t i = 0; i < D; ++i)
          d += double(qv[size_t(h * D + i)]) * host.k[size_t((j * H + h) * D + i)];
        s.push_back(d * 0.25);
      }
      double m = *std::max_element(s.begin(), s.end()), sum = 0;
      for (auto& x : s) sum += (x = std::exp(x - m));
      for (int64_t j = first; j <= last; ++j)
        for (int64_t i = 0; i < D; ++i)
          want[size_t(h * D + i)] +=
              s[size_t(j - first)] / sum * host.v[size_t((j * H + h) * D + i)];
    }
    expect_close(sdk::download_f32(o), want, {2e-5, 2e-4},
                 fmt::format("attention after {} tokens", last + 1));
  }
  void fork_and_diverge(sdk::KvCache& cache);
};

TEST_F(KvCacheTest, AppendAccountsBlocks) {
  sdk::KvCache cache(device(), {{int(H), int(D), 0}, {int(H), int(D), 0}},
                     {.block_size = 4, .max_tokens = 64});
  EXPECT_EQ(cache.groups(), 1);
  EXPECT_EQ(cache.total_blocks(0), 16);
  auto seq = cache.create();
  Host host;
  append_and_check(cache, seq, host, 10);
  EXPECT_EQ(cache.length(seq), 10);
  EXPECT_EQ(cache.blocks_of(seq, 0), 3);
  EXPECT_EQ(cache.free_blocks(0), 13);
  append_and_check(cache, seq, host, 1);
  append_and_check(cache, seq, host, 1);
  EXPECT_EQ(cache.blocks_of(seq, 0), 3);
  append_and_check(cache, seq, host, 1);
  EXPECT_EQ(cache.blocks_of(seq, 0), 4);
  cache.release(seq);
  EXPECT_EQ(cache.free_blocks(0), 16);
}

TEST_F(KvCacheTest, ForkSharesBlocksAndCopiesOnWrite) {
  sdk::KvCache cache(device(), {{int(H), int(D), 0}}, {.block_size = 4, .max_tokens = 64});
  fork_and_diverge(cache);
}

// The copy-on-write of a quantized cache copies packed values and their scales.
TEST_F(KvCacheTest, QuantizedForkCopiesScales) {
  D = 32;
  bits = 8;
  sdk::KvCache cache(device(), {{int(H), int(D), 0}},
                     {.block_size = 4, .max_tokens = 64, .bits = 8, .group = 32});
  fork_and_diverge(cache);
}

void KvCacheTest::fork_and_diverge(sdk::KvCache& cache) {
  auto a = cache.create();
  Host ha;
  append_and_check(cache, a, ha, 10);
  auto b = cache.fork(a);
  Host hb = ha;
  EXPECT_EQ(cache.free_blocks(0), 16 - 3);  // shared, nothing copied yet
  for (int32_t blk : cache.table(a, 0)) EXPECT_EQ(cache.block_refcount(0, blk), 2);
  // b writes into the shared, partly filled third block: it gets its own copy.
  append_and_check(cache, b, hb, 1);
  EXPECT_NE(cache.table(a, 0)[2], cache.table(b, 0)[2]);
  EXPECT_EQ(cache.table(a, 0)[0], cache.table(b, 0)[0]);
  EXPECT_EQ(cache.block_refcount(0, cache.table(a, 0)[2]), 1);
  // a diverges with its own token; both still read their own histories
  append_and_check(cache, a, ha, 1);
  append_and_check(cache, b, hb, 3);
  cache.release(a);
  cache.release(b);
  EXPECT_EQ(cache.free_blocks(0), 16);
}

TEST_F(KvCacheTest, TruncateRewinds) {
  sdk::KvCache cache(device(), {{int(H), int(D), 0}}, {.block_size = 4, .max_tokens = 64});
  auto s = cache.create();
  Host h;
  append_and_check(cache, s, h, 11);
  cache.truncate(s, 5);
  h.k.resize(size_t(5 * H * D));
  h.v.resize(size_t(5 * H * D));
  EXPECT_EQ(cache.length(s), 5);
  EXPECT_EQ(cache.blocks_of(s, 0), 2);
  append_and_check(cache, s, h, 4);
  EXPECT_THROW(cache.truncate(s, 10), InputError);
}

TEST_F(KvCacheTest, SlidingWindowDropsOldBlocks) {
  int window = 6;
  sdk::KvCache cache(device(), {{int(H), int(D), window}, {int(H), int(D), 0}},
                     {.block_size = 4, .max_tokens = 128, .max_sequences = 1, .max_step = 5});
  EXPECT_EQ(cache.groups(), 2);
  EXPECT_LT(cache.total_blocks(0), cache.total_blocks(1));
  auto s = cache.create();
  Host h;
  for (int i = 0; i < 30; ++i) append_and_check(cache, s, h, i == 0 ? 5 : 1, window);
  // 34 tokens: the window layer keeps only the blocks a future query can see.
  EXPECT_LE(cache.blocks_of(s, 0), 3);
  EXPECT_EQ(cache.blocks_of(s, 1), 9);
  EXPECT_THROW(cache.truncate(s, 20), InputError);  // dropped blocks cannot come back
  EXPECT_FALSE(cache.can_truncate(s, 20));
  EXPECT_TRUE(cache.can_truncate(s, 33));  // still inside the window
  EXPECT_TRUE(cache.can_truncate(s, 0));   // starting over always works
  EXPECT_FALSE(cache.can_truncate(s, 35));
  cache.truncate(s, 0);
  EXPECT_EQ(cache.length(s), 0);
}

TEST_F(KvCacheTest, AttentionSinksStayResident) {
  // max_kv_size-style layer: window 6 plus the first 4 tokens.
  sdk::KvCache cache(device(), {{int(H), int(D), 6, 4}},
                     {.block_size = 4, .max_tokens = 128, .max_sequences = 1, .max_step = 5});
  auto s = cache.create();
  for (int i = 0; i < 30; ++i) {
    auto g = graph();
    cache.begin(*g, s, i == 0 ? 5 : 1);
    g->run();
  }
  EXPECT_EQ(cache.table(s, 0)[0] >= 0, true);  // the sink block
  EXPECT_EQ(cache.table(s, 0)[1], -1);         // between sinks and window: dropped
  EXPECT_LE(cache.blocks_of(s, 0), 4);
}

TEST_F(KvCacheTest, FullCacheFailsAndLeavesSequenceIntact) {
  sdk::KvCache cache(device(), {{int(H), int(D), 0}}, {.block_size = 4, .max_tokens = 16});
  auto s = cache.create();
  Host h;
  append_and_check(cache, s, h, 14);
  auto g = graph();
  EXPECT_THROW(cache.begin(*g, s, 5), Error);
  EXPECT_EQ(cache.length(s), 14);
  EXPECT_EQ(cache.free_blocks(0), 0);
  append_and_check(cache, s, h, 2);
}

std::vector<uint64_t> keys_of(std::initializer_list<std::pair<int, int>> runs) {
  std::vector<uint64_t> k;
  for (auto [from, to] : runs)
    for (int i = from; i < to; ++i) k.push_back(uint64_t(i));
  return k;
}

TEST_F(KvCacheTest, PrefixCachePublishAttachEvict) {
  sdk::KvCache cache(device(), {{int(H), int(D), 0}},
                     {.block_size = 4, .max_tokens = 32, .prefix_cache = true});
  auto a = cache.create();
  Host ha;
  append_and_check(cache, a, ha, 10);
  auto keys = keys_of({{0, 10}});
  cache.publish(a, keys);
  EXPECT_EQ(cache.prefix_stats().entries, 2);  // two full blocks; the third is partly filled
  cache.publish(a, keys);                      // publishing again adds nothing
  EXPECT_EQ(cache.prefix_stats().entries, 2);
  auto shared = cache.table(a, 0);
  cache.release(a);
  EXPECT_EQ(cache.prefix_stats().held_blocks, 2);
  EXPECT_EQ(cache.free_blocks(0), 8 - 2);

  // A prompt that starts the same way attaches both blocks and reads them.
  auto b = cache.create();
  EXPECT_EQ(cache.attach_prefix(b, keys_of({{0, 10}, {100, 101}})), 8);
  EXPECT_EQ(cache.length(b), 8);
  EXPECT_EQ(cache.table(b, 0)[0], shared[0]);
  EXPECT_EQ(cache.block_refcount(0, shared[0]), 2);
  Host hb;
  hb.k.assign(ha.k.begin(), ha.k.begin() + 8 * H * D);
  hb.v.assign(ha.v.begin(), ha.v.begin() + 8 * H * D);
  append_and_check(cache, b, hb, 3);
  // One key off in the second block: only the first block matches; one key is always left.
  auto c = cache.create();
  EXPECT_EQ(cache.attach_prefix(c, keys_of({{0, 5}, {50, 51}, {6, 10}})), 4);
  auto d = cache.create();
  EXPECT_EQ(cache.attach_prefix(d, keys_of({{0, 8}})), 4);
  EXPECT_THROW(cache.attach_prefix(b, keys), InternalError);  // b is not empty
  cache.release(b);
  cache.release(c);
  cache.release(d);

  // Needing every block evicts the published ones, least recently used first.
  auto e = cache.create();
  Host he;
  append_and_check(cache, e, he, 32);
  EXPECT_GE(cache.prefix_stats().evictions, 2);
  EXPECT_EQ(cache.prefix_stats().entries, 0);
  cache.release(e);
  EXPECT_EQ(cache.free_blocks(0), 8);
}

TEST_F(KvCacheTest, PublishingAfterTheSharedEntryWasEvicted) {
  // b computes the same prompt as a at the same time, so its publish only names a's entries.
  // Once they are evicted, b publishing its next block stops instead of naming a lost parent.
  sdk::KvCache cache(device(), {{int(H), int(D), 0}},
                     {.block_size = 4, .max_tokens = 32, .prefix_cache = true});
  auto a = cache.create();
  auto b = cache.create();
  Host ha, hb;
  append_and_check(cache, a, ha, 8);
  append_and_check(cache, b, hb, 8);
  cache.publish(a, keys_of({{0, 8}}));
  cache.publish(b, keys_of({{0, 8}}));
  EXPECT_EQ(cache.prefix_stats().entries, 2);
  cache.release(a);
  auto e = cache.create();
  Host he;
  append_and_check(cache, e, he, 24);  // takes every block left: both entries go
  EXPECT_EQ(cache.prefix_stats().entries, 0);
  cache.release(e);
  append_and_check(cache, b, hb, 4);
  cache.publish(b, keys_of({{0, 12}}));
  EXPECT_EQ(cache.prefix_stats().entries, 0);
  auto c = cache.create();  // nothing of b's chain is found
  EXPECT_EQ(cache.attach_prefix(c, keys_of({{0, 13}})), 0);
  cache.release(c);
  cache.release(b);
  EXPECT_EQ(cache.free_blocks(0), 8);
}

TEST_F(KvCacheTest, PrefixCacheWithSlidingWindow) {
  // A full layer and a window-4 layer: attaching keeps only the window's blocks resident.
  sdk::KvCache cache(device(), {{int(H), int(D), 0}, {int(H), int(D), 4}},
                     {.block_size = 4, .max_tokens = 64, .prefix_cache = true});
  ASSERT_EQ(cache.groups(), 2);
  auto a = cache.create();
  for (int i = 0; i < 3; ++i) {  // 12 tokens, published one block at a time
    auto g = graph();
    cache.begin(*g, a, 4);
    g->run();
    cache.publish(a, keys_of({{0, 4 * (i + 1)}}));
  }
  EXPECT_EQ(cache.prefix_stats().entries, 3);
  cache.release(a);
  auto b = cache.create();
  EXPECT_EQ(cache.attach_prefix(b, keys_of({{0, 13}})), 12);
  EXPECT_EQ(cache.table(b, 0).size(), 3u);
  EXPECT_EQ(cache.table(b, 1)[0], -1);  // behind the window of position 12
  EXPECT_GE(cache.table(b, 1)[2], 0);
  cache.release(b);
}

// A folder of its own for one test's disk tier, removed afterwards.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    path = std::filesystem::temp_directory_path() /
           fmt::format("vkllm-kvdisk-{}-{}", ::getpid(),
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::remove_all(path);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
  std::vector<std::filesystem::path> files() const {
    std::vector<std::filesystem::path> out;
    for (const auto& e : std::filesystem::recursive_directory_iterator(path))
      if (e.is_regular_file()) out.push_back(e.path());
    std::sort(out.begin(), out.end());
    return out;
  }
};

// Blocks published by one cache come back from disk into a new one (a restart), and attention
// over them reads what was written: f16 and 8-bit pools, a full and a sliding-window group.
TEST_F(KvCacheTest, DiskTierSurvivesARestart) {
  D = 32;
  for (int nbits : {16, 8}) {
    bits = nbits;
    TempDir dir;
    const sdk::KvCacheOptions opt{.block_size = 4,
                                  .max_tokens = 32,
                                  .bits = nbits,
                                  .prefix_cache = true,
                                  .disk = {.dir = dir.path.string(), .fingerprint = 7}};
    const std::vector<sdk::KvLayerSpec> layers{{int(H), int(D), 0}, {int(H), int(D), 8}};
    Host ha;
    {
      sdk::KvCache cache(device(), layers, opt);
      auto a = cache.create();
      append_and_check(cache, a, ha, 10);
      cache.publish(a, keys_of({{0, 10}}));
      cache.flush_disk();
      EXPECT_EQ(cache.disk()->stats().written, 2);
    }
    EXPECT_EQ(dir.files().size(), 2u);
    sdk::KvCache cache(device(), layers, opt);
    EXPECT_EQ(cache.disk()->stats().files, 2);
    auto b = cache.create();
    EXPECT_EQ(cache.attach_prefix(b, keys_of({{0, 10}})), 8) << "bits " << nbits;
    EXPECT_EQ(cache.prefix_stats().disk_restored, 2);
    EXPECT_EQ(cache.prefix_stats().entries, 2);
    Host hb;
    hb.k.assign(ha.k.begin(), ha.k.begin() + 8 * H * D);
    hb.v.assign(ha.v.begin(), ha.v.begin() + 8 * H * D);
    append_and_check(cache, b, hb, 3);  // attention over the restored keys and values
    cache.release(b);
    // Another model (fingerprint) or cache format finds nothing.
    sdk::KvCacheOptions other_model = opt, other_format = opt;
    other_model.disk.fingerprint = 8;
    other_format.bits = nbits == 16 ? 8 : 16;
    for (const auto& other : {other_model, other_format}) {
      sdk::KvCache foreign(device(), layers, other);
      auto c = foreign.create();
      EXPECT_EQ(foreign.attach_prefix(c, keys_of({{0, 10}})), 0);
    }
  }
}

// Evicted from device memory, a block is read back from disk on the next hit.
TEST_F(KvCacheTest, DiskTierRestoresEvictedBlocks) {
  TempDir dir;
  sdk::KvCache cache(device(), {{int(H), int(D), 0}},
                     {.block_size = 4,
                      .max_tokens = 32,
                      .prefix_cache = true,
                      .disk = {.dir = dir.path.string(), .fingerprint = 1}});
  auto a = cache.create();
  Host ha;
  append_and_check(cache, a, ha, 12);
  cache.publish(a, keys_of({{0, 12}}));
  cache.release(a);
  auto e = cache.create();
  Host he;
  append_and_check(cache, e, he, 32);  // every block: the published ones are evicted
  EXPECT_EQ(cache.prefix_stats().entries, 0);
  cache.release(e);
  cache.flush_disk();
  auto b = cache.create();
  EXPECT_EQ(cache.attach_prefix(b, keys_of({{0, 12}, {90, 91}})), 12);
  EXPECT_EQ(cache.prefix_stats().disk_restored, 3);
  Host hb = ha;
  append_and_check(cache, b, hb, 2);
  cache.release(b);
}

// Restoring a long chain takes window-group blocks only for what the prompt's next query can
// see: the sliding-window pool (sized for the window) is not exhausted by old blocks.
TEST_F(KvCacheTest, DiskTierRestoresOnlyTheWindow) {
  TempDir dir;
  const std::vector<sdk::KvLayerSpec> layers{{int(H), int(D), 0}, {int(H), int(D), 8}};
  const sdk::KvCacheOptions opt{.block_size = 4,
                                .max_tokens = 64,
                                .max_sequences = 2,
                                .max_step = 4,
                                .prefix_cache = true,
                                .disk = {.dir = dir.path.string(), .fingerprint = 5}};
  Host ha;
  {
    sdk::KvCache cache(device(), layers, opt);
    auto a = cache.create();
    for (int i = 0; i < 10; ++i) {
      append_and_check(cache, a, ha, 4);
      cache.publish(a, keys_of({{0, 4 * (i + 1)}}));
    }
  }
  sdk::KvCache cache(device(), layers, opt);
  auto b = cache.create();
  EXPECT_EQ(cache.attach_prefix(b, keys_of({{0, 41}})), 40);
  const auto& window = cache.table(b, 1);
  ASSERT_EQ(window.size(), 10u);
  for (size_t i = 0; i < 8; ++i) EXPECT_EQ(window[i], -1) << "block " << i;
  EXPECT_GE(window[8], 0);
  EXPECT_GE(window[9], 0);
  EXPECT_EQ(cache.free_blocks(1), cache.total_blocks(1) - 2);
  Host hb = ha;
  append_and_check(cache, b, hb, 1);  // the full layer reads all 40 restored tokens
  cache.release(b);
}

// A damaged file is ignored (and removed), the chain stops before it; a budget keeps the
// folder small by dropping the least recently used blocks.
TEST_F(KvCacheTest, DiskTierRejectsDamagedFilesAndKeepsItsBudget) {
  TempDir dir;
  const std::vector<sdk::KvLayerSpec> layers{{int(H), int(D), 0}};
  sdk::KvCacheOptions opt{.block_size = 4,
                          .max_tokens = 32,
                          .prefix_cache = true,
                          .disk = {.dir = dir.path.string(), .fingerprint = 3}};
  {
    sdk::KvCache cache(device(), layers, opt);
    auto a = cache.create();
    Host ha;
    append_and_check(cache, a, ha, 12);
    cache.publish(a, keys_of({{0, 12}}));
  }
  // Which file holds the second block: the one naming the first block as its parent.
  auto files = dir.files();
  ASSERT_EQ(files.size(), 3u);
  std::vector<uint64_t> parents;
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    in.seekg(24);
    uint64_t parent = 0;
    in.read(reinterpret_cast<char*>(&parent), 8);
    parents.push_back(parent);
  }
  auto first = std::find(parents.begin(), parents.end(), 0) - parents.begin();
  std::string first_name = files[size_t(first)].stem().string();
  size_t second = 0;
  for (size_t i = 0; i < files.size(); ++i)
    if (fmt::format("{:016x}", parents[i]) == first_name) second = i;
  {
    std::fstream f(files[second], std::ios::binary | std::ios::in | std::ios::out);
    f.seekp(100);
    char c = 0;
    f.read(&c, 1);
    f.seekp(100);
    c = char(c ^ 0x5a);
    f.write(&c, 1);
  }
  {
    sdk::KvCache cache(device(), layers, opt);
    auto b = cache.create();
    EXPECT_EQ(cache.attach_prefix(b, keys_of({{0, 13}})), 4);
    EXPECT_EQ(cache.disk()->stats().rejected, 1);
    EXPECT_FALSE(std::filesystem::exists(files[second]));
  }
  // A budget of two blocks' files: writing three keeps the two most recent.
  auto size = std::filesystem::file_size(files[size_t(first)]);
  opt.disk.max_bytes = 2 * size + size / 2;
  opt.disk.fingerprint = 4;
  sdk::KvCache cache(device(), layers, opt);
  auto a = cache.create();
  Host ha;
  append_and_check(cache, a, ha, 12);
  cache.publish(a, keys_of({{0, 12}}));
  cache.flush_disk();
  EXPECT_EQ(cache.disk()->stats().files, 2);
  EXPECT_EQ(cache.disk()->stats().evicted, 1);
  EXPECT_LE(cache.disk()->stats().bytes, opt.disk.max_bytes);
}

}  // namespace
}  // namespace vkllm::test
