#include "sdk/quant.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "sdk/base/error.h"
#include "sdk/io.h"

namespace vkllm::sdk {
namespace {

void check_shape(Dtype dtype, int64_t rows, int64_t cols, int group) {
  if (!is_quantized(dtype)) throw InternalError("[quant] not a quantized dtype");
  if (rows < 0 || cols <= 0 || group <= 0 || group % 32 || cols % group) {
    throw InputError(
        fmt::format("[quant] cannot quantize [{}, {}] to {} with group {}: columns "
                    "must be a positive multiple of the group size (a multiple of 32)",
                    rows, cols, dtype_name(dtype), group));
  }
}

void set_value(std::vector<uint8_t>& v, int bits, int64_t i, uint32_t q) {
  if (bits == 8) {
    v[size_t(i)] = uint8_t(q);
  } else {
    uint8_t& b = v[size_t(i / 2)];
    b = uint8_t((i & 1) ? ((b & 0x0f) | (q << 4)) : ((b & 0xf0) | (q & 0x0f)));
  }
}

uint32_t get_value(const std::vector<uint8_t>& v, int bits, int64_t i) {
  if (bits == 8) return v[size_t(i)];
  uint8_t b = v[size_t(i / 2)];
  return (i & 1) ? (b >> 4) : (b & 0x0f);
}

bool fits_f16(float x) { return f16_to_f32(f32_to_f16(x)) == x; }

}  // namespace

int quant_zero_point(Dtype dtype) {
  switch (dtype) {
    case Dtype::q4_0:
      return 8;
    case Dtype::q8_0:
      return 128;
    default:
      return 0;
  }
}

QuantHost quantize(Dtype dtype, const float* w, int64_t rows, int64_t cols, int group) {
  if (dtype == Dtype::q8_0 || dtype == Dtype::q4_0) group = 32;
  check_shape(dtype, rows, cols, group);
  QuantHost q;
  q.dtype = dtype;
  q.rows = rows;
  q.cols = cols;
  q.group = group;
  int bits = quant_bits(dtype);
  q.values.assign(size_t(rows * cols * bits / 8), 0);
  q.scales.resize(size_t(rows * cols / group));
  bool mlx = dtype == Dtype::mlx4 || dtype == Dtype::mlx8;
  if (mlx) q.biases.resize(q.scales.size());
  for (int64_t g = 0; g < rows * cols / group; ++g) {
    const float* x = w + g * group;
    int64_t base = g * group;
    if (dtype == Dtype::q8_0) {  // ggml quantize_row_q8_0_ref
      float amax = 0;
      for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
      float d = amax / 127.0f;
      float id = d != 0 ? 1.0f / d : 0.0f;
      q.scales[size_t(g)] = f16_to_f32(f32_to_f16(d));
      for (int j = 0; j < 32; ++j) {
        int v = int(std::roundf(x[j] * id));
        set_value(q.values, 8, base + j, uint32_t(v + 128));
      }
    } else if (dtype == Dtype::q4_0) {  // ggml quantize_row_q4_0_ref
      float amax = 0, max = 0;
      for (int j = 0; j < 32; ++j) {
        if (amax < std::fabs(x[j])) {
          amax = std::fabs(x[j]);
          max = x[j];
        }
      }
      float d = max / -8.0f;
      float id = d != 0 ? 1.0f / d : 0.0f;
      q.scales[size_t(g)] = f16_to_f32(f32_to_f16(d));
      for (int j = 0; j < 32; ++j) {
        int v = std::min(15, int(int8_t(x[j] * id + 8.5f)));
        set_value(q.values, 4, base + j, uint32_t(v));
      }
    } else {  // MLX affine quantization
      int n_bins = (1 << bits) - 1;
      float wmax = x[0], wmin = x[0];
      for (int j = 1; j < group; ++j) {
        wmax = std::max(wmax, x[j]);
        wmin = std::min(wmin, x[j]);
      }
      bool mask = std::fabs(wmin) > std::fabs(wmax);
      float scale = std::max((wmax - wmin) / float(n_bins), 1e-7f);
      scale = mask ? scale : -scale;
      float edge = mask ? wmin : wmax;
      float q0 = std::round(edge / scale);
      if (q0 != 0) scale = edge / q0;
      float bias = q0 == 0 ? 0.0f : edge;
      // Stored scales/biases are f16: quantize against the rounded values.
      scale = f16_to_f32(f32_to_f16(scale));
      bias = f16_to_f32(f32_to_f16(bias));
      q.scales[size_t(g)] = scale;
      q.biases[size_t(g)] = bias;
      for (int j = 0; j < group; ++j) {
        float v = std::round((x[j] - bias) / scale);
        v = std::clamp(v, 0.0f, float(n_bins));
        set_value(q.values, bits, base + j, uint32_t(v));
      }
    }
  }
  return q;
}

std::vector<float> dequantize(const QuantHost& q) {
  int bits = quant_bits(q.dtype);
  int zp = quant_zero_point(q.dtype);
  std::vector<float> out(size_t(q.rows * q.cols));
  for (int64_t i = 0; i < q.rows * q.cols; ++i) {
    int64_t g = i / q.group;
    double v = double(get_value(q.values, bits, i));
    double s = q.scales[size_t(g)];
    out[size_t(i)] = q.biases.empty() ? float((v - zp) * s) : float(v * s + q.biases[size_t(g)]);
  }
  return out;
}

QuantHost from_gguf_blocks(Dtype dtype, const uint8_t* blocks, int64_t rows, int64_t cols) {
  check_shape(dtype, rows, cols, 32);
  QuantHost q;
  q.dtype = dtype;
  q.rows = rows;
  q.cols = cols;
  q.group = 32;
  int bits = quant_bits(dtype);
  q.values.assign(size_t(rows * cols * bits / 8), 0);
  q.scales.resize(size_t(rows * cols / 32));
  size_t block_bytes = dtype == Dtype::q8_0 ? 34 : 18;
  for (int64_t b = 0; b < rows * cols / 32; ++b) {
    const uint8_t* p = blocks + size_t(b) * block_bytes;
    uint16_t d;
    std::memcpy(&d, p, 2);
    q.scales[size_t(b)] = f16_to_f32(d);
    for (int j = 0; j < 32; ++j) {
      uint32_t v;
      if (dtype == Dtype::q8_0) {
        v = uint32_t(int(int8_t(p[2 + j])) + 128);
      } else {
        v = j < 16 ? (p[2 + j] & 0x0f) : (p[2 + j - 16] >> 4);
      }
      set_value(q.values, bits, b * 32 + j, v);
    }
  }
  return q;
}

std::vector<uint8_t> to_gguf_blocks(const QuantHost& q) {
  if (q.dtype != Dtype::q8_0 && q.dtype != Dtype::q4_0) {
    throw InputError("[quant] only q8_0 and q4_0 have GGUF block layouts");
  }
  size_t block_bytes = q.dtype == Dtype::q8_0 ? 34 : 18;
  int bits = quant_bits(q.dtype);
  std::vector<uint8_t> out(size_t(q.rows * q.cols / 32) * block_bytes, 0);
  for (int64_t b = 0; b < q.rows * q.cols / 32; ++b) {
    uint8_t* p = out.data() + size_t(b) * block_bytes;
    uint16_t d = f32_to_f16(q.scales[size_t(b)]);
    std::memcpy(p, &d, 2);
    for (int j = 0; j < 32; ++j) {
      uint32_t v = get_value(q.values, bits, b * 32 + j);
      if (q.dtype == Dtype::q8_0) {
        p[2 + j] = uint8_t(int8_t(int(v) - 128));
      } else if (j < 16) {
        p[2 + j] = uint8_t((p[2 + j] & 0xf0) | v);
      } else {
        p[2 + j - 16] = uint8_t((p[2 + j - 16] & 0x0f) | (v << 4));
      }
    }
  }
  return out;
}

QuantHost from_mlx(int bits, const uint32_t* packed, const float* scales, const float* biases,
                   int64_t rows, int64_t cols, int group) {
  if (bits != 4 && bits != 8) {
    throw InputError(
        fmt::format("[quant] MLX {}-bit quantization is not supported (4 or 8)", bits));
  }
  Dtype dtype = bits == 4 ? Dtype::mlx4 : Dtype::mlx8;
  check_shape(dtype, rows, cols, group);
  QuantHost q;
  q.dtype = dtype;
  q.rows = rows;
  q.cols = cols;
  q.group = group;
  // MLX packs element i of a row at bits [bits*(i % per_word)] of word i / per_word, which is
  // the SDK layout already: copy the bytes.
  q.values.resize(size_t(rows * cols * bits / 8));
  std::memcpy(q.values.data(), packed, q.values.size());
  size_t ng = size_t(rows * cols / group);
  q.scales.assign(scales, scales + ng);
  q.biases.assign(biases, biases + ng);
  return q;
}

Tensor upload_quant(MemoryPool& pool, const QuantHost& q) {
  bool f32 = q.scales_f32;
  for (float s : q.scales) f32 = f32 || !fits_f16(s);
  for (float b : q.biases) f32 = f32 || !fits_f16(b);
  Tensor t = Tensor::allocate_quant(pool, q.dtype, q.rows, q.cols, q.group, f32);
  std::vector<uint8_t> bytes(t.memory()->size(), 0);
  std::memcpy(bytes.data(), q.values.data(), q.values.size());
  auto put = [&](uint64_t offset, const std::vector<float>& v) {
    for (size_t i = 0; i < v.size(); ++i) {
      if (f32) {
        std::memcpy(bytes.data() + offset + i * 4, &v[i], 4);
      } else {
        uint16_t h = f32_to_f16(v[i]);
        std::memcpy(bytes.data() + offset + i * 2, &h, 2);
      }
    }
  };
  put(t.quant().scales_offset, q.scales);
  if (!q.biases.empty()) put(t.quant().biases_offset, q.biases);
  upload_bytes(t, bytes.data(), bytes.size());
  return t;
}

}  // namespace vkllm::sdk
