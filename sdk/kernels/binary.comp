#version 450
// y = a (op) b with 4-D broadcasting through strides (a stride of 0 repeats), f32.
#include "common.glsl"
layout(constant_id = 1) const int OP = 0;  // 0 add, 1 mul, 2 sub, 3 div
WORDS(0, A);
WORDS(1, B);
OUT_F32(2, Y);
layout(push_constant) uniform PC {
  uint o_a, o_b, o_y;
  uint n, d1, d2, d3;
  uint sa0, sa1, sa2, sa3;
  uint sb0, sb1, sb2, sb3;
} pc;

void main() {
  uint g = global_index();
  if (g >= pc.n) return;
  uint i = g;
  uint i3 = i % pc.d3; i /= pc.d3;
  uint i2 = i % pc.d2; i /= pc.d2;
  uint i1 = i % pc.d1; uint i0 = i / pc.d1;
  float a = fetch1f(A, pc.o_a + i0 * pc.sa0 + i1 * pc.sa1 + i2 * pc.sa2 + i3 * pc.sa3);
  float b = fetch1f(B, pc.o_b + i0 * pc.sb0 + i1 * pc.sb1 + i2 * pc.sb2 + i3 * pc.sb3);
  float y;
  if (OP == 0) y = a + b;
  else if (OP == 1) y = a * b;
  else if (OP == 2) y = a - b;
  else y = a / b;
  Y[pc.o_y + g] = y;
}
