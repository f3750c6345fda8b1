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
  const int multiple = quant_row_multiple(dtype);
  if (rows < 0 || cols <= 0 || group <= 0 || group % 16 || cols % group || cols % multiple) {
    throw InputError(
        fmt::format("[quant] cannot quantize [{}, {}] to {} with group {}: columns must be a "
                    "positive multiple of the group size and of {}",
                    rows, cols, dtype_name(dtype), group, multiple));
  }
}

bool fits_f16(float x) { return f16_to_f32(f32_to_f16(x)) == x; }
float round_f16(float x) { return f16_to_f32(f32_to_f16(x)); }

// ggml's reference quantizers of the direct formats, one block of 32 at `x`.
void quantize_direct_block(QuantHost& q, int64_t g, const float* x) {
  uint8_t* v = q.values.data() + g * 32;
  const Dtype dt = q.dtype;
  if (dt == Dtype::q8_0) {  // quantize_row_q8_0_ref
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
    q.scales[size_t(g)] = round_f16(d);
    for (int j = 0; j < 32; ++j) v[j] = uint8_t(int(std::roundf(x[j] * id)) + 128);
  } else if (dt == Dtype::q4_0 || dt == Dtype::q5_0) {  // quantize_row_q4_0_ref / q5_0
    const int levels = dt == Dtype::q4_0 ? 16 : 32;
    float amax = 0, max = 0;
    for (int j = 0; j < 32; ++j) {
      if (amax < std::fabs(x[j])) {
        amax = std::fabs(x[j]);
        max = x[j];
      }
    }
    float d = max / float(-levels / 2), id = d != 0 ? 1.0f / d : 0.0f;
    q.scales[size_t(g)] = round_f16(d);
    for (int j = 0; j < 32; ++j)
      v[j] = uint8_t(std::min(levels - 1, int(int8_t(x[j] * id + float(levels / 2) + 0.5f))));
  } else if (dt == Dtype::q4_1 || dt == Dtype::q5_1) {  // quantize_row_q4_1_ref / q5_1
    const int top = dt == Dtype::q4_1 ? 15 : 31;
    float min = x[0], max = x[0];
    for (int j = 1; j < 32; ++j) {
      min = std::min(min, x[j]);
      max = std::max(max, x[j]);
    }
    float d = (max - min) / float(top), id = d != 0 ? 1.0f / d : 0.0f;
    q.scales[size_t(g)] = round_f16(d);
    q.biases[size_t(g)] = round_f16(min);
    for (int j = 0; j < 32; ++j)
      v[j] = uint8_t(std::min(top, int(int8_t((x[j] - min) * id + 0.5f))));
  }
}

// MLX affine quantization of one group.
void quantize_mlx_group(QuantHost& q, int64_t g, const float* x) {
  const int group = q.group, n_bins = (1 << quant_bits(q.dtype)) - 1;
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
  scale = round_f16(scale);
  bias = round_f16(bias);
  q.scales[size_t(g)] = scale;
  q.biases[size_t(g)] = bias;
  for (int j = 0; j < group; ++j) {
    float v = std::clamp(std::round((x[j] - bias) / scale), 0.0f, float(n_bins));
    q.values[size_t(g * group + j)] = uint8_t(v);
  }
}

// Packs `bits`-bit fields of `v` (each already shifted down) into little-endian words.
void pack_bits(const std::vector<uint8_t>& v, int bits, int shift, uint8_t* out) {
  const uint32_t mask = (1u << bits) - 1;
  for (size_t i = 0; i < v.size(); ++i) {
    const size_t bit = i * size_t(bits);
    out[bit / 8] |= uint8_t(((v[i] >> shift) & mask) << (bit % 8));
  }
}

}  // namespace

namespace detail {
QuantHost quant_host(Dtype dtype, int64_t rows, int64_t cols, int group) {
  const QuantFormat f = quant_format(dtype);
  if (f.group) group = f.group;
  check_shape(dtype, rows, cols, group);
  QuantHost q;
  q.dtype = dtype;
  q.rows = rows;
  q.cols = cols;
  q.group = group;
  const size_t n = size_t(rows * cols), groups = n / size_t(group);
  q.values.assign(n, 0);
  if (f.super) {
    q.sub_scales.assign(groups, 0);
    if (f.bias) q.sub_mins.assign(groups, 0);
    q.supers.assign(n / kSuperBlock, 0.0f);
    if (f.bias) q.super_mins.assign(n / kSuperBlock, 0.0f);
  } else {
    q.scales.assign(groups, 0.0f);
    if (f.bias) q.biases.assign(groups, 0.0f);
  }
  return q;
}
// K-quant and IQ4 quantizers (sdk/quantize_k.cpp).
void quantize_super(QuantHost& q, const float* w);
void quantize_iq4_nl(QuantHost& q, const float* w);
}  // namespace detail

double QuantHost::scale(int64_t g) const {
  if (!quant_format(dtype).super) return scales[size_t(g)];
  const int64_t per = kSuperBlock / group;
  return double(supers[size_t(g / per)]) * sub_scales[size_t(g)];
}

