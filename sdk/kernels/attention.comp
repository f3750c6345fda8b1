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
layout(push_constant) uniform PC {
  uint o_q, o_k, o_v, o_table, o_qpos, o_spans, o_o, o_ml, o_ks, o_vs;
  uint T, Hq, Hkv, kv_len, block_size;
  uint q_row, q_head, k_row, k_head, v_row, v_head;
  uint window, n_spans, splits, chunk;
  float scale, softcap;
  uint sink;
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

void main() {
  uint g = global_index();
  uint nsplit = SPLIT ? pc.splits : 1u;
  if (g >= pc.T * pc.Hq * nsplit) return;
  uint split = g % nsplit;
  uint th = g / nsplit;
  uint t = th / pc.Hq, h = th % pc.Hq;
  uint hk = h / (pc.Hq / pc.Hkv);
  int qpos = fetch1i(QPOS, pc.o_qpos + t);

  // The query's span, if any.
  int qs = -1, qe = -1;
  for (uint s = 0u; s < pc.n_spans; ++s) {
    int a = fetch1i(SPANS, pc.o_spans + 2u * s), b = fetch1i(SPANS, pc.o_spans + 2u * s + 1u);
    if (qpos >= a && qpos < b) {
      qs = a;
      qe = b;
    }
  }

  // Key range of this invocation.
  int j0 = int(split * pc.chunk);
  int j1 = min(int(pc.kv_len), j0 + int(pc.chunk));
  if (!SPLIT) {
    j0 = 0;
    j1 = int(pc.kv_len);
  }
  if (CAUSAL) j1 = min(j1, max(qpos + 1, (BIDIR && qs >= 0) ? qe : qpos + 1));
  int wstart = pc.window > 0u ? qpos - int(pc.window) + 1 : 0;  // first key inside the window
  if (pc.window > 0u && pc.sink == 0u) j0 = max(j0, wstart);
  if (RESTRICT) {
    if (qs < 0) {
      j1 = j0;  // a query outside every span sees nothing
    } else {
      j0 = max(j0, qs);
      j1 = min(j1, qe);
    }
  }

  vec4 q[NV];
  uint qt = (pc.o_q + t * pc.q_row + h * pc.q_head) / 4u;
  [[unroll]] for (int i = 0; i < NV; ++i) q[i] = fetch4f(Q, qt + uint(i)) * pc.scale;
  vec4 acc[NV];
  [[unroll]] for (int i = 0; i < NV; ++i) acc[i] = vec4(0.0);
  float m = -1.0 / 0.0, l = 0.0;

  for (int j = j0; j < j1; ++j) {
    if (j >= int(pc.sink) && j < wstart) {  // between the sinks and the window: skip ahead
      j = wstart - 1;
      continue;
    }
    uint slot = uint(j);
    if (PAGED) {
      int blk = fetch1i(TABLE, pc.o_table + uint(j) / pc.block_size);
      if (blk < 0) {  // dropped block (outside a window): skip to the next block
        j = int((uint(j) / pc.block_size + 1u) * pc.block_size) - 1;
        continue;
      }
      slot = uint(blk) * pc.block_size + uint(j) % pc.block_size;
    }
    vec4 k[NV];
    float s = 0.0;
    uint srow = (slot * pc.Hkv + hk) * uint(HEAD_DIM / GROUP);  // first scale of the row
    if (QUANT) {
      // Single loops over the vec4s with the group's scale picked up at group starts (nested
      // loops over groups defeat unrolling on llvmpipe and send q, k and acc to scratch).
      load_row_q(K, kv_texel(pc.o_k, slot, hk, 0u, 0u), k);
      float sc = 0.0;
      [[unroll]] for (int i = 0; i < NV; ++i) {
        if ((4 * i) % GROUP == 0) sc = fetch1f(KS, pc.o_ks + srow + uint(4 * i / GROUP));
        s += dot(q[i], k[i]) * sc;
      }
    } else {
      load_row(K, kv_texel(pc.o_k, slot, hk, pc.k_row, pc.k_head), k);
      [[unroll]] for (int i = 0; i < NV; ++i) s += dot(q[i], k[i]);
    }
    if (SOFTCAP) s = pc.softcap * tanh(clamp(s / pc.softcap, -15.0, 15.0));
    vec4 v[NV];
    if (QUANT)
      load_row_q(V, kv_texel(pc.o_v, slot, hk, 0u, 0u), v);
    else
      load_row(V, kv_texel(pc.o_v, slot, hk, pc.v_row, pc.v_head), v);
    if (s > m) {
      float corr = exp(m - s);
      l *= corr;
      [[unroll]] for (int i = 0; i < NV; ++i) acc[i] *= corr;
      m = s;
    }
    float p = exp(s - m);
    l += p;
    if (QUANT) {
      float pv = 0.0;
      [[unroll]] for (int i = 0; i < NV; ++i) {
        if ((4 * i) % GROUP == 0) pv = p * fetch1f(VS, pc.o_vs + srow + uint(4 * i / GROUP));
        acc[i] += pv * v[i];
      }
    } else {
      [[unroll]] for (int i = 0; i < NV; ++i) acc[i] += p * v[i];
    }
  }

  if (SPLIT) {
    uint base = pc.o_o + g * uint(HEAD_DIM);
    [[unroll]] for (int i = 0; i < NV; ++i) [[unroll]] for (int c = 0; c < 4; ++c)
        O[base + uint(4 * i + c)] = acc[i][c];
    ML[pc.o_ml + 2u * g] = m;
    ML[pc.o_ml + 2u * g + 1u] = l;
  } else {
    float inv = l > 0.0 ? 1.0 / l : 0.0;  // a query that sees no key gets zeros
    uint base = pc.o_o + th * uint(HEAD_DIM);
    [[unroll]] for (int i = 0; i < NV; ++i) [[unroll]] for (int c = 0; c < 4; ++c)
        O[base + uint(4 * i + c)] = acc[i][c] * inv;
  }
}
