#version 450
// y[m, n] = sum_k x[m, k] * w[n, k]  (+ bias[n]) (+ r[m, n])
//
// One invocation computes a TN x TM tile (TN weight rows, TM tokens) in registers, walking K in
// blocks of 32: each block's raw weight texels are loaded once per row and decoded 8 values at
// a time. Decode (M = 1) uses TM = 1; prefill uses larger TM so each weight load serves several
// tokens. With LANES > 1 (GPUs), the LANES invocations of a subgroup split the K blocks of one
// tile and reduce with subgroupAdd. With XSHARE (llvmpipe: a subgroup of 8 invocations, each
// with its own weight rows and the same tokens), the 8 lanes load the 8 texels of a block's x
// once between them and pass them around with subgroupShuffle: llvmpipe turns every texel fetch
// into a vector gather, so this cuts the gathers of x by 8 and leaves the weights' alone.
//
// Weight formats (WTYPE): 0 f32, 1 f16, 2 bf16 (dense rows, stride a multiple of 32, zero
// padded), 3 quantized (quant.glsl: a low plane of LOW_BITS 2, 4 or 8 per value, an optional
// high plane of HIGH_BITS, a scale and bias per GROUP of 16 or more values), so each group
// contributes  s * sum(v x) + beta * sum(x).
#extension GL_KHR_shader_subgroup_arithmetic : enable
#extension GL_KHR_shader_subgroup_shuffle : enable
#include "common.glsl"

layout(constant_id = 1) const int WTYPE = 1;
layout(constant_id = 2) const int TN = 4;
layout(constant_id = 3) const int TM = 1;
layout(constant_id = 4) const int GROUP = 32;
layout(constant_id = 5) const bool QBIAS = false;
layout(constant_id = 6) const int ZP = 0;
layout(constant_id = 7) const bool SCALES_F32 = false;
layout(constant_id = 8) const bool HAS_BIAS = false;
layout(constant_id = 9) const bool HAS_RESIDUAL = false;
layout(constant_id = 10) const int LANES = 1;
layout(constant_id = 11) const bool XSHARE = false;
layout(constant_id = 12) const int LOW_BITS = 4;
layout(constant_id = 13) const int HIGH_BITS = 0;
layout(constant_id = 14) const bool SUPER = false;
layout(constant_id = 15) const bool TABLE = false;

TEXELS(0, X);
TEXELS(1, W);
WORDS(2, H);
WORDS(3, S);
WORDS(4, QB);
WORDS(5, D);
WORDS(6, BIAS);
WORDS(7, R);
OUT_F32(8, Y);
#include "quant.glsl"
layout(push_constant) uniform PC {
  uint o_x, o_w, o_h, o_s, o_qb, o_d, o_bias, o_r, o_y;
  uint M, N, K;
  uint x_stride;   // floats between token rows (multiple of 4)
  uint w_stride;   // dense: elements between weight rows (multiple of 32); quant: unused
  uint y_stride;   // floats between output rows
  uint r_stride;   // floats between residual rows
} pc;

const bool QUANT = WTYPE >= 3;
const bool PART = QUANT && TM == 1;
// 16-byte texels per 32-value block (a 2-bit block is half a texel)
const int BLOCK_TEXELS = WTYPE == 0 ? 8 : (WTYPE == 1 || WTYPE == 2) ? 4 : LOW_BITS == 8 ? 2 : 1;
// Groups per 32-value block: 2 for groups of 16 (the K-quants' 16-value sub-blocks)
const int GPB = QUANT && GROUP < 32 ? 32 / GROUP : 1;

// Texel index of block kb of weight row n.
uint w_texel(uint n, uint kb) {
  if (QUANT && LOW_BITS == 2) return pc.o_w / 4u + (n * (pc.K / 32u) + kb) / 2u;
  if (QUANT) return pc.o_w / 4u + (n * (pc.K / 32u) + kb) * uint(BLOCK_TEXELS);
  uint per_row = WTYPE == 0 ? pc.w_stride / 4u : pc.w_stride / 8u;
  return pc.o_w / 4u + n * per_row + kb * uint(BLOCK_TEXELS);
}

vec4 half4(uint a, uint b) { return vec4(unpackHalf2x16(a), unpackHalf2x16(b)); }
vec4 bf4(uint a, uint b) { return vec4(bf16_lo(a), bf16_hi(a), bf16_lo(b), bf16_hi(b)); }
vec4 nib4(uint w) { return vec4(uvec4(w, w >> 4, w >> 8, w >> 12) & 0xfu); }
vec4 byte4(uint w) { return vec4(uvec4(w, w >> 8, w >> 16, w >> 24) & 0xffu); }
vec4 crumb4(uint w) { return vec4(uvec4(w, w >> 2, w >> 4, w >> 6) & 3u); }
vec4 bit4(uint w) { return vec4(uvec4(w, w >> 1, w >> 2, w >> 3) & 1u); }

