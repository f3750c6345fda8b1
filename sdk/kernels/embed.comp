#version 450
// Embedding gather: y[t, :] = w[ids[t], :] * scale, dequantising any weight format.
// Dense rows (WTYPE 0 f32, 1 f16, 2 bf16) have a row stride; quantized rows (3: 8-bit,
// 4: 4-bit affine) have per-group scales and either stored biases or a zero point.
#include "common.glsl"
layout(constant_id = 1) const int WTYPE = 1;
layout(constant_id = 2) const int GROUP = 32;
layout(constant_id = 3) const bool QBIAS = false;
layout(constant_id = 4) const int ZP = 0;
layout(constant_id = 5) const bool SCALES_F32 = false;
WORDS(0, IDS);
WORDS(1, W);
WORDS(2, S);
WORDS(3, QB);
OUT_F32(4, Y);
layout(push_constant) uniform PC {
  uint o_ids, o_w, o_s, o_qb, o_y;
  uint T, D, vocab, w_stride;
  float scale;
} pc;

void main() {
  uint g = global_index();
  if (g >= pc.T * pc.D) return;
  uint t = g / pc.D, i = g % pc.D;
  int id = fetch1i(IDS, pc.o_ids + t);
  float v = 0.0;
  if (id >= 0 && uint(id) < pc.vocab) {
    uint row = uint(id);
    if (WTYPE == 0) {
      v = fetch1f(W, pc.o_w + row * pc.w_stride + i);
    } else if (WTYPE == 1) {
      v = fetch_half(W, pc.o_w, row * pc.w_stride + i);
    } else if (WTYPE == 2) {
      uint e = row * pc.w_stride + i;
      uint w = fetch1(W, pc.o_w + (e >> 1));
      v = (e & 1u) != 0u ? bf16_hi(w) : bf16_lo(w);
    } else {
      uint e = row * pc.D + i;
      uint q = WTYPE == 3 ? (fetch1(W, pc.o_w + (e >> 2)) >> ((e & 3u) * 8u)) & 0xffu
                          : (fetch1(W, pc.o_w + (e >> 3)) >> ((e & 7u) * 4u)) & 0xfu;
      uint gi = e / uint(GROUP);
      float s = SCALES_F32 ? fetch1f(S, pc.o_s + gi) : fetch_half(S, pc.o_s, gi);
      float b = QBIAS ? (SCALES_F32 ? fetch1f(QB, pc.o_qb + gi) : fetch_half(QB, pc.o_qb, gi))
                      : -float(ZP) * s;
      v = float(q) * s + b;
    }
  }
  Y[pc.o_y + g] = v * pc.scale;
}
