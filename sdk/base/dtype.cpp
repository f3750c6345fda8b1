#include "sdk/base/dtype.h"

#include <string>

#include "sdk/base/error.h"

namespace vkllm {

std::string_view dtype_name(Dtype dt) {
  switch (dt) {
    case Dtype::f32:
      return "f32";
    case Dtype::f16:
      return "f16";
    case Dtype::bf16:
      return "bf16";
    case Dtype::i32:
      return "i32";
    case Dtype::q8_0:
      return "q8_0";
    case Dtype::q4_0:
      return "q4_0";
    case Dtype::mlx4:
      return "mlx4";
    case Dtype::mlx8:
      return "mlx8";
    case Dtype::q4_1:
      return "q4_1";
    case Dtype::q5_0:
      return "q5_0";
    case Dtype::q5_1:
      return "q5_1";
    case Dtype::q2_k:
      return "q2_k";
    case Dtype::q3_k:
      return "q3_k";
    case Dtype::q4_k:
      return "q4_k";
    case Dtype::q5_k:
      return "q5_k";
    case Dtype::q6_k:
      return "q6_k";
    case Dtype::iq4_nl:
      return "iq4_nl";
    case Dtype::iq4_xs:
      return "iq4_xs";
  }
  return "?";
}

Dtype parse_dtype(std::string_view name) {
  std::string known;
  for (int i = 0; i <= int(Dtype::iq4_xs); ++i) {
    if (dtype_name(Dtype(i)) == name) return Dtype(i);
    known += (i ? ", " : "") + std::string(dtype_name(Dtype(i)));
  }
  throw InputError("unknown dtype '" + std::string(name) + "' (known: " + known + ")");
}

uint16_t f32_to_f16(float f) {
  uint32_t x = f32_bits(f);
  uint32_t sign = (x >> 16) & 0x8000u;
  uint32_t abs = x & 0x7fffffffu;
  if (abs > 0x7f800000u) return uint16_t(sign | 0x7e00u);   // NaN
  if (abs >= 0x477ff000u) return uint16_t(sign | 0x7c00u);  // overflow to inf (incl. rounding)
  if (abs < 0x38800000u) {                                  // subnormal or zero in f16
    if (abs < 0x33000000u) return uint16_t(sign);           // rounds to zero
    uint32_t mant = (abs & 0x7fffffu) | 0x800000u;
    int shift = 126 - int(abs >> 23);  // 14..24
    uint32_t half = mant >> shift;
    uint32_t rem = mant & ((1u << shift) - 1);
    uint32_t mid = 1u << (shift - 1);
    if (rem > mid || (rem == mid && (half & 1u))) ++half;
    return uint16_t(sign | half);
  }
  uint32_t h = ((abs - 0x38000000u) >> 13);
  uint32_t rem = abs & 0x1fffu;
  if (rem > 0x1000u || (rem == 0x1000u && (h & 1u))) ++h;
  return uint16_t(sign | h);
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000u) << 16;
  uint32_t exp = (h >> 10) & 0x1fu;
  uint32_t mant = h & 0x3ffu;
  if (exp == 0) {
    if (mant == 0) return bits_f32(sign);
    float v = float(mant) * (1.0f / 16777216.0f);  // mant * 2^-24
    return sign ? -v : v;
  }
  if (exp == 31) return bits_f32(sign | 0x7f800000u | (mant << 13));
  return bits_f32(sign | ((exp + 112) << 23) | (mant << 13));
}

}  // namespace vkllm
