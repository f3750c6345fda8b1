#include <array>
#include <cmath>

#include "sdk/base/error.h"
#include "sdk/kv_cache.h"
#include "sdk/ops/attention.h"
#include "sdk/tests/fixture.h"

namespace vkllm::test {
namespace {

struct Spec {
  float scale = 0.125f, softcap = 0;
  bool causal = true;
  int window = 0;
  int sink = 0;  // with a window: keys before `sink` stay visible
  std::vector<std::pair<int, int>> spans;
  bool bidir = false, restrict_to_spans = false;
};

// Reference in double: q [T, Hq, D], keys/values [Tk, Hkv, D], all row-major.
std::vector<double> ref_attention(const std::vector<float>& q, const std::vector<float>& k,
                                  const std::vector<float>& v, const std::vector<int32_t>& qpos,
                                  int64_t Tk, int64_t Hq, int64_t Hkv, int64_t D, const Spec& s) {
  int64_t T = int64_t(qpos.size());
  std::vector<double> out(size_t(T * Hq * D), 0.0);
  for (int64_t t = 0; t < T; ++t) {
    int p = qpos[size_t(t)];
    int qs = -1, qe = -1;
    for (auto [a, b] : s.spans)
      if (p >= a && p < b) qs = a, qe = b;
    for (int64_t h = 0; h < Hq; ++h) {
      int64_t hk = h / (Hq / Hkv);
      std::vector<double> sc;
      std::vector<int64_t> keys;
      for (int64_t j = 0; j < Tk; ++j) {
        bool in_span = qs >= 0 && j >= qs && j < qe;
        if (s.restrict_to_spans && !in_span) continue;
        if (s.causal && j > p && !(s.bidir && in_span)) continue;
        if (s.window > 0 && p - j >= s.window && j >= s.sink) continue;
        double d = 0;
        for (int64_t i = 0; i < D; ++i)
          d += double(q[size_t((t * Hq + h) * D + i)]) * double(k[size_t((j * Hkv + hk) * D + i)]);
        d *= s.scale;
        if (s.softcap > 0) d = s.softcap * std::tanh(d / s.softcap);
        sc.push_back(d);
        keys.push_back(j);
      }
      if (keys.empty()) continue;
      double m = *std::max_element(sc.begin(), sc.end()), sum = 0;
      for (auto& x : sc) sum += (x = std::exp(x - m));
      for (size_t n = 0; n < keys.size(); ++n)
        for (int64_t i = 0; i < D; ++i)
          out[size_t((t * Hq + h) * D + i)] +=
              sc[n] / sum * v[size_t((keys[n] * Hkv + hk) * D + i)];
    }
  }
  return out;
}

class Attention : public SdkTest {
 protected:
  sdk::Tensor ints(const std::vector<int32_t>& v, sdk::Shape shape) {
    auto t = sdk::Tensor::allocate(dev().weights(), Dtype::i32, shape);
    sdk::upload_i32(t, v);
    return t;
  }
  sdk::Tensor spans_tensor(const Spec& s) {
    std::vector<int32_t> flat;
    for (auto [a, b] : s.spans) flat.push_back(a), flat.push_back(b);
    return ints(flat, {int64_t(s.spans.size()), 2});
  }
  ops::AttentionOptions options(const Spec& s, const sdk::Tensor* spans) {
    return {.scale = s.scale,
            .softcap = s.softcap,
            .causal = s.causal,
            .window = s.window,
            .spans = s.spans.empty() ? nullptr : spans,
            .bidirectional_spans = s.bidir,
            .restrict_to_spans = s.restrict_to_spans};
  }