double QuantHost::bias(int64_t g) const {
  const QuantFormat f = quant_format(dtype);
  if (!f.bias) return 0.0;
  if (!f.super) return biases[size_t(g)];
  return -double(super_mins[size_t(g / (kSuperBlock / group))]) * sub_mins[size_t(g)];
}

int quant_zero_point(Dtype dtype) { return quant_format(dtype).zero_point; }

QuantHost quantize(Dtype dtype, const float* w, int64_t rows, int64_t cols, int group) {
  QuantHost q = detail::quant_host(dtype, rows, cols, group);
  const QuantFormat f = quant_format(dtype);
  const int64_t groups = rows * cols / q.group;
  if (f.super) {
    detail::quantize_super(q, w);
  } else if (dtype == Dtype::iq4_nl) {
    detail::quantize_iq4_nl(q, w);
  } else if (dtype == Dtype::mlx4 || dtype == Dtype::mlx8) {
    for (int64_t g = 0; g < groups; ++g) quantize_mlx_group(q, g, w + g * q.group);
  } else {
    for (int64_t g = 0; g < groups; ++g) quantize_direct_block(q, g, w + g * 32);
  }
  return q;
}

std::vector<float> dequantize(const QuantHost& q) {
  const QuantFormat f = quant_format(q.dtype);
  std::vector<float> out(size_t(q.rows * q.cols));
  for (int64_t g = 0; g < q.rows * q.cols / q.group; ++g) {
    const double s = q.scale(g), b = q.bias(g);
    for (int64_t i = g * q.group; i < (g + 1) * q.group; ++i) {
      const uint8_t v = q.values[size_t(i)];
      const double x = f.table ? double(kIq4Values[v & 15]) : double(int(v) - f.zero_point);
      out[size_t(i)] = float(x * s + b);
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
  QuantHost q = detail::quant_host(bits == 4 ? Dtype::mlx4 : Dtype::mlx8, rows, cols, group);
  // MLX packs element i of a row at bits [bits*(i % per_word)] of word i / per_word.
  const auto* bytes = reinterpret_cast<const uint8_t*>(packed);
  for (size_t i = 0; i < q.values.size(); ++i) {
    const size_t bit = i * size_t(bits);
    q.values[i] = uint8_t((bytes[bit / 8] >> (bit % 8)) & ((1u << bits) - 1));
  }
  size_t ng = size_t(rows * cols / group);
  q.scales.assign(scales, scales + ng);
  q.biases.assign(biases, biases + ng);
  return q;
}

std::vector<uint8_t> pack_values(const QuantHost& q) {
  std::vector<uint8_t> out(q.values.size() * size_t(quant_bits(q.dtype)) / 8, 0);
  pack_bits(q.values, quant_bits(q.dtype), 0, out.data());
  return out;
}

Tensor upload_quant(MemoryPool& pool, const QuantHost& q) {
  const QuantFormat f = quant_format(q.dtype);
  bool f32 = q.scales_f32;
  for (float s : q.scales) f32 = f32 || !fits_f16(s);
  for (float b : q.biases) f32 = f32 || !fits_f16(b);
  Tensor t = Tensor::allocate_quant(pool, q.dtype, q.rows, q.cols, q.group, f32);
  const QuantLayout& l = t.quant();
  std::vector<uint8_t> bytes(t.memory()->size(), 0);
  pack_bits(q.values, f.low_bits, 0, bytes.data() + l.offset[int(Region::values)]);
  if (f.high_bits)
    pack_bits(q.values, f.high_bits, f.low_bits, bytes.data() + l.offset[int(Region::high)]);
  auto put = [&](Region r, const std::vector<float>& v) {
    uint8_t* out = bytes.data() + l.offset[int(r)];
    for (size_t i = 0; i < v.size(); ++i) {
      if (l.scales_f32) {
        std::memcpy(out + i * 4, &v[i], 4);
      } else {
        uint16_t h = f32_to_f16(v[i]);
        std::memcpy(out + i * 2, &h, 2);
      }
    }
  };
  if (f.super) {
    std::memcpy(bytes.data() + l.offset[int(Region::scales)], q.sub_scales.data(),
                q.sub_scales.size());
    if (f.bias)
      std::memcpy(bytes.data() + l.offset[int(Region::biases)], q.sub_mins.data(),
                  q.sub_mins.size());
    // d (and dmin) of each super-block as two f16 halves of one word.
    uint8_t* out = bytes.data() + l.offset[int(Region::super)];
    for (size_t i = 0; i < q.supers.size(); ++i) {
      if (!fits_f16(q.supers[i]) || (f.bias && !fits_f16(q.super_mins[i])))
        throw InternalError("[quant] super-block scales must be f16 values");
      uint16_t h[2] = {f32_to_f16(q.supers[i]), f.bias ? f32_to_f16(q.super_mins[i]) : uint16_t(0)};
      std::memcpy(out + i * 4, h, 4);
    }
  } else {
    put(Region::scales, q.scales);
    if (f.bias) put(Region::biases, q.biases);
  }
  upload_bytes(t, bytes.data(), bytes.size());
  return t;
}

}  // namespace vkllm::sdk
