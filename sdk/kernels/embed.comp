#version 450
// Embedding gather: y[t, :] = w[ids[t], :] * scale, dequantising any weight format.
// Dense rows (WTYPE 0 f32, 1 f16, 2 bf16) have a row stride; quantized rows (3) are stored as
// quant.glsl describes.
#include "common.glsl"
layout(constant_id = 1) const int WTYPE = 1;
layout(constant_id = 2) const int GROUP = 32;
layout(constant_id = 3) const bool QBIAS = false;
layout(constant_id = 4) const int ZP = 0;
layout(constant_id = 5) const bool SCALES_F32 = false;
layout(constant_id = 6) const int LOW_BITS = 4;
layout(constant_id = 7) const int HIGH_BITS = 0;
layout(constant_id = 8) const bool SUPER = false;
layout(constant_id = 9) const bool TABLE = false;
WORDS(0, IDS);
WORDS(1, W);
WORDS(2, H);
WORDS(3, S);
WORDS(4, QB);
WORDS(5, D);
OUT_F32(6, Y);
#include "quant.glsl"
layout(push_constant) uniform PC {
  uint o_ids, o_w, o_h, o_s, o_qb, o_d, o_y;
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
      uint lo = e * uint(LOW_BITS), q = bitfieldExtract(fetch1(W, pc.o_w + lo / 32u), int(lo % 32u), LOW_BITS);
      if (HIGH_BITS > 0) {
        uint hb = e * uint(HIGH_BITS);
        q |= bitfieldExtract(fetch1(H, pc.o_h + hb / 32u), int(hb % 32u), HIGH_BITS) << LOW_BITS;
      }
      float s, b;
      group_params(pc.o_s, pc.o_qb, pc.o_d, e / uint(GROUP), s, b);
      v = (TABLE ? IQ4[q] : float(q)) * s + b;
    }
  }
  Y[pc.o_y + g] = v * pc.scale;
}