  // The values a quantized pool holds for sequence indexes [0, n), dequantized on the host
  // ([n, H, D]); checks each against the value written, within half a quantization step of its
  // group (scale = max |x| / qmax).
  std::vector<float> dequantized(const sdk::KvLayerView& view, const sdk::Tensor& pool,
                                 const sdk::Tensor& scales, const std::vector<int32_t>& table,
                                 const std::vector<float>& orig, int64_t n, int block_size) {
    int64_t H = view.kv_heads, D = view.head_dim, G = view.group;
    int64_t words = D * view.bits / 32, groups = D / G;
    double qmax = view.bits == 8 ? 127 : 7;
    auto packed = sdk::download_i32(pool);
    auto sc = sdk::download_f32(scales);
    std::vector<float> out(size_t(n * H * D));
    int bad = 0;
    for (int64_t j = 0; j < n; ++j) {
      int32_t block = table[size_t(j / block_size)];
      if (block < 0) continue;  // dropped behind a window: invisible, left zero
      int64_t slot = int64_t(block) * block_size + j % block_size;
      for (int64_t h = 0; h < H; ++h) {
        for (int64_t gi = 0; gi < groups; ++gi) {
          const float* x = &orig[size_t((j * H + h) * D + gi * G)];
          double amax = 0;
          for (int64_t i = 0; i < G; ++i) amax = std::max(amax, double(std::fabs(x[i])));
          float s = sc[size_t((slot * H + h) * groups + gi)];
          if (std::fabs(s - amax / qmax) > 1e-6 * amax && bad++ == 0)
            ADD_FAILURE() << "scale of token " << j << " head " << h << " group " << gi << ": " << s
                          << ", want " << amax / qmax;
          for (int64_t i = 0; i < G; ++i) {
            int64_t e = gi * G + i;
            uint32_t w = uint32_t(packed[size_t((slot * H + h) * words + e * view.bits / 32)]);
            int sh = int(e % (32 / view.bits)) * view.bits;
            int q = view.bits == 8 ? int(int8_t(uint8_t(w >> sh))) : int((w >> sh) & 15u) - 8;
            if (std::fabs(double(q) * s - x[i]) > 0.5 * s * (1 + 1e-5) + 1e-7 && bad++ == 0)
              ADD_FAILURE() << "token " << j << " head " << h << " value " << e << ": " << x[i]
                            << " stored as " << q << " * " << s;
            out[size_t((j * H + h) * D + e)] = float(q) * s;
          }
        }
      }
    }
    EXPECT_EQ(bad, 0) << "values off by more than half a quantization step";
    return out;
  }

  // Runs a sequence through a paged cache in steps and checks every step's output.
  void paged(int64_t Hq, int64_t Hkv, int64_t D, std::vector<int> steps, Spec s, int block_size,
             int cache_window = 0, int bits = 16, int group = 32, int sink = 0) {
    SCOPED_TRACE(
        fmt::format("Hq={} Hkv={} D={} block={} window={} softcap={} spans={} bits={} "
                    "group={}",
                    Hq, Hkv, D, block_size, s.window, s.softcap, s.spans.size(), bits, group));
    int64_t total = 0;
    for (int n : steps) total += n;
    sdk::KvCache cache(
        device(), {{int(Hkv), int(D), cache_window, sink}},
        {.block_size = block_size, .max_tokens = total + 64, .bits = bits, .group = group});
    auto seq = cache.create();
    auto keys = randn(size_t(total * Hkv * D)), vals = randn(size_t(total * Hkv * D));
    auto kr = round_to(Dtype::f16, keys), vr = round_to(Dtype::f16, vals);
    int64_t at = 0;
    auto spans = spans_tensor(s);
    for (int n : steps) {
      poison_arena(dev());
      auto qv = randn(size_t(n * Hq * D));
      std::vector<int32_t> qpos(static_cast<size_t>(n));
      for (int i = 0; i < n; ++i) qpos[size_t(i)] = int32_t(at + i);
      auto q = input(Dtype::f32, {n, Hq, D}, qv);
      auto kt =
          input(Dtype::f32, {n, Hkv, D},
                std::span<const float>(keys).subspan(size_t(at * Hkv * D), size_t(n * Hkv * D)));
      auto vt =
          input(Dtype::f32, {n, Hkv, D},
                std::span<const float>(vals).subspan(size_t(at * Hkv * D), size_t(n * Hkv * D)));
      auto qp = ints(qpos, {n});
      auto g = graph();
      auto step = cache.begin(*g, seq, n);
      auto view = cache.layer(step, 0);
      ops::kv_write(*g, view, kt, vt);
      auto o = ops::attention(*g, q, view, qp, options(s, &spans));
      g->run();
      at += n;
      Spec rs = s;
      if (cache_window) rs.window = cache_window, rs.sink = sink;
      if (bits < 16) {  // the reference attends over exactly what the cache holds
        const auto& table = cache.table(seq, 0);
        kr = dequantized(view, view.k, view.k_scales, table, keys, at, block_size);
        vr = dequantized(view, view.v, view.v_scales, table, vals, at, block_size);
      }
      auto want = ref_attention(qv, kr, vr, qpos, at, Hq, Hkv, D, rs);
      expect_close(sdk::download_f32(o), want, {2e-5, 2e-4}, fmt::format("step ending at {}", at));
    }
  }

