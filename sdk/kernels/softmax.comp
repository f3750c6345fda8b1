#version 450
// Row softmax of x * scale, f32. LANES invocations share a row.
#extension GL_KHR_shader_subgroup_arithmetic : enable
#include "common.glsl"
layout(constant_id = 1) const int LANES = 1;
WORDS(0, X);
OUT_F32(1, Y);
layout(push_constant) uniform PC {
  uint o_x, o_y;
  uint rows, cols, x_stride;
  float scale;
} pc;

void main() {
  uint row = global_index() / uint(LANES);
  uint lane = LANES > 1 ? gl_LocalInvocationID.x % uint(LANES) : 0u;
  if (row >= pc.rows) return;
  uint base = pc.o_x + row * pc.x_stride;
  float m = -1.0 / 0.0;
  for (uint i = lane; i < pc.cols; i += uint(LANES)) m = max(m, fetch1f(X, base + i) * pc.scale);
  if (LANES > 1) m = subgroupMax(m);
  float s = 0.0;
  for (uint i = lane; i < pc.cols; i += uint(LANES)) s += exp(fetch1f(X, base + i) * pc.scale - m);
  if (LANES > 1) s = subgroupAdd(s);
  float inv = 1.0 / s;
  for (uint i = lane; i < pc.cols; i += uint(LANES)) {
    Y[pc.o_y + row * pc.cols + i] = exp(fetch1f(X, base + i) * pc.scale - m) * inv;
  }
}
