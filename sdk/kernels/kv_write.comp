#version 450
// Writes keys and values of T new tokens into the paged cache: cache[slot[t], h, :] = x[t, h, :].
// x are f32 [T, Hkv, D] views with row and head strides.
//
// BITS 16: f16 pools; each invocation converts one 32-bit word (two halves) of K and of V.
// BITS 8 / 4: pools of packed signed integers, GROUP values per f32 scale (symmetric:
// x ~ q * s, s = max|x| / QMAX, q = floor(x / s + 0.5) clamped to [-QMAX, QMAX]); each
// invocation quantizes one group of K and of V. 8-bit values are bytes (two's complement),
// 4-bit values nibbles holding q + 8, both in order from the low bits of each word.
#include "common.glsl"
layout(constant_id = 1) const int BITS = 16;
layout(constant_id = 2) const int GROUP = 32;
WORDS(0, K);
WORDS(1, V);
WORDS(2, SLOTS);
OUT_U32(3, KC);
OUT_U32(4, VC);
OUT_F32(5, KS);
OUT_F32(6, VS);
layout(push_constant) uniform PC {
  uint o_k, o_v, o_slots, o_kc, o_vc, o_ks, o_vs;
  uint T, H, D;
  uint k_row, k_head, v_row, v_head;
  uint slots;  // capacity in slots (skip out-of-range)
} pc;

const float QMAX = BITS == 8 ? 127.0 : 7.0;
const int PER_WORD = 32 / BITS;

// Scale of GROUP values of x starting at word offset `src`.
float group_scale(usamplerBuffer X, uint src) {
  float amax = 0.0;
  for (int i = 0; i < GROUP; ++i) amax = max(amax, abs(fetch1f(X, src + uint(i))));
  return amax / QMAX;
}

// Word w of the group: PER_WORD quantized values packed from the low bits.
uint pack_word(usamplerBuffer X, uint src, float inv, int w) {
  uint packed = 0u;
  [[unroll]] for (int j = 0; j < PER_WORD; ++j) {
    float q = clamp(floor(fetch1f(X, src + uint(w * PER_WORD + j)) * inv + 0.5), -QMAX, QMAX);
    uint bits = BITS == 8 ? (uint(int(q)) & 0xffu) : uint(int(q) + 8);
    packed |= bits << uint(j * BITS);
  }
  return packed;
}

void main() {
  uint g = global_index();
  if (BITS == 16) {
    uint words = pc.D / 2u;
    if (g >= pc.T * pc.H * words) return;
    uint t = g / (pc.H * words);
    uint rem = g % (pc.H * words);
    uint h = rem / words, w = rem % words;
    int slot = fetch1i(SLOTS, pc.o_slots + t);
    if (slot < 0 || uint(slot) >= pc.slots) return;
    uint kb = pc.o_k + t * pc.k_row + h * pc.k_head + 2u * w;
    uint vb = pc.o_v + t * pc.v_row + h * pc.v_head + 2u * w;
    uint dst = (uint(slot) * pc.H + h) * words + w;
    KC[pc.o_kc + dst] = packHalf2x16(vec2(fetch1f(K, kb), fetch1f(K, kb + 1u)));
    VC[pc.o_vc + dst] = packHalf2x16(vec2(fetch1f(V, vb), fetch1f(V, vb + 1u)));
    return;
  }
  uint groups = pc.D / uint(GROUP);
  if (g >= pc.T * pc.H * groups) return;
  uint t = g / (pc.H * groups);
  uint rem = g % (pc.H * groups);
  uint h = rem / groups, gi = rem % groups;
  int slot = fetch1i(SLOTS, pc.o_slots + t);
  if (slot < 0 || uint(slot) >= pc.slots) return;
  uint row = uint(slot) * pc.H + h;                          // (slot, head)
  uint dst = row * (pc.D / uint(PER_WORD)) + gi * uint(GROUP / PER_WORD);
  uint ksrc = pc.o_k + t * pc.k_row + h * pc.k_head + gi * uint(GROUP);
  float ks = group_scale(K, ksrc);
  float kinv = ks > 0.0 ? 1.0 / ks : 0.0;
  for (int w = 0; w < GROUP / PER_WORD; ++w) KC[pc.o_kc + dst + uint(w)] = pack_word(K, ksrc, kinv, w);
  KS[pc.o_ks + row * groups + gi] = ks;
  uint vsrc = pc.o_v + t * pc.v_row + h * pc.v_head + gi * uint(GROUP);
  float vs = group_scale(V, vsrc);
  float vinv = vs > 0.0 ? 1.0 / vs : 0.0;
  for (int w = 0; w < GROUP / PER_WORD; ++w) VC[pc.o_vc + dst + uint(w)] = pack_word(V, vsrc, vinv, w);
  VS[pc.o_vs + row * groups + gi] = vs;
}
