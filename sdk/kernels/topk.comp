#version 450
// Top-k of each row, two passes. Pass 1 (MERGE = false): invocation (row, chunk) keeps the k
// largest values of its chunk of the row. Pass 2 (MERGE = true): one invocation per row merges
// the chunk candidates. Ties keep the lower index (like torch.argmax). K <= 64.
#include "common.glsl"
layout(constant_id = 1) const bool MERGE = false;
layout(constant_id = 2) const int K = 1;
WORDS(0, X);    // pass 1: logits [rows, cols]; pass 2: candidate values [rows, chunks * K]
WORDS(1, XI);   // pass 2: candidate indices
OUT_F32(2, V);  // values [rows, chunks, K] (pass 1) or [rows, K]
OUT_U32(3, I);  // indices, same shape
layout(push_constant) uniform PC {
  uint o_x, o_xi, o_v, o_i;
  uint rows, cols, x_stride, chunk, chunks;
} pc;

void main() {
  uint g = global_index();
  uint nchunk = MERGE ? 1u : pc.chunks;
  if (g >= pc.rows * nchunk) return;
  uint row = g / nchunk, c = g % nchunk;
  float bv[K];
  int bi[K];
  [[unroll]] for (int j = 0; j < K; ++j) {
    bv[j] = -1.0 / 0.0;
    bi[j] = 0x7fffffff;
  }
  uint begin, end, base;
  if (MERGE) {
    begin = 0u;
    end = pc.chunks * uint(K);
    base = row * end;
  } else {
    begin = c * pc.chunk;
    end = min(begin + pc.chunk, pc.cols);
    base = row * pc.x_stride;
  }
  for (uint e = begin; e < end; ++e) {
    float v = fetch1f(X, pc.o_x + base + e);
    int idx = MERGE ? fetch1i(XI, pc.o_xi + base + e) : int(e);
    if (isnan(v)) continue;
    // insertion into the sorted list (descending value, ascending index on ties)
    if (v < bv[K - 1] || (v == bv[K - 1] && idx >= bi[K - 1])) continue;
    int j = K - 1;
    while (j > 0 && (v > bv[j - 1] || (v == bv[j - 1] && idx < bi[j - 1]))) {
      bv[j] = bv[j - 1];
      bi[j] = bi[j - 1];
      --j;
    }
    bv[j] = v;
    bi[j] = idx;
  }
  uint out_base = (MERGE ? row : row * pc.chunks + c) * uint(K);
  [[unroll]] for (int j = 0; j < K; ++j) {
    V[pc.o_v + out_base + uint(j)] = bv[j];
    I[pc.o_i + out_base + uint(j)] = uint(bi[j]);
  }
}
