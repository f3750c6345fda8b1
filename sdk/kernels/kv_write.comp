#version 450
// Writes keys and values of T new tokens into the paged cache: cache[slot[t], h, :] = x[t, h, :]
// converting f32 to the cache's f16. Each invocation writes one 32-bit word (two halves) of K
// and the same word of V. x are [T, Hkv, D] views with row and head strides; D is even.
#include "common.glsl"
WORDS(0, K);
WORDS(1, V);
WORDS(2, SLOTS);
OUT_U32(3, KC);
OUT_U32(4, VC);
layout(push_constant) uniform PC {
  uint o_k, o_v, o_slots, o_kc, o_vc;
  uint T, H, D;
  uint k_row, k_head, v_row, v_head;
  uint slots;  // capacity in slots (skip out-of-range)
} pc;

void main() {
  uint g = global_index();
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
}
