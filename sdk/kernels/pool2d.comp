#version 450
// Average pooling of a token grid: x: [H, W, D] f32 -> y: [H/K, W/K, D], K x K windows.
#include "common.glsl"
WORDS(0, X);
OUT_F32(1, Y);
layout(push_constant) uniform PC {
  uint o_x, o_y;
  uint H, W, D, K;
} pc;

void main() {
  uint g = global_index();
  uint oh = pc.H / pc.K, ow = pc.W / pc.K;
  if (g >= oh * ow * pc.D) return;
  uint d = g % pc.D, cell = g / pc.D;
  uint oy = cell / ow, ox = cell % ow;
  float s = 0.0;
  for (uint ky = 0u; ky < pc.K; ++ky)
    for (uint kx = 0u; kx < pc.K; ++kx)
      s += fetch1f(X, pc.o_x + ((oy * pc.K + ky) * pc.W + ox * pc.K + kx) * pc.D + d);
  Y[pc.o_y + g] = s / float(pc.K * pc.K);
}
