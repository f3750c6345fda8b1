#version 450
// Attention, flash style: each invocation owns one (query token, query head, key split) and
// streams its keys with an online softmax, so no score matrix is ever stored.
//
// Keys come from the paged KV cache (PAGED: pools [slots, Hkv, D] addressed through the
// sequence's block table, -1 = block dropped; f16, or with BITS 8/4 packed signed integers with
// one f32 scale per GROUP values, as kv_write.comp stores them) or from dense tensors [Tk, Hkv, D]
// (KV_F16 false: f32 with strides). Key j is the token at sequence index j. Visibility of key j to
// a query at sequence index p (qpos):
//   RESTRICT: j must lie in the query's span (vision windows / per-image attention);
//   CAUSAL:   j <= p, or j in the query's span when BIDIR (image tokens see their whole image);
//   window:   p - j < window when window > 0 (sliding-window layers), or j < sink (attention
//             sinks: the first tokens stay visible under max_kv_size).
// Spans are [start, end) intervals of sequence indexes. Scores are q.k * scale, soft-capped
// as cap * tanh(s / cap) when SOFTCAP. GQA: query head h reads kv head h / (Hq / Hkv).
// With SPLIT the keys are divided among `splits` invocations that write unnormalised partial
// results (acc, m, l) for attention_combine; otherwise the output is written directly.
// With QT > 1 an invocation owns QT consecutive queries of one head and loads each key and value
// row once for all of them (prefill); neighbouring invocations take neighbouring query tiles of
// the same head, so they read the same rows.
// Several sequences in one pass (n_parts > 0, paged): PARTS holds one row per sequence (first
// query row, query rows, offset of its block table in TABLE, its keys kv_len); query tiles never
// straddle two sequences, and spans with three columns (start, end, part) apply to their own
// sequence only.
#include "common.glsl"
layout(constant_id = 1) const int HEAD_DIM = 64;
layout(constant_id = 2) const bool PAGED = true;
layout(constant_id = 3) const bool CAUSAL = true;
layout(constant_id = 4) const bool RESTRICT = false;
layout(constant_id = 5) const bool BIDIR = false;
layout(constant_id = 6) const bool SOFTCAP = false;
layout(constant_id = 7) const bool SPLIT = false;
layout(constant_id = 8) const int BITS = 16;
layout(constant_id = 9) const int GROUP = 32;
layout(constant_id = 10) const int QT = 1;

TEXELS(0, Q);
TEXELS(1, K);
TEXELS(2, V);
WORDS(3, TABLE);
WORDS(4, QPOS);
WORDS(5, SPANS);
OUT_F32(6, O);
OUT_F32(7, ML);
WORDS(8, KS);
WORDS(9, VS);
WORDS(10, PARTS);
layout(push_constant) uniform PC {
  uint o_q, o_k, o_v, o_table, o_qpos, o_spans, o_o, o_ml, o_ks, o_vs, o_parts;
  uint T, Hq, Hkv, kv_len, block_size;
  uint q_row, q_head, k_row, k_head, v_row, v_head;
  uint window, n_spans, splits, chunk;
  float scale, softcap;
  uint sink;
  uint n_parts, tiles, span_cols;
} pc;

const int NV = HEAD_DIM / 4;  // vec4s per head
const bool QUANT = PAGED && BITS < 16;
const int PER_WORD = 32 / BITS;

// Texel index of key/value row (slot, head) given word offsets.
uint kv_texel(uint o, uint slot, uint head, uint row_stride, uint head_stride) {
  if (PAGED) return (o + (slot * pc.Hkv + head) * uint(HEAD_DIM / PER_WORD)) / 4u;
  return (o + slot * row_stride + head * head_stride) / 4u;
}

// Row of a quantized pool as unscaled integers (the caller applies each group's scale once
// per group, not per value).
void load_row_q(usamplerBuffer B, uint texel, out vec4 r[NV]) {
  // One loop over the output vec4s (nested loops writing r[4 * i + c] defeat unrolling on
  // llvmpipe and turn r into scratch memory).
  [[unroll]] for (int i = 0; i < NV; ++i) {
    if (BITS == 8) {
      uint w = fetch4(B, texel + uint(i / 4))[i % 4];
      r[i] = vec4(ivec4(uvec4(w << 24, w << 16, w << 8, w)) >> 24);
    } else {
      uint w = fetch4(B, texel + uint(i / 8))[(i / 2) % 4] >> (16 * (i % 2));
      r[i] = vec4(uvec4(w, w >> 4, w >> 8, w >> 12) & 0xfu) - 8.0;
    }
  }
}

