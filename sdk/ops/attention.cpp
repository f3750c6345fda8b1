#include "sdk/ops/attention.h"

#include "sdk/ops/detail.h"
#include "sdk/ops/elementwise.h"

namespace vkllm::ops {
using namespace detail;
using sdk::Binding;
using sdk::KernelDesc;

namespace {

struct WriteParams {
  uint32_t T, H, D, k_row, k_head, v_row, v_head, slots;
};
const KernelDesc kKvWrite{"kv_write",
                          {Binding::words, Binding::words, Binding::words, Binding::storage,
                           Binding::storage, Binding::storage, Binding::storage},
                          sizeof(WriteParams)};

struct AttnParams {
  uint32_t T, Hq, Hkv, kv_len, block_size;
  uint32_t q_row, q_head, k_row, k_head, v_row, v_head;
  uint32_t window, n_spans, splits, chunk;
  float scale, softcap;
  uint32_t sink;
  uint32_t n_parts, tiles, span_cols;
};
const KernelDesc kAttention{"attention",
                            {Binding::texels, Binding::texels, Binding::texels, Binding::words,
                             Binding::words, Binding::words, Binding::storage, Binding::storage,
                             Binding::words, Binding::words, Binding::words},
                            sizeof(AttnParams)};
struct CombineParams {
  uint32_t rows, splits, D;
};
const KernelDesc kCombine{
    "attention_combine", {Binding::words, Binding::words, Binding::storage}, sizeof(CombineParams)};

// q with 16-byte aligned rows and heads, else a contiguous copy.
Tensor aligned_heads(Graph& g, const Tensor& t, const char* op, const char* what) {
  expect(t.dtype() == Dtype::f32 && t.rank() == 3, op,
         fmt::format("{} must be f32 [T, H, D], got {}", what, t.str()));
  bool ok = t.stride(2) == 1 && t.stride(1) % 4 == 0 && t.stride(0) % 4 == 0 &&
            (t.memory()->offset() + t.byte_offset()) % 16 == 0;
  return ok ? t : copy(g, t);
}

// Keys and values: dense f32 tensors, or the pools of a cache layer (`kv`).
Tensor run(Graph& g, const Tensor& q_in, const Tensor& k, const Tensor& v, const Tensor* table,
           int64_t kv_len, int block_size, int window, int sink, const Tensor& qpos,
           const AttentionOptions& opt, const sdk::KvLayerView* kv) {
  const char* op = "attention";
  bool paged = kv != nullptr;
  int bits = kv ? kv->bits : 32;
  Tensor q = aligned_heads(g, q_in, op, "q");
  int64_t T = q.dim(0), Hq = q.dim(1), D = q.dim(2);
  int64_t Hkv = k.dim(1);
  int64_t kD = bits < 16 ? int64_t(kv->head_dim) : k.dim(2);
  expect(kD == D && v.dim(2) == k.dim(2) && v.dim(1) == Hkv, op,
         fmt::format("q {} does not match k {} / v {}", q.str(), k.str(), v.str()));
  expect(Hkv > 0 && Hq % Hkv == 0, op,
         fmt::format("{} query heads not a multiple of {} kv heads", Hq, Hkv));
  expect(D % 8 == 0 && D <= 512, op,
         fmt::format("head_dim {} must be a multiple of 8, at most 512", D));
  expect(qpos.dtype() == Dtype::i32 && qpos.numel() == T && qpos.contiguous(), op,
         "qpos must be contiguous i32 [T], got " + qpos.str());
  // Several sequences in one pass: each part's query rows, in order.
  std::span<const sdk::KvStep::Part> parts = kv ? kv->parts : std::span<const sdk::KvStep::Part>{};
  if (!parts.empty()) {
    int64_t rows = 0;
    for (const auto& part : parts) rows += part.n;
    expect(rows == T && kv->part_info.defined(), op,
           fmt::format("{} queries for sequences of {} rows", T, rows));
  }
  uint32_t n_spans = 0, span_cols = 2;
  if (opt.spans) {
    const int64_t cols = opt.spans->rank() == 2 ? opt.spans->dim(1) : 0;
    expect(opt.spans->dtype() == Dtype::i32 && (cols == 2 || (cols == 3 && !parts.empty())) &&
               opt.spans->contiguous(),
           op,
           "spans must be contiguous i32 [n, 2] (or [n, 3] with a sequence index in a pass over "
           "several), got " +
               opt.spans->str());
    n_spans = uint32_t(opt.spans->dim(0));
    span_cols = uint32_t(cols);
  }
  expect(!opt.restrict_to_spans || n_spans > 0, op, "restrict_to_spans needs spans");

  // Split the keys when there are too few (query, head) pairs to occupy the device.
  uint64_t pairs = uint64_t(T * Hq);
  uint64_t want = g.device().kernel_class() == KernelClass::cpu ? 64 : 4096;
  uint32_t splits = 1;
  if (pairs < want && kv_len > 128) {
    splits = uint32_t(std::min<uint64_t>({(want + pairs - 1) / pairs, uint64_t(kv_len / 64), 64}));
    splits = std::max<uint32_t>(splits, 1);
  }
  uint32_t chunk = uint32_t((kv_len + splits - 1) / splits);
  if (paged)
    chunk = (chunk + uint32_t(block_size) - 1) / uint32_t(block_size) * uint32_t(block_size);

  // Prefill on llvmpipe: 4 queries per invocation share each key and value row load (attention
  // of a 1024-token prompt 2.9x faster than one query each; 8 spills). GPUs keep one query per
  // invocation for occupancy. Tiles never straddle two sequences.
  const int qt = g.device().kernel_class() == KernelClass::cpu && splits == 1 && T >= 8 ? 4 : 1;
  uint64_t tiles = 0;
  for (const auto& r : parts) tiles += (uint64_t(r.n) + uint64_t(qt) - 1) / uint64_t(qt);
  if (parts.empty()) tiles = (uint64_t(T) + uint64_t(qt) - 1) / uint64_t(qt);

  Tensor out = g.alloc(Dtype::f32, {T, Hq, D});
  Tensor part = splits > 1 ? g.alloc(Dtype::f32, {T * Hq, int64_t(splits), D}) : out;
  Tensor ml = splits > 1 ? g.alloc(Dtype::f32, {T * Hq, int64_t(splits), 2}) : out;
  AttnParams p{uint32_t(T),
               uint32_t(Hq),
               uint32_t(Hkv),
               uint32_t(kv_len),
               uint32_t(block_size),
               uint32_t(q.stride(0)),
               uint32_t(q.stride(1)),
               uint32_t(paged ? 0 : k.stride(0)),
               uint32_t(paged ? 0 : k.stride(1)),
               uint32_t(paged ? 0 : v.stride(0)),
               uint32_t(paged ? 0 : v.stride(1)),
               uint32_t(window),
               n_spans,
               splits,
               chunk,
               opt.scale,
               opt.softcap,
               uint32_t(window > 0 ? sink : 0),
               uint32_t(parts.size()),
               uint32_t(tiles),
               span_cols};
  const Tensor* tb = table ? table : &qpos;
  const Tensor* sp = opt.spans ? opt.spans : &qpos;
  const Tensor* ks = bits < 16 ? &kv->k_scales : &qpos;
  const Tensor* vs = bits < 16 ? &kv->v_scales : &qpos;
  const Tensor* pt = parts.empty() ? &qpos : &kv->part_info;
  uint32_t local = g.device().kernel_class() == KernelClass::cpu ? 8 : 64;
  g.dispatch(
      kAttention, {&q, &k, &v, tb, &qpos, sp, &part, &ml, ks, vs, pt}, &p, sizeof p,
      grid_1d(tiles * uint64_t(Hq) * splits, local),
      {int32_t(local), int32_t(D), paged ? 1 : 0, opt.causal ? 1 : 0, opt.restrict_to_spans ? 1 : 0,
       opt.bidirectional_spans ? 1 : 0, opt.softcap > 0 ? 1 : 0, splits > 1 ? 1 : 0,
       std::min(bits, 16), kv ? kv->group : 32, qt});
  if (splits > 1) {
    CombineParams c{uint32_t(T * Hq), splits, uint32_t(D)};
    uint32_t cl = elementwise_local(g);
    g.dispatch(kCombine, {&part, &ml, &out}, &c, sizeof c, grid_1d(uint64_t(T * Hq * D), cl),
               {int32_t(cl)});
  }
  return out;
}

}  // namespace

void kv_write(Graph& g, const sdk::KvLayerView& kv, const Tensor& k, const Tensor& v) {
  const char* op = "kv_write";
  int64_t n = kv.slots.numel();
  int64_t H = kv.k.dim(1), D = kv.bits < 16 ? kv.head_dim : kv.k.dim(2);
  for (const Tensor* t : {&k, &v}) {
    expect(t->dtype() == Dtype::f32 && t->rank() == 3 && t->dim(0) == n && t->dim(1) == H &&
               t->dim(2) == D && t->stride(2) == 1,
           op,
           fmt::format("keys/values must be f32 [{}, {}, {}] with contiguous heads, got {}", n, H,
                       D, t->str()));
  }
  WriteParams p{uint32_t(n),           uint32_t(H),           uint32_t(D),
                uint32_t(k.stride(0)), uint32_t(k.stride(1)), uint32_t(v.stride(0)),
                uint32_t(v.stride(1)), uint32_t(kv.k.dim(0))};
  uint32_t local = elementwise_local(g);
  bool quant = kv.bits < 16;
  const Tensor* ks = quant ? &kv.k_scales : &kv.k;
  const Tensor* vs = quant ? &kv.v_scales : &kv.v;
  uint64_t items = uint64_t(n * H) * uint64_t(quant ? D / kv.group : D / 2);
  g.dispatch(kKvWrite, {&k, &v, &kv.slots, &kv.k, &kv.v, ks, vs}, &p, sizeof p,
             grid_1d(items, local), {int32_t(local), kv.bits, kv.group});
}

Tensor attention(Graph& g, const Tensor& q, const sdk::KvLayerView& kv, const Tensor& qpos,
                 const AttentionOptions& opt) {
  int window = opt.window ? opt.window : kv.window;
  return run(g, q, kv.k, kv.v, &kv.table, kv.kv_len, kv.block_size, window,
             opt.window ? 0 : kv.sink, qpos, opt, &kv);
}

Tensor attention_dense(Graph& g, const Tensor& q, const Tensor& k_in, const Tensor& v_in,
                       const Tensor& qpos, const AttentionOptions& opt) {
  Tensor k = aligned_heads(g, k_in, "attention", "k");
  Tensor v = aligned_heads(g, v_in, "attention", "v");
  expect(k.dim(0) == v.dim(0), "attention", "k and v differ in length");
  return run(g, q, k, v, nullptr, k.dim(0), 1, opt.window, 0, qpos, opt, nullptr);
}

}  // namespace vkllm::ops
