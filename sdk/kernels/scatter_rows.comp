#version 450
// y[idx[i], :] = x[i, :] for each row i of x (rows with idx < 0 are skipped). f32, in place on y.
#include "common.glsl"
WORDS(0, X);
WORDS(1, IDX);
OUT_F32(2, Y);
layout(push_constant) uniform PC {
  uint o_x, o_idx, o_y;
  uint n, D, x_stride, y_stride, y_rows;
} pc;

void main() {
  uint g = global_index();
  if (g >= pc.n * pc.D) return;
  uint i = g / pc.D, c = g % pc.D;
  int r = fetch1i(IDX, pc.o_idx + i);
  if (r < 0 || uint(r) >= pc.y_rows) return;
  Y[pc.o_y + uint(r) * pc.y_stride + c] = fetch1f(X, pc.o_x + i * pc.x_stride + c);
}
