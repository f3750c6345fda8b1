#pragma once
// Element types of tensors and the quantized weight formats the SDK understands.
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>

namespace vkllm {

enum class Dtype : uint8_t {
  f32,
  f16,
  bf16,
  i32,
  q8_0,  // GGUF Q8_0: blocks of 32 int8 with one f16 scale
  q4_0,  // GGUF Q4_0: blocks of 32 4-bit values (offset 8) with one f16 scale
  mlx4,  // MLX affine 4-bit: w = q * scale + bias per group of 32/64/128
  mlx8,  // MLX affine 8-bit
  // GGUF formats read as stored (llama.cpp's blocks re-laid into planes, same bits; sdk/quant.h)
  q4_1,    // 32 4-bit values with an f16 scale and min
  q5_0,    // 32 5-bit values (offset 16) with an f16 scale
  q5_1,    // 32 5-bit values with an f16 scale and min
  q2_k,    // 256-value super-blocks: 16 groups of 16 2-bit values, 4-bit scales and mins
  q3_k,    // 16 groups of 16 3-bit values (offset 4), 6-bit signed scales
  q4_k,    // 8 groups of 32 4-bit values, 6-bit scales and mins
  q5_k,    // 8 groups of 32 5-bit values, 6-bit scales and mins
  q6_k,    // 16 groups of 16 6-bit values (offset 32), 8-bit signed scales
  iq4_nl,  // 32 4-bit indices into a non-linear table with an f16 scale
  iq4_xs,  // 8 groups of 32 4-bit table indices, 6-bit signed scales
};

std::string_view dtype_name(Dtype dt);
// Parses a dtype_name() ("f32", "q4_k", ...); throws InputError listing the known names.
Dtype parse_dtype(std::string_view name);

constexpr bool is_quantized(Dtype dt) {
  return dt != Dtype::f32 && dt != Dtype::f16 && dt != Dtype::bf16 && dt != Dtype::i32;
}
constexpr bool is_float(Dtype dt) {
  return dt == Dtype::f32 || dt == Dtype::f16 || dt == Dtype::bf16;
}

// Bytes per element of a plain dtype (0 for quantized ones).
constexpr size_t dtype_size(Dtype dt) {
  switch (dt) {
    case Dtype::f32:
    case Dtype::i32:
      return 4;
    case Dtype::f16:
    case Dtype::bf16:
      return 2;
    default:
      return 0;
  }
}

// How a quantized format stores its values (sdk/quant.h). A weight is
//   w = (v - zero_point) * scale + bias   with v = q, or v = table[q] for IQ4 formats,
// q an unsigned value of low_bits + high_bits bits. Direct formats keep one scale (and bias)
// per group as f16/f32; super formats keep one int8 scale (and min) per group and one f16 d
// (and dmin) per 256 values: scale = d * sub_scale, bias = -dmin * sub_min.
struct QuantFormat {
  int low_bits = 0;    // 2, 4 or 8: the plane kernels read as whole words
  int high_bits = 0;   // 0, 1 or 2: a second plane with the values' top bits
  int group = 32;      // values per scale; 0 = chosen per tensor (MLX: 32, 64, 128)
  int zero_point = 0;  // implied offset (q4_0: 8, q8_0: 128 after re-centering, q6_k: 32)
  bool bias = false;   // a bias (direct) or min (super) per group
  bool super = false;  // two-level scales over 256-value super-blocks
  bool table = false;  // q indexes the IQ4 non-linear table
};
inline constexpr int kSuperBlock = 256;

constexpr QuantFormat quant_format(Dtype dt) {
  switch (dt) {
    case Dtype::q8_0:
      return {8, 0, 32, 128};
    case Dtype::q4_0:
      return {4, 0, 32, 8};
    case Dtype::mlx4:
      return {4, 0, 0, 0, true};
    case Dtype::mlx8:
      return {8, 0, 0, 0, true};
    case Dtype::q4_1:
      return {4, 0, 32, 0, true};
    case Dtype::q5_0:
      return {4, 1, 32, 16};
    case Dtype::q5_1:
      return {4, 1, 32, 0, true};
    case Dtype::q2_k:
      return {2, 0, 16, 0, true, true};
    case Dtype::q3_k:
      return {2, 1, 16, 4, false, true};
    case Dtype::q4_k:
      return {4, 0, 32, 0, true, true};
    case Dtype::q5_k:
      return {4, 1, 32, 0, true, true};
    case Dtype::q6_k:
      return {4, 2, 16, 32, false, true};
    case Dtype::iq4_nl:
      return {4, 0, 32, 0, false, false, true};
    case Dtype::iq4_xs:
      return {4, 0, 32, 0, false, true, true};
    default:
      return {};
  }
}

// Bits of one quantized value (2 to 8); 0 for plain dtypes.
constexpr int quant_bits(Dtype dt) {
  return quant_format(dt).low_bits + quant_format(dt).high_bits;
}
// Columns a row of `dt` must be a multiple of (32, or 256 for super-block formats).
constexpr int quant_row_multiple(Dtype dt) { return quant_format(dt).super ? kSuperBlock : 32; }

// llama.cpp's IQ4 non-linear values (kvalues_iq4nl).
inline constexpr int8_t kIq4Values[16] = {-127, -104, -83, -65, -49, -35, -22, -10,
                                          1,    13,   25,  38,  53,  69,  89,  113};

// ---- scalar conversions (round to nearest even) ----
inline uint32_t f32_bits(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  return u;
}
inline float bits_f32(uint32_t u) {
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_f16(float f);
float f16_to_f32(uint16_t h);

inline float bf16_to_f32(uint16_t b) { return bits_f32(uint32_t(b) << 16); }
inline uint16_t f32_to_bf16(float f) {
  uint32_t u = f32_bits(f);
  if ((u & 0x7fffffffu) > 0x7f800000u) return uint16_t((u >> 16) | 0x40);  // quiet NaN
  u += 0x7fffu + ((u >> 16) & 1u);
  return uint16_t(u >> 16);
}

}  // namespace vkllm
