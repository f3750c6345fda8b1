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
};

std::string_view dtype_name(Dtype dt);
// Parses "f32", "f16", "bf16", "i32", "q8_0", "q4_0", "mlx4", "mlx8"; throws InputError.
Dtype parse_dtype(std::string_view name);

constexpr bool is_quantized(Dtype dt) {
  return dt == Dtype::q8_0 || dt == Dtype::q4_0 || dt == Dtype::mlx4 || dt == Dtype::mlx8;
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

// Bits of one quantized value (4 or 8); 0 for plain dtypes.
constexpr int quant_bits(Dtype dt) {
  switch (dt) {
    case Dtype::q8_0:
    case Dtype::mlx8:
      return 8;
    case Dtype::q4_0:
    case Dtype::mlx4:
      return 4;
    default:
      return 0;
  }
}

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
