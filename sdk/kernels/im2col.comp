#version 450
// Patches of an image for a convolution whose stride equals its kernel (patch embedding):
// x: [C, H, W] f32 -> y: [(H/P) * (W/P), C * P * P], patch rows in raster order, each row in
// (c, ky, kx) order like a flattened conv weight [out, C, P, P].
#include "common.glsl"
WORDS(0, X);
OUT_F32(1, Y);
layout(push_constant) uniform PC {
  uint o_x, o_y;
  uint C, H, W, P;
} pc;

void main() {
  uint g = global_index();
  uint gw = pc.W / pc.P, gh = pc.H / pc.P;
  uint cols = pc.C * pc.P * pc.P;
  if (g >= gh * gw * cols) return;
  uint pidx = g / cols, col = g % cols;
  uint c = col / (pc.P * pc.P), ky = (col / pc.P) % pc.P, kx = col % pc.P;
  uint py = pidx / gw, px = pidx % gw;
  Y[pc.o_y + g] = fetch1f(X, pc.o_x + (c * pc.H + py * pc.P + ky) * pc.W + px * pc.P + kx);
}
