#version 450
// Elementwise activations over rows: y[r, c] = f(a[r, c]) (* b[r, c] when GATED), then * scale.
// a and b are [rows, cols] views with their own row strides; y is contiguous.
#include "common.glsl"
layout(constant_id = 1) const int OP = 0;  // 0 identity, 1 silu, 2 gelu (erf), 3 gelu_tanh,
                                           // 4 relu, 5 tanh, 6 softcap (cap*tanh(x/cap)),
                                           // 7 sigmoid, 8 exp, 9 quick_gelu
                                           // (x * sigmoid(1.702 x), CLIP-style towers)
layout(constant_id = 2) const bool GATED = false;
WORDS(0, A);
WORDS(1, B);
OUT_F32(2, Y);
layout(push_constant) uniform PC {
  uint o_a, o_b, o_y;
  uint rows, cols, stride_a, stride_b;
  float scale, param;
} pc;

// erf with |error| < 1.2e-7 (Numerical Recipes erfc, Chebyshev fit).
float erf_approx(float x) {
  float z = abs(x);
  float t = 1.0 / (1.0 + 0.5 * z);
  float r = t * exp(-z * z - 1.26551223 + t * (1.00002368 + t * (0.37409196 + t * (0.09678418 +
            t * (-0.18628806 + t * (0.27886807 + t * (-1.13520398 + t * (1.48851587 +
            t * (-0.82215223 + t * 0.17087277)))))))));
  return x >= 0.0 ? 1.0 - r : r - 1.0;
}

float tanh_safe(float x) { return tanh(clamp(x, -15.0, 15.0)); }

float act(float x) {
  if (OP == 1) return x / (1.0 + exp(-x));
  if (OP == 2) return 0.5 * x * (1.0 + erf_approx(x * 0.70710678118654752));
  if (OP == 3) return 0.5 * x * (1.0 + tanh_safe(0.79788456080286536 * (x + 0.044715 * x * x * x)));
  if (OP == 4) return max(x, 0.0);
  if (OP == 5) return tanh_safe(x);
  if (OP == 6) return pc.param * tanh_safe(x / pc.param);
  if (OP == 7) return 1.0 / (1.0 + exp(-x));
  if (OP == 8) return exp(x);
  if (OP == 9) return x / (1.0 + exp(-1.702 * x));
  return x;
}

void main() {
  uint g = global_index();
  if (g >= pc.rows * pc.cols) return;
  uint r = g / pc.cols, c = g % pc.cols;
  float y = act(fetch1f(A, pc.o_a + r * pc.stride_a + c));
  if (GATED) y *= fetch1f(B, pc.o_b + r * pc.stride_b + c);
  Y[pc.o_y + g] = y * pc.scale;
}