  // Several sequences through one cache, each step a pass over some of them ((sequence, new
  // tokens) parts, rows in that order): one kv_write and one attention per step, every part's
  // rows checked against the reference over its own sequence. spans: (start, end, sequence).
  void batched(int64_t Hq, int64_t Hkv, int64_t D, int sequences,
               std::vector<std::vector<std::pair<int, int>>> steps, Spec s, int block_size,
               int cache_window = 0, int bits = 16, int group = 32,
               std::vector<std::array<int, 3>> spans = {}) {
    SCOPED_TRACE(fmt::format("Hq={} Hkv={} D={} block={} window={} bits={} spans={}", Hq, Hkv, D,
                             block_size, cache_window, bits, spans.size()));
    std::vector<int64_t> total(size_t(sequences), 0);
    for (const auto& st : steps)
      for (auto [q, n] : st) total[size_t(q)] += n;
    int64_t all = 0;
    for (int64_t t : total) all += t + block_size;
    sdk::KvCache cache(device(), {{int(Hkv), int(D), cache_window}},
                       {.block_size = block_size,
                        .max_tokens = all,
                        .max_sequences = sequences,
                        .bits = bits,
                        .group = group});
    std::vector<sdk::SeqId> ids;
    std::vector<std::vector<float>> keys, vals;
    for (int q = 0; q < sequences; ++q) {
      ids.push_back(cache.create());
      keys.push_back(randn(size_t(total[size_t(q)] * Hkv * D)));
      vals.push_back(randn(size_t(total[size_t(q)] * Hkv * D)));
    }
    std::vector<int64_t> at(size_t(sequences), 0);
    for (const auto& st : steps) {
      poison_arena(dev());
      std::vector<sdk::KvPart> parts;
      std::vector<float> kin, vin;
      std::vector<int32_t> qpos, flat;
      int64_t T = 0;
      for (auto [q, n] : st) {
        parts.push_back({ids[size_t(q)], n});
        auto from = size_t(at[size_t(q)] * Hkv * D), len = size_t(n * Hkv * D);
        kin.insert(kin.end(), keys[size_t(q)].begin() + long(from),
                   keys[size_t(q)].begin() + long(from + len));
        vin.insert(vin.end(), vals[size_t(q)].begin() + long(from),
                   vals[size_t(q)].begin() + long(from + len));
        for (int i = 0; i < n; ++i) qpos.push_back(int32_t(at[size_t(q)] + i));
        for (auto [a, b, sq] : spans)
          if (sq == q) flat.insert(flat.end(), {a, b, int32_t(parts.size() - 1)});
        T += n;
      }
      auto qv = randn(size_t(T * Hq * D));
      auto q = input(Dtype::f32, {T, Hq, D}, qv);
      auto kt = input(Dtype::f32, {T, Hkv, D}, kin), vt = input(Dtype::f32, {T, Hkv, D}, vin);
      auto qp = ints(qpos, {T});
      auto sp = ints(flat.empty() ? std::vector<int32_t>{0, 0, 0} : flat,
                     {std::max<int64_t>(1, int64_t(flat.size() / 3)), 3});
      auto g = graph();
      auto step = cache.begin(*g, parts);
      auto view = cache.layer(step, 0);
      ops::kv_write(*g, view, kt, vt);
      auto opt = options(s, nullptr);
      if (!flat.empty()) opt.spans = &sp;
      auto o = ops::attention(*g, q, view, qp, opt);
      g->run();
      auto got = sdk::download_f32(o);
      int64_t row = 0;
      for (auto [sq, n] : st) {
        at[size_t(sq)] += n;
        const int64_t len = at[size_t(sq)];
        Spec rs = s;
        if (cache_window) rs.window = cache_window;
        for (auto [a, b, x] : spans)
          if (x == sq) rs.spans.push_back({a, b});
        auto kr = round_to(Dtype::f16, keys[size_t(sq)]);
        auto vr = round_to(Dtype::f16, vals[size_t(sq)]);
        if (bits < 16) {
          const auto& table = cache.table(ids[size_t(sq)], 0);
          kr = dequantized(view, view.k, view.k_scales, table, keys[size_t(sq)], len, block_size);
          vr = dequantized(view, view.v, view.v_scales, table, vals[size_t(sq)], len, block_size);
        }
        std::vector<float> qs(qv.begin() + long(row * Hq * D),
                              qv.begin() + long((row + n) * Hq * D));
        std::vector<int32_t> ps(qpos.begin() + long(row), qpos.begin() + long(row + n));
        std::vector<float> mine(got.begin() + long(row * Hq * D),
                                got.begin() + long((row + n) * Hq * D));
        expect_close(mine, ref_attention(qs, kr, vr, ps, len, Hq, Hkv, D, rs), {2e-5, 2e-4},
                     fmt::format("sequence {} at {}", sq, len));
        row += n;
      }
    }
  }
};

TEST_F(Attention, DenseBidirectionalWithWindows) {
  for (auto [T, H, Hkv, D] :
       {std::tuple{1, 1, 1, 8}, std::tuple{17, 4, 2, 64}, std::tuple{30, 2, 2, 80}}) {
    poison_arena(dev());
    auto qv = randn(size_t(T * H * D)), kv = randn(size_t(T * Hkv * D)),
         vv = randn(size_t(T * Hkv * D));
    std::vector<int32_t> qpos(static_cast<size_t>(T));
    for (int i = 0; i < T; ++i) qpos[size_t(i)] = i;
    auto q = input(Dtype::f32, {T, H, D}, qv), k = input(Dtype::f32, {T, Hkv, D}, kv),
         v = input(Dtype::f32, {T, Hkv, D}, vv);
    auto qp = ints(qpos, {T});
    for (Spec s : {Spec{.scale = 0.3f, .causal = false}, Spec{.scale = 0.2f,
                                                         .causal = false,
                                                         .spans = {{0, T / 2}, {T / 2, T}},
                                                         .restrict_to_spans = true}}) {
      if (!s.spans.empty() && T < 2) continue;
      auto spans = spans_tensor(s);
      auto g = graph();
      auto o = ops::attention_dense(*g, q, k, v, qp, options(s, &spans));
      g->run();
      expect_close(sdk::download_f32(o), ref_attention(qv, kv, vv, qpos, T, H, Hkv, D, s),
                   {2e-5, 2e-4},
                   fmt::format("dense T={} H={} D={} spans={}", T, H, D, s.spans.size()));
    }
  }
}

TEST_F(Attention, PagedCausalPrefillThenDecode) {
  paged(4, 4, 64, {13, 1, 1, 1, 5}, {.scale = 0.125f}, 16);
  paged(8, 2, 128, {40, 1, 1}, {.scale = 0.09f}, 16);  // GQA 4:1
  paged(3, 1, 32, {7, 1}, {.scale = 0.2f}, 4);         // MQA, tiny blocks
}

TEST_F(Attention, PagedLongContextSplitsKeys) {
  // One query head pair with hundreds of keys: the split-key path and its combine.
  paged(2, 1, 64, {300, 1, 1}, {.scale = 0.125f}, 16);
}

TEST_F(Attention, SlidingWindowAndSoftcap) {
  paged(4, 2, 64, {20, 1, 1, 1}, {.scale = 0.125f, .softcap = 5.0f, .window = 8}, 4);
  // Window from the cache layer (blocks behind it are dropped).
  paged(2, 2, 32, {10, 9, 1, 1, 1}, {.scale = 0.2f}, 4, 6);
}

TEST_F(Attention, QuantizedCache) {
  for (int bits : {8, 4}) {
    paged(4, 2, 64, {13, 1, 1, 5}, {.scale = 0.125f}, 16, 0, bits, 32);
    paged(2, 1, 128, {300, 1}, {.scale = 0.09f}, 16, 0, bits, 64);  // split keys
    paged(3, 3, 32, {9, 1}, {.scale = 0.2f}, 4, 0, bits, 8);
    paged(2, 2, 64, {10, 9, 1, 1}, {.scale = 0.2f}, 4, 6, bits, 16);  // window drops blocks
  }
}

TEST_F(Attention, QuantizedCacheRejectsBadShapes) {
  auto make = [&](int head_dim, int bits, int group) {
    sdk::KvCache c(device(), {{2, head_dim, 0}}, {.bits = bits, .group = group});
  };
  EXPECT_THROW(make(40, 8, 8), InputError);   // head_dim not a multiple of 32
  EXPECT_THROW(make(64, 4, 48), InputError);  // group does not divide head_dim
  EXPECT_THROW(make(64, 5, 32), InputError);  // unsupported width
  EXPECT_NO_THROW(make(64, 4, 64));
}

TEST_F(Attention, AttentionSinksWithWindow) {
  // max_kv_size: the first tokens and a window of recent ones; blocks between are dropped.
  paged(2, 1, 32, {10, 1, 1, 9, 1, 1, 1, 17, 1}, {.scale = 0.2f}, 4, 8, 16, 32, 4);
  paged(4, 2, 64, {40, 1, 1, 30, 1}, {.scale = 0.125f}, 16, 24, 16, 32, 5);  // sink mid-block
  paged(2, 2, 64, {20, 1, 1, 1}, {.scale = 0.2f}, 4, 6, 8, 32, 4);           // 8-bit cache
}

TEST_F(Attention, BidirectionalImageSpans) {
  paged(2, 1, 64, {12, 1}, {.scale = 0.125f, .spans = {{3, 8}}, .bidir = true}, 4);
}

TEST_F(Attention, SequencesShareAPass) {
  // Prefill chunks beside decode steps, parts in any order, uneven lengths (query tiles of 4 on
  // llvmpipe must not straddle two sequences: 13 and 6 rows).
  batched(4, 2, 64, 3,
          {{{0, 13}}, {{1, 6}, {0, 1}}, {{2, 9}, {1, 1}, {0, 1}}, {{0, 1}, {1, 1}, {2, 1}}},
          {.scale = 0.125f}, 16);
  batched(3, 1, 32, 2, {{{1, 7}, {0, 5}}, {{0, 1}, {1, 1}}}, {.scale = 0.2f}, 4);  // MQA
  // Long keys split across invocations, one short sequence beside it.
  batched(2, 1, 64, 2, {{{0, 300}}, {{1, 3}}, {{0, 1}, {1, 1}}}, {.scale = 0.125f}, 16);
  // Sliding window (blocks dropped per sequence) and a quantized cache.
  batched(2, 2, 32, 2, {{{0, 10}, {1, 3}}, {{1, 9}, {0, 1}}, {{0, 1}, {1, 1}}}, {.scale = 0.2f}, 4,
          6);
  for (int bits : {8, 4})
    batched(2, 2, 64, 2, {{{0, 13}, {1, 1}}, {{1, 5}, {0, 1}}}, {.scale = 0.2f}, 16, 0, bits, 32);
  // Image spans of one sequence do not leak into another's queries at the same indexes.
  batched(2, 1, 64, 2, {{{0, 12}, {1, 12}}, {{1, 1}, {0, 1}}}, {.scale = 0.125f, .bidir = true}, 4,
          0, 16, 32, {{3, 8, 0}});
}

TEST_F(Attention, SequencesShareAPassAllOrNothing) {
  // A pass that does not fit leaves every sequence as it was.
  sdk::KvCache cache(device(), {{1, 32, 0}}, {.block_size = 4, .max_tokens = 16});
  auto a = cache.create(), b = cache.create();
  auto g = graph();
  cache.begin(*g, a, 6);
  std::vector<sdk::KvPart> parts{{a, 1}, {b, 10}};
  EXPECT_THROW(cache.begin(*g, parts), sdk::CacheFull);
  EXPECT_EQ(cache.length(a), 6);
  EXPECT_EQ(cache.length(b), 0);
  EXPECT_EQ(cache.free_blocks(0), 2);
  parts = {{a, 1}, {a, 1}};
  EXPECT_THROW(cache.begin(*g, parts), InternalError);
}

}  // namespace
}  // namespace vkllm::test
