#version 450
// Runtime LoRA in one dispatch: y[m, n] += sum_j t[m, j] * b[n, j], t[m, j] = sum_k x[m, k] a[j, k]
// (the adapter's scale is folded into b).
//
// A workgroup owns LOCAL_X output rows of TM tokens. It first computes t for its tokens into
// shared memory (the rank is small: recomputing t per workgroup costs R*K per token, little
// beside the base matmul's N*K), then each invocation adds its row. One dispatch instead of
// two matmuls: on llvmpipe the fixed cost of a dispatch dominates these tiny products.
#include "common.glsl"

layout(constant_id = 1) const int TM = 1;
layout(constant_id = 2) const int RMAX = 8;  // shared t per token (>= R)

TEXELS(0, X);  // f32 rows, 16-byte aligned, stride a multiple of 4
TEXELS(1, A);  // f32 [R, a_stride], rows zero-padded to 32
WORDS(2, B);   // f32 [N, b_stride]
OUT_F32(3, Y);
layout(push_constant) uniform PC {
  uint o_x, o_a, o_b, o_y;
  uint M, N, K, R;
  uint x_stride, a_stride, b_stride, y_stride;
} pc;

shared float t[TM * RMAX];

// Word w of a texels binding.
float word(usamplerBuffer s, uint w) { return uintBitsToFloat(texelFetch(s, int(w >> 2u))[w & 3u]); }

void main() {
  const uint lid = gl_LocalInvocationID.x;
  const uint m0 = gl_WorkGroupID.z * uint(TM);
  const uint n0 = (gl_WorkGroupID.y * gl_NumWorkGroups.x + gl_WorkGroupID.x) * LOCAL_X;
  const uint K4 = pc.K / 4u;
  for (uint p = lid; p < uint(TM) * pc.R; p += LOCAL_X) {
    const uint m = p / pc.R, j = p % pc.R;
    float acc = 0.0;
    if (m0 + m < pc.M) {
      const uint xr = pc.o_x / 4u + (m0 + m) * (pc.x_stride / 4u);
      const uint ar = pc.o_a / 4u + j * (pc.a_stride / 4u);
      vec4 s = vec4(0.0);
      for (uint k = 0u; k < K4; ++k) s += fetch4f(X, xr + k) * fetch4f(A, ar + k);
      acc = s.x + s.y + s.z + s.w;
      for (uint k = K4 * 4u; k < pc.K; ++k)  // the tail (x's padding may hold anything)
        acc += word(X, pc.o_x + (m0 + m) * pc.x_stride + k) * word(A, pc.o_a + j * pc.a_stride + k);
    }
    t[m * uint(RMAX) + j] = acc;
  }
  barrier();
  const uint n = n0 + lid;
  if (n >= pc.N) return;
  const uint br = pc.o_b + n * pc.b_stride;
  [[unroll]] for (int m = 0; m < TM; ++m) {
    if (m0 + uint(m) >= pc.M) break;
    float s = 0.0;
    for (uint j = 0u; j < pc.R; ++j) s += t[uint(m) * uint(RMAX) + j] * fetch1f(B, br + j);
    Y[pc.o_y + (m0 + uint(m)) * pc.y_stride + n] += s;
  }
}
