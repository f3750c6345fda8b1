#version 450
// Merges the partial results of split-key attention: for each (token, head) and element d,
// out = sum_s e^(m_s - M) acc_s[d] / sum_s e^(m_s - M) l_s  with M = max_s m_s.
#include "common.glsl"
WORDS(0, PART);  // [T * Hq, splits, D]
WORDS(1, ML);    // [T * Hq, splits, 2]
OUT_F32(2, O);   // [T * Hq, D]
layout(push_constant) uniform PC {
  uint o_part, o_ml, o_o;
  uint rows, splits, D;
} pc;

void main() {
  uint g = global_index();
  if (g >= pc.rows * pc.D) return;
  uint r = g / pc.D, d = g % pc.D;
  float M = -1.0 / 0.0;
  for (uint s = 0u; s < pc.splits; ++s) M = max(M, fetch1f(ML, pc.o_ml + 2u * (r * pc.splits + s)));
  float num = 0.0, den = 0.0;
  if (M > -1.0 / 0.0) {
    for (uint s = 0u; s < pc.splits; ++s) {
      uint i = r * pc.splits + s;
      float ms = fetch1f(ML, pc.o_ml + 2u * i);
      if (ms == -1.0 / 0.0) continue;
      float w = exp(ms - M);
      num += w * fetch1f(PART, pc.o_part + i * pc.D + d);
      den += w * fetch1f(ML, pc.o_ml + 2u * i + 1u);
    }
  }
  O[pc.o_o + g] = den > 0.0 ? num / den : 0.0;
}