void load_row(usamplerBuffer B, uint texel, out vec4 r[NV]) {
  if (PAGED) {
    [[unroll]] for (int i = 0; i < NV / 2; ++i) {
      uvec4 t = fetch4(B, texel + uint(i));
      r[2 * i] = vec4(unpackHalf2x16(t.x), unpackHalf2x16(t.y));
      r[2 * i + 1] = vec4(unpackHalf2x16(t.z), unpackHalf2x16(t.w));
    }
  } else {
    [[unroll]] for (int i = 0; i < NV; ++i) r[i] = fetch4f(B, texel + uint(i));
  }
}

// The key range [j0, j1) a query at sequence index qpos of sequence `part` (with kv_len keys)
// may see within this split, and the first key of its window.
void key_range(int qpos, int part, int kv_len, uint split, out int j0, out int j1,
               out int wstart) {
  int qs = -1, qe = -1;
  for (uint s = 0u; s < pc.n_spans; ++s) {
    uint at = pc.o_spans + pc.span_cols * s;
    if (pc.span_cols == 3u && fetch1i(SPANS, at + 2u) != part) continue;
    int a = fetch1i(SPANS, at), b = fetch1i(SPANS, at + 1u);
    if (qpos >= a && qpos < b) {
      qs = a;
      qe = b;
    }
  }
  j0 = SPLIT ? int(split * pc.chunk) : 0;
  j1 = SPLIT ? min(kv_len, j0 + int(pc.chunk)) : kv_len;
  if (CAUSAL) j1 = min(j1, max(qpos + 1, (BIDIR && qs >= 0) ? qe : qpos + 1));
  wstart = pc.window > 0u ? qpos - int(pc.window) + 1 : 0;
  if (pc.window > 0u && pc.sink == 0u) j0 = max(j0, wstart);
  if (RESTRICT) {
    if (qs < 0) {
      j1 = j0;  // a query outside every span sees nothing
    } else {
      j0 = max(j0, qs);
      j1 = min(j1, qe);
    }
  }
}

