#version 450
// Rotary position embedding. x: [T, H, D] (strided view), y: contiguous [T, H, D], f32.
// Pair p (0 <= p < ROT/2) rotates elements (2p, 2p+1) (INTERLEAVED, GPT-J style) or
// (p, p + ROT/2) (half split, GPT-NeoX style) by angle pos[sec(p)][t] * freq[p], where the
// section sec(p) is the number of section bounds <= p: one position row for plain RoPE, three
// (temporal, height, width) for M-RoPE, two (height, width) for 2-D vision RoPE. freq holds the
// inverse frequencies with any scaling (linear, llama3, NTK) already applied. Elements past ROT
// are copied unchanged.
#include "common.glsl"
layout(constant_id = 1) const bool INTERLEAVED = false;
WORDS(0, X);
WORDS(1, POS);
WORDS(2, FREQ);
OUT_F32(3, Y);
layout(push_constant) uniform PC {
  uint o_x, o_pos, o_freq, o_y;
  uint T, H, D, rot;
  uint x_row, x_head;     // strides of x (tokens, heads)
  uint pos_row;           // stride between position rows (usually T)
  uint sec0, sec1, sec2;  // section bounds (pair indexes); beyond them use the last row
  float mscale;           // multiplies cos and sin (YaRN attention factor), 1 otherwise
} pc;

void main() {
  uint g = global_index();
  uint half_rot = pc.rot / 2u;
  uint per_head = half_rot + (pc.D - pc.rot);
  if (g >= pc.T * pc.H * per_head) return;
  uint t = g / (pc.H * per_head);
  uint rem = g % (pc.H * per_head);
  uint h = rem / per_head;
  uint p = rem % per_head;
  uint xb = pc.o_x + t * pc.x_row + h * pc.x_head;
  uint yb = pc.o_y + (t * pc.H + h) * pc.D;
  if (p >= half_rot) {  // pass-through dims
    uint i = pc.rot + (p - half_rot);
    Y[yb + i] = fetch1f(X, xb + i);
    return;
  }
  uint sec = (p >= pc.sec0 ? 1u : 0u) + (p >= pc.sec1 ? 1u : 0u) + (p >= pc.sec2 ? 1u : 0u);
  float pos = float(fetch1i(POS, pc.o_pos + sec * pc.pos_row + t));
  float angle = pos * fetch1f(FREQ, pc.o_freq + p);
  float c = cos(angle) * pc.mscale, s = sin(angle) * pc.mscale;
  uint i0 = INTERLEAVED ? 2u * p : p;
  uint i1 = INTERLEAVED ? 2u * p + 1u : p + half_rot;
  float a = fetch1f(X, xb + i0), b = fetch1f(X, xb + i1);
  Y[yb + i0] = a * c - b * s;
  Y[yb + i1] = b * c + a * s;
}
