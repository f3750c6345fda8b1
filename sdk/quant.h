#pragma once
// Quantized weights on the host: quantizers (llama.cpp's formats, MLX affine), codecs of GGUF
// blocks and MLX packed tensors, and the reference dequantizer.
//
// Every quantized format is stored the same way in the SDK (sdk/base/dtype.h QuantFormat,
// Tensor::quant_layout): the values' low bits packed into little-endian 32-bit words in row
// order (16 2-bit, 8 4-bit or 4 8-bit values per word), then their high bits (1 or 2 per value,
// likewise packed), then the scales and biases. Direct formats (q8_0, q4_0, q4_1, q5_0, q5_1,
// iq4_nl, MLX) keep one f16 scale (and bias) per group, f32 where a value does not fit f16
// exactly. Super formats (the K-quants, iq4_xs) keep llama.cpp's two-level scales: one int8
// scale (and min) per group of 16 or 32 and one f16 d (and dmin) per 256 values. GGUF blocks
// are re-laid into these planes at load without changing a bit of any value or scale, so
// every format decodes to exactly what llama.cpp's dequantization gives.
#include <cstdint>
#include <optional>
#include <vector>

#include "sdk/base/dtype.h"
#include "sdk/gguf_file.h"
#include "sdk/tensor.h"

namespace vkllm::sdk {

struct QuantHost {
  Dtype dtype = Dtype::q8_0;
  int64_t rows = 0, cols = 0;
  int group = 32;
  bool scales_f32 = false;
  std::vector<uint8_t> values;  // one unsigned value per weight, row order
  // Direct formats: per group.
  std::vector<float> scales;
  std::vector<float> biases;  // formats with a bias
  // Super formats: per group, and per 256 values (f16 values).
  std::vector<int8_t> sub_scales, sub_mins;
  std::vector<float> supers, super_mins;

  // The scale and the bias of group g: w = (v - zero_point) * scale + bias.
  double scale(int64_t g) const;
  double bias(int64_t g) const;
};

// Zero point implied by a format (8 for q4_0, 128 for q8_0, 16 for q5_0, ...; 0 when none).
int quant_zero_point(Dtype dtype);

// Quantizes rows of f32 values. q8_0/q4_0/q4_1/q5_0/q5_1 follow llama.cpp's reference
// quantizers; the K-quants and IQ4 ones search scales as llama.cpp's do (sdk/quantize_k.cpp).
QuantHost quantize(Dtype dtype, const float* w, int64_t rows, int64_t cols, int group = 32);
std::vector<float> dequantize(const QuantHost& q);

// The SDK format of a ggml type, if it has one, and back.
std::optional<Dtype> dtype_of_ggml(GgmlType type);
GgmlType ggml_type_of(Dtype dtype);
// GGUF block bytes (rows * cols / block_values blocks) of a format with a ggml type.
QuantHost from_gguf_blocks(Dtype dtype, const uint8_t* blocks, int64_t rows, int64_t cols);
std::vector<uint8_t> to_gguf_blocks(const QuantHost& q);
// MLX affine: packed uint32 [rows, cols*bits/32], scales and biases [rows, cols/group].
QuantHost from_mlx(int bits, const uint32_t* packed, const float* scales, const float* biases,
                   int64_t rows, int64_t cols, int group);
// The values packed as MLX stores them (bits per value in row order in 32-bit words).
std::vector<uint8_t> pack_values(const QuantHost& q);

// Allocates a tensor in `pool` and uploads `q` into the SDK layout.
Tensor upload_quant(MemoryPool& pool, const QuantHost& q);

namespace detail {
// A new QuantHost with every per-weight and per-group vector sized for `dtype`.
QuantHost quant_host(Dtype dtype, int64_t rows, int64_t cols, int group);
}  // namespace detail

}  // namespace vkllm::sdk