void main() {
  uint g = global_index();
  uint nsplit = SPLIT ? pc.splits : 1u;
  uint ntiles = pc.tiles;
  if (g >= ntiles * pc.Hq * nsplit) return;
  uint split = g % nsplit;
  uint th = g / nsplit;
  uint h = th / ntiles, tile = th % ntiles;
  uint hk = h / (pc.Hq / pc.Hkv);
  // The tile's sequence: its query rows [t0, tend), block table and keys.
  uint t0 = tile * uint(QT), tend = pc.T, table = pc.o_table;
  int part = 0, kv_len = int(pc.kv_len);
  if (pc.n_parts > 0u) {
    uint first = 0u;
    for (uint p = 0u; p < pc.n_parts; ++p) {
      uint at = pc.o_parts + 4u * p;
      uint row = uint(fetch1i(PARTS, at)), rows = uint(fetch1i(PARTS, at + 1u));
      uint n = (rows + uint(QT) - 1u) / uint(QT);
      if (tile < first + n) {
        part = int(p);
        t0 = row + (tile - first) * uint(QT);
        tend = row + rows;
        table += uint(fetch1i(PARTS, at + 2u));
        kv_len = fetch1i(PARTS, at + 3u);
        break;
      }
      first += n;
    }
  }

  // Each query's key range; the loop runs over their union.
  int j0[QT], j1[QT], ws[QT];
  int lo = kv_len, hi = 0, wstart = 0;
  [[unroll]] for (int u = 0; u < QT; ++u) {
    int w;
    if (t0 + uint(u) < tend) {
      key_range(fetch1i(QPOS, pc.o_qpos + t0 + uint(u)), part, kv_len, split, j0[u], j1[u], w);
    } else {
      j0[u] = 0;
      j1[u] = 0;
      w = 0;
    }
    if (j0[u] < j1[u]) {
      lo = min(lo, j0[u]);
      hi = max(hi, j1[u]);
    }
    ws[u] = w;
    wstart = u == 0 ? w : min(wstart, w);
  }

  vec4 q[QT * NV];
  [[unroll]] for (int x = 0; x < QT * NV; ++x) {
    uint t = min(t0 + uint(x / NV), tend - 1u);
    q[x] = fetch4f(Q, (pc.o_q + t * pc.q_row + h * pc.q_head) / 4u + uint(x % NV)) * pc.scale;
  }
  vec4 acc[QT * NV];
  [[unroll]] for (int x = 0; x < QT * NV; ++x) acc[x] = vec4(0.0);
  float m[QT], l[QT];
  [[unroll]] for (int u = 0; u < QT; ++u) {
    m[u] = -1.0 / 0.0;
    l[u] = 0.0;
  }

  for (int j = lo; j < hi; ++j) {
    if (j >= int(pc.sink) && j < wstart) {  // between the sinks and the window: skip ahead
      j = wstart - 1;
      continue;
    }
    uint slot = uint(j);
    if (PAGED) {
      int blk = fetch1i(TABLE, table + uint(j) / pc.block_size);
      if (blk < 0) {  // dropped block (outside a window): skip to the next block
        j = int((uint(j) / pc.block_size + 1u) * pc.block_size) - 1;
        continue;
      }
      slot = uint(blk) * pc.block_size + uint(j) % pc.block_size;
    }
    vec4 k[NV];
    float s[QT];
    [[unroll]] for (int u = 0; u < QT; ++u) s[u] = 0.0;
    uint srow = (slot * pc.Hkv + hk) * uint(HEAD_DIM / GROUP);  // first scale of the row
    if (QUANT) {
      // Single loops over the vec4s with the group's scale picked up at group starts (nested
      // loops over groups defeat unrolling on llvmpipe and send q, k and acc to scratch).
      load_row_q(K, kv_texel(pc.o_k, slot, hk, 0u, 0u), k);
      float sc = 0.0;
      [[unroll]] for (int x = 0; x < QT * NV; ++x) {
        int i = x % NV;
        if ((4 * i) % GROUP == 0) sc = fetch1f(KS, pc.o_ks + srow + uint(4 * i / GROUP));
        s[x / NV] += dot(q[x], k[i]) * sc;
      }
    } else {
      load_row(K, kv_texel(pc.o_k, slot, hk, pc.k_row, pc.k_head), k);
      [[unroll]] for (int x = 0; x < QT * NV; ++x) s[x / NV] += dot(q[x], k[x % NV]);
    }
    // Online softmax, branch-free: queries that do not see key j keep their state.
    float corr[QT], p[QT];
    [[unroll]] for (int u = 0; u < QT; ++u) {
      bool seen = j >= j0[u] && j < j1[u] && (j < int(pc.sink) || j >= ws[u]);
      float su = s[u];
      if (SOFTCAP) su = pc.softcap * tanh(clamp(su / pc.softcap, -15.0, 15.0));
      float mn = seen ? max(m[u], su) : m[u];
      corr[u] = seen && m[u] > -1.0 / 0.0 ? exp(m[u] - mn) : 1.0;
      p[u] = seen ? exp(su - mn) : 0.0;
      l[u] = l[u] * corr[u] + p[u];
      m[u] = mn;
    }
    vec4 v[NV];
    if (QUANT)
      load_row_q(V, kv_texel(pc.o_v, slot, hk, 0u, 0u), v);
    else
      load_row(V, kv_texel(pc.o_v, slot, hk, pc.v_row, pc.v_head), v);
    if (QUANT) {
      float vsc = 0.0;
      [[unroll]] for (int x = 0; x < QT * NV; ++x) {
        int i = x % NV;
        if ((4 * i) % GROUP == 0) vsc = fetch1f(VS, pc.o_vs + srow + uint(4 * i / GROUP));
        acc[x] = acc[x] * corr[x / NV] + (p[x / NV] * vsc) * v[i];
      }
    } else {
      [[unroll]] for (int x = 0; x < QT * NV; ++x) acc[x] = acc[x] * corr[x / NV] + p[x / NV] * v[x % NV];
    }
  }

  [[unroll]] for (int u = 0; u < QT; ++u) {
    uint t = t0 + uint(u);
    if (t >= tend) break;
    uint pair = t * pc.Hq + h;  // output row: [T, Hq, D] or partials [T * Hq, splits, D]
    if (SPLIT) {
      uint idx = pair * nsplit + split;
      uint base = pc.o_o + idx * uint(HEAD_DIM);
      [[unroll]] for (int i = 0; i < NV; ++i) [[unroll]] for (int c = 0; c < 4; ++c)
          O[base + uint(4 * i + c)] = acc[u * NV + i][c];
      ML[pc.o_ml + 2u * idx] = m[u];
      ML[pc.o_ml + 2u * idx + 1u] = l[u];
    } else {
      float inv = l[u] > 0.0 ? 1.0 / l[u] : 0.0;  // a query that sees no key gets zeros
      uint base = pc.o_o + pair * uint(HEAD_DIM);
      [[unroll]] for (int i = 0; i < NV; ++i) [[unroll]] for (int c = 0; c < 4; ++c)
          O[base + uint(4 * i + c)] = acc[u * NV + i][c] * inv;
    }
  }
}
