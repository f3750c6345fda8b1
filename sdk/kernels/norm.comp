#version 450
// Row normalisation, f32: h = x (+ r); y = norm(h) * (w + w_offset) (+ b) (+ r after)
//   RMS:   norm(h) = h / sqrt(mean(h^2) + eps)
//   LAYER: norm(h) = (h - mean(h)) / sqrt(var(h) + eps)
// LANES invocations share a row (subgroup reduction). With HAS_RES the sum h is also written to
// H (fused residual add before the norm); with RES_AFTER, r is added to y instead (a norm on a
// branch's output before its residual add, as Gemma's post-norms). Rows of x are grouped:
// row = outer * inner + i lies at outer * x_outer + i * x_stride (a strided [.., inner, dim]
// view such as the query heads of a fused projection); with PER_ROW_WEIGHT row i of the group
// uses weight row i (per-head norm weights).
#extension GL_KHR_shader_subgroup_arithmetic : enable
#include "common.glsl"

layout(constant_id = 1) const bool LAYER = false;
layout(constant_id = 2) const bool HAS_WEIGHT = true;
layout(constant_id = 3) const bool HAS_BIAS = false;
layout(constant_id = 4) const bool HAS_RES = false;
layout(constant_id = 5) const int LANES = 1;
layout(constant_id = 6) const bool RES_AFTER = false;
layout(constant_id = 7) const bool PER_ROW_WEIGHT = false;

WORDS(0, X);
WORDS(1, R);
WORDS(2, Wt);
WORDS(3, B);
OUT_F32(4, Y);
OUT_F32(5, H);
layout(push_constant) uniform PC {
  uint o_x, o_r, o_w, o_b, o_y, o_h;
  uint rows, dim, x_stride, r_stride;
  float eps, w_offset;
  uint inner, x_outer;
} pc;

float reduce(float v) { return LANES > 1 ? subgroupAdd(v) : v; }

uint x_base(uint row) { return pc.o_x + (row / pc.inner) * pc.x_outer + (row % pc.inner) * pc.x_stride; }

float load_h(uint xb, uint row, uint i) {
  float v = fetch1f(X, xb + i);
  if (HAS_RES) v += fetch1f(R, pc.o_r + row * pc.r_stride + i);
  return v;
}

void main() {
  uint row = global_index() / uint(LANES);
  uint lane = LANES > 1 ? gl_LocalInvocationID.x % uint(LANES) : 0u;
  if (row >= pc.rows) return;
  uint xb = x_base(row);
  uint wb = pc.o_w + (PER_ROW_WEIGHT ? (row % pc.inner) * pc.dim : 0u);
  float sum = 0.0, sumsq = 0.0;
  for (uint i = lane; i < pc.dim; i += uint(LANES)) {
    float v = load_h(xb, row, i);
    sum += v;
    sumsq += v * v;
  }
  sum = reduce(sum);
  sumsq = reduce(sumsq);
  float n = float(pc.dim);
  float mean = LAYER ? sum / n : 0.0;
  // var = E[h^2] - mean^2 can cancel badly; recompute around the mean for layer norm.
  if (LAYER) {
    float c = 0.0;
    for (uint i = lane; i < pc.dim; i += uint(LANES)) {
      float d = load_h(xb, row, i) - mean;
      c += d * d;
    }
    sumsq = reduce(c);
  }
  float inv = inversesqrt(sumsq / n + pc.eps);
  for (uint i = lane; i < pc.dim; i += uint(LANES)) {
    float h = load_h(xb, row, i);
    float y = (h - mean) * inv;
    if (HAS_WEIGHT) y *= fetch1f(Wt, wb + i) + pc.w_offset;
    if (HAS_BIAS) y += fetch1f(B, pc.o_b + i);
    if (RES_AFTER) y += fetch1f(R, pc.o_r + row * pc.r_stride + i);
    Y[pc.o_y + row * pc.dim + i] = y;
    if (HAS_RES) H[pc.o_h + row * pc.dim + i] = h;
  }
}
