// Quantized weights as the SDK stores them (sdk/quant.h, sdk/base/dtype.h QuantFormat): the low
// plane (LOW_BITS per value, row order, little-endian words), the high plane (HIGH_BITS), and
// per group either an f16/f32 scale and bias (direct) or an int8 scale and min times the f16 d
// and dmin of the value's 256-value super-block (SUPER):
//   w = (v - ZP) * scale + bias,  v = q or IQ4[q] (TABLE).
// The including kernel declares the spec constants GROUP, QBIAS, ZP, SCALES_F32, SUPER, TABLE
// and the "words" bindings S (scales), QB (biases or mins) and D (super-blocks).

const float IQ4[16] = float[16](-127.0, -104.0, -83.0, -65.0, -49.0, -35.0, -22.0, -10.0, 1.0,
                                13.0, 25.0, 38.0, 53.0, 69.0, 89.0, 113.0);

// Byte i (sign-extended) of an int8 array at word offset `off`.
int quant_byte(usamplerBuffer s, uint off, uint i) {
  return bitfieldExtract(int(texelFetch(s, int(off + (i >> 2u))).x), int((i & 3u) * 8u), 8);
}

float quant_direct(usamplerBuffer s, uint off, uint i) {
  return SCALES_F32 ? uintBitsToFloat(fetch1(s, off + i)) : fetch_half(s, off, i);
}

// Scale and bias of group gi (bias = -ZP * scale where the format stores none).
void group_params(uint o_s, uint o_qb, uint o_d, uint gi, out float sc, out float beta) {
  if (SUPER) {
    vec2 d = unpackHalf2x16(fetch1(D, o_d + gi / uint(256 / GROUP)));
    sc = d.x * float(quant_byte(S, o_s, gi));
    beta = QBIAS ? -d.y * float(quant_byte(QB, o_qb, gi)) : -float(ZP) * sc;
  } else {
    sc = quant_direct(S, o_s, gi);
    beta = QBIAS ? quant_direct(QB, o_qb, gi) : -float(ZP) * sc;
  }
}

vec4 quant_table(vec4 q) {
  return TABLE ? vec4(IQ4[int(q.x)], IQ4[int(q.y)], IQ4[int(q.z)], IQ4[int(q.w)]) : q;
}