// acc + dot(a, x) + dot(b, y) as a chain of fused multiply-adds (llvmpipe keeps dot() as separate
// multiplies and adds).
float fma8(vec4 a, vec4 x, vec4 b, vec4 y, float acc) {
  acc = fma(a.x, x.x, acc);
  acc = fma(a.y, x.y, acc);
  acc = fma(a.z, x.z, acc);
  acc = fma(a.w, x.w, acc);
  acc = fma(b.x, y.x, acc);
  acc = fma(b.y, y.y, acc);
  acc = fma(b.z, y.z, acc);
  return fma(b.w, y.w, acc);
}

// Values 8s .. 8s+7 of a block from its raw texels (unscaled for quantized formats; `hsel` picks
// a 2-bit block's half of its texel, `hi` holds the block's high-plane words).
void decode8(uvec4 raw[8], uint hsel, uvec2 hi, int s, out vec4 a, out vec4 b) {
  if (WTYPE == 0) {
    a = uintBitsToFloat(raw[2 * s]);
    b = uintBitsToFloat(raw[2 * s + 1]);
  } else if (WTYPE == 1) {
    uvec4 t = raw[s];
    a = half4(t.x, t.y);
    b = half4(t.z, t.w);
  } else if (WTYPE == 2) {
    uvec4 t = raw[s];
    a = bf4(t.x, t.y);
    b = bf4(t.z, t.w);
  } else if (LOW_BITS == 8) {
    uvec4 t = raw[s / 2];
    uint w0 = (s & 1) == 0 ? t.x : t.z;
    uint w1 = (s & 1) == 0 ? t.y : t.w;
    a = byte4(w0);
    b = byte4(w1);
  } else if (LOW_BITS == 4) {
    uint w = raw[0][s];
    a = nib4(w);
    b = nib4(w >> 16);
  } else {
    uint w = raw[0][hsel * 2u + uint(s / 2)] >> (16 * (s & 1));
    a = crumb4(w);
    b = crumb4(w >> 8);
  }
  if (QUANT && HIGH_BITS == 1) {
    uint h = hi.x >> (8 * s);
    a += bit4(h) * float(1 << LOW_BITS);
    b += bit4(h >> 4) * float(1 << LOW_BITS);
  } else if (QUANT && HIGH_BITS == 2) {
    uint h = hi[s / 2] >> (16 * (s & 1));
    a += crumb4(h) * float(1 << LOW_BITS);
    b += crumb4(h >> 8) * float(1 << LOW_BITS);
  }
  if (QUANT && TABLE) {
    a = quant_table(a);
    b = quant_table(b);
  }
}

// Group index of values 8s.. of block kb in row `row`.
uint group_of(uint row, uint kb, int s) {
  return row * (pc.K / uint(GROUP)) + (kb * 32u + uint(s) * 8u) / uint(GROUP);
}

