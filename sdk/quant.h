#pragma once
// Quantized weights on the host: quantizers (GGUF Q8_0/Q4_0 reference algorithms, MLX affine),
// importers of GGUF blocks and MLX packed tensors, and the reference dequantizer.
//
// Every quantized format is stored the same way in the SDK: unsigned n-bit values packed into
// little-endian 32-bit words in row order (8 nibbles or 4 bytes per word), then one scale per
// group, then (MLX only) one bias per group. Q4_0/Q8_0 have no stored bias: their zero point
// (8, or 128 after re-centering Q8_0's signed bytes) is implied, so w = (q - zp) * scale. MLX:
// w = q * scale + bias. Scales and biases are f16 unless a value does not fit f16 exactly.
#include <cstdint>
#include <vector>

#include "sdk/base/dtype.h"
#include "sdk/tensor.h"

namespace vkllm::sdk {

struct QuantHost {
  Dtype dtype = Dtype::q8_0;
  int64_t rows = 0, cols = 0;
  int group = 32;
  bool scales_f32 = false;
  std::vector<uint8_t> values;  // rows * cols * bits / 8 bytes
  std::vector<float> scales;    // rows * cols / group
  std::vector<float> biases;    // MLX only
};

// Zero point implied by a format without stored biases (8 for q4_0, 128 for q8_0; 0 for MLX).
int quant_zero_point(Dtype dtype);

QuantHost quantize(Dtype dtype, const float* w, int64_t rows, int64_t cols, int group = 32);
std::vector<float> dequantize(const QuantHost& q);

// GGUF block bytes (rows * cols/32 blocks of {f16 d; qs}) for q8_0 / q4_0.
QuantHost from_gguf_blocks(Dtype dtype, const uint8_t* blocks, int64_t rows, int64_t cols);
std::vector<uint8_t> to_gguf_blocks(const QuantHost& q);
// MLX affine: packed uint32 [rows, cols*bits/32], scales and biases [rows, cols/group].
QuantHost from_mlx(int bits, const uint32_t* packed, const float* scales, const float* biases,
                   int64_t rows, int64_t cols, int group);

// Allocates a tensor in `pool` and uploads `q` into the SDK layout.
Tensor upload_quant(MemoryPool& pool, const QuantHost& q);

}  // namespace vkllm::sdk
