#version 450
// Strided 4-D copy with dtype conversion: y[i0,i1,i2,i3] = x[i0,i1,i2,i3].
// Source dtype: f32/f16/bf16/i32. Destination: f32, i32 (any strides) or f16 (contiguous;
// each invocation writes one word = two halves).
#include "common.glsl"
layout(constant_id = 1) const int SRC_DTYPE = 0;  // 0 f32, 1 f16, 2 bf16, 3 i32
layout(constant_id = 2) const int DST_DTYPE = 0;  // 0 f32, 1 f16, 3 i32
WORDS(0, X);
OUT_U32(1, Y);
layout(push_constant) uniform PC {
  uint o_x, o_y;
  uint n;              // elements
  uint d1, d2, d3;     // shape (d0 implied)
  uint sx0, sx1, sx2, sx3;
  uint sy0, sy1, sy2, sy3;
} pc;

uint src_offset(uint i) {
  uint i3 = i % pc.d3; i /= pc.d3;
  uint i2 = i % pc.d2; i /= pc.d2;
  uint i1 = i % pc.d1; uint i0 = i / pc.d1;
  return i0 * pc.sx0 + i1 * pc.sx1 + i2 * pc.sx2 + i3 * pc.sx3;
}

uint dst_offset(uint i) {
  uint i3 = i % pc.d3; i /= pc.d3;
  uint i2 = i % pc.d2; i /= pc.d2;
  uint i1 = i % pc.d1; uint i0 = i / pc.d1;
  return i0 * pc.sy0 + i1 * pc.sy1 + i2 * pc.sy2 + i3 * pc.sy3;
}

void main() {
  uint g = global_index();
  if (DST_DTYPE == 1) {
    uint i = g * 2u;
    if (i >= pc.n) return;
    float a = load_elem(X, pc.o_x, src_offset(i), SRC_DTYPE);
    float b = i + 1u < pc.n ? load_elem(X, pc.o_x, src_offset(i + 1u), SRC_DTYPE) : 0.0;
    Y[pc.o_y + g] = packHalf2x16(vec2(a, b));
    return;
  }
  if (g >= pc.n) return;
  uint so = src_offset(g);
  uint o = pc.o_y + dst_offset(g);
  if (DST_DTYPE == 3) {
    Y[o] = SRC_DTYPE == 3 ? texelFetch(X, int(pc.o_x + so)).x
                          : uint(int(load_elem(X, pc.o_x, so, SRC_DTYPE)));
  } else {
    Y[o] = SRC_DTYPE == 3 ? floatBitsToUint(float(int(texelFetch(X, int(pc.o_x + so)).x)))
                          : floatBitsToUint(load_elem(X, pc.o_x, so, SRC_DTYPE));
  }
}