void main() {
  uint tile = global_index() / uint(LANES);
  uint lane = LANES > 1 ? gl_LocalInvocationID.x % uint(LANES) : 0u;
  uint n0 = tile * uint(TN);
  uint m0 = gl_WorkGroupID.z * uint(TM);
  // With XSHARE every lane of the subgroup takes part in the shuffles: none may leave early.
  if (n0 >= pc.N && !XSHARE) return;

  float acc[TN][TM];
  [[unroll]] for (int n = 0; n < TN; ++n)
    [[unroll]] for (int m = 0; m < TM; ++m) acc[n][m] = 0.0;

  uint nblocks = (pc.K + 31u) / 32u;
  for (uint kb = lane; kb < nblocks; kb += uint(LANES)) {
    uvec4 raw[TN][8];
    uvec2 hi[TN];
    uint hsel = 0u;
    [[unroll]] for (int n = 0; n < TN; ++n) {
      uint row = min(n0 + uint(n), pc.N - 1u);
      uint t = w_texel(row, kb);
      [[unroll]] for (int i = 0; i < BLOCK_TEXELS; ++i) raw[n][i] = fetch4(W, t + uint(i));
      uint bi = row * (pc.K / 32u) + kb;
      if (QUANT && LOW_BITS == 2) hsel = bi & 1u;  // the same for every row: K / 32 is even
      hi[n] = uvec2(0u);
      [[unroll]] for (int i = 0; i < HIGH_BITS; ++i)
        hi[n][i] = fetch1(H, pc.o_h + bi * uint(HIGH_BITS) + uint(i));
    }
    // Quantized decode (TM = 1) sums v * x per group and scales once; with several tokens the
    // weights are dequantized as decoded so the products go straight into acc (fewer live
    // registers: llvmpipe spills a second TN x TM array).
    float part[TN][TM];
    float xsum[TM];
    float wscale[TN][GPB], wbeta[TN][GPB];
    if (QUANT && !PART) {
      [[unroll]] for (int n = 0; n < TN; ++n) {
        uint row = min(n0 + uint(n), pc.N - 1u);
        [[unroll]] for (int g = 0; g < GPB; ++g)
          group_params(pc.o_s, pc.o_qb, pc.o_d, group_of(row, kb, g * 4 / GPB), wscale[n][g],
                       wbeta[n][g]);
      }
    }
    [[unroll]] for (int m = 0; m < TM; ++m) {
      xsum[m] = 0.0;
      [[unroll]] for (int n = 0; n < TN; ++n) part[n][m] = 0.0;
    }
    bool tail = (kb + 1u) * 32u > pc.K;
    // XSHARE: this lane's texel of the block's x for each token (lane j holds x[k0+4j .. +3]).
    uvec4 xlane[TM];
    if (XSHARE) {
      uint k = kb * 32u + gl_SubgroupInvocationID * 4u;
      [[unroll]] for (int m = 0; m < TM; ++m) {
        uint xt = (pc.o_x + min(m0 + uint(m), pc.M - 1u) * pc.x_stride + k) / 4u;
        xlane[m] = fetch4(X, xt);
        if (tail) xlane[m] &= uvec4(lessThan(uvec4(k) + uvec4(0, 1, 2, 3), uvec4(pc.K))) * 0xffffffffu;
      }
    }
    [[unroll]] for (int s = 0; s < 4; ++s) {
      vec4 xa[TM], xb[TM];
      uint k = kb * 32u + uint(s) * 8u;
      [[unroll]] for (int m = 0; m < TM; ++m) {
        if (XSHARE) {
          xa[m] = uintBitsToFloat(subgroupShuffle(xlane[m], uint(2 * s)));
          xb[m] = uintBitsToFloat(subgroupShuffle(xlane[m], uint(2 * s + 1)));
        } else {
          uint xt = (pc.o_x + min(m0 + uint(m), pc.M - 1u) * pc.x_stride + k) / 4u;
          xa[m] = fetch4f(X, xt);
          xb[m] = fetch4f(X, xt + 1u);
          if (tail) {  // zero x beyond K by masking bits (NaN-safe, unlike arithmetic)
            uvec4 ma = uvec4(lessThan(uvec4(k) + uvec4(0, 1, 2, 3), uvec4(pc.K))) * 0xffffffffu;
            uvec4 mb = uvec4(lessThan(uvec4(k) + uvec4(4, 5, 6, 7), uvec4(pc.K))) * 0xffffffffu;
            xa[m] = uintBitsToFloat(floatBitsToUint(xa[m]) & ma);
            xb[m] = uintBitsToFloat(floatBitsToUint(xb[m]) & mb);
          }
        }
        if (PART) xsum[m] += dot(xa[m] + xb[m], vec4(1.0));
      }
      [[unroll]] for (int n = 0; n < TN; ++n) {
        vec4 wa, wb;
        decode8(raw[n], hsel, hi[n], s, wa, wb);
        if (QUANT && !PART) {
          int g = s * GPB / 4;
          wa = fma(wa, vec4(wscale[n][g]), vec4(wbeta[n][g]));
          wb = fma(wb, vec4(wscale[n][g]), vec4(wbeta[n][g]));
        }
        [[unroll]] for (int m = 0; m < TM; ++m) {
          if (PART)
            part[n][m] = fma8(wa, xa[m], wb, xb[m], part[n][m]);
          else
            acc[n][m] = fma8(wa, xa[m], wb, xb[m], acc[n][m]);
        }
      }
      // The end of a group: its sums times its scale and bias.
      if (PART && (s + 1) % (4 / GPB) == 0) {
        [[unroll]] for (int n = 0; n < TN; ++n) {
          float sc, beta;
          group_params(pc.o_s, pc.o_qb, pc.o_d, group_of(min(n0 + uint(n), pc.N - 1u), kb, s),
                       sc, beta);
          [[unroll]] for (int m = 0; m < TM; ++m) {
            acc[n][m] += sc * part[n][m] + beta * xsum[m];
            part[n][m] = 0.0;
          }
        }
        [[unroll]] for (int m = 0; m < TM; ++m) xsum[m] = 0.0;
      }
    }
  }

  if (n0 >= pc.N) return;
  if (LANES > 1) {
    [[unroll]] for (int n = 0; n < TN; ++n)
      [[unroll]] for (int m = 0; m < TM; ++m) acc[n][m] = subgroupAdd(acc[n][m]);
    if (lane != 0u) return;
  }
  [[unroll]] for (int n = 0; n < TN; ++n) {
    uint row = n0 + uint(n);
    if (row >= pc.N) break;
    float b = HAS_BIAS ? fetch1f(BIAS, pc.o_bias + row) : 0.0;
    [[unroll]] for (int m = 0; m < TM; ++m) {
      uint tok = m0 + uint(m);
      if (tok >= pc.M) break;
      float y = acc[n][m] + b;
      if (HAS_RESIDUAL) y += fetch1f(R, pc.o_r + tok * pc.r_stride + row);
      Y[pc.o_y + tok * pc.y_stride + row] = y;
    }
  }
}
