// GGUF block codecs: llama.cpp's block structs (ggml-common.h) read into and written from
// QuantHost, one table of bit fields per format shared by both directions.
#include <fmt/format.h>

#include <array>
#include <cstring>

#include "sdk/base/error.h"
#include "sdk/quant.h"

namespace vkllm::sdk {
namespace {

// `bits` bits of byte `byte` from bit `shift`, placed at bit `to` of the value.
struct Piece {
  int byte, shift, bits, to;
};
struct Field {
  std::array<Piece, 3> p{};
  int n = 0;
  Field& add(int byte, int shift, int bits, int to = 0) {
    p[size_t(n++)] = {byte, shift, bits, to};
    return *this;
  }
};

uint32_t get(const uint8_t* blk, const Field& f) {
  uint32_t v = 0;
  for (int i = 0; i < f.n; ++i) {
    const Piece& c = f.p[size_t(i)];
    v |= uint32_t((blk[c.byte] >> c.shift) & ((1u << c.bits) - 1)) << c.to;
  }
  return v;
}
void put(uint8_t* blk, const Field& f, uint32_t v) {
  for (int i = 0; i < f.n; ++i) {
    const Piece& c = f.p[size_t(i)];
    blk[c.byte] = uint8_t(blk[c.byte] | (((v >> c.to) & ((1u << c.bits) - 1)) << c.shift));
  }
}

// A 4-bit value of 32 stored as llama.cpp's 16 bytes at `at`: low nibbles first, then high.
Field nibble32(int at, int j) { return Field().add(at + j % 16, j < 16 ? 0 : 4, 4); }

// One format's block: where every value, scale and min lies.
struct BlockSpec {
  int values = 0, bytes = 0;
  int d = -1, m = -1;          // f16 offsets: scale (d) and bias/dmin (m)
  uint32_t value_xor = 0;      // q8_0 stores int8: v = byte ^ 0x80
  int sub_offset = 0;          // subtracted from every raw sub-scale (q3_k, iq4_xs: 32)
  bool sub_int8 = false;       // q6_k: the sub-scale is a signed byte
  std::vector<Field> value;    // per value in the block
  std::vector<Field> sub;      // per group: sub-scale (super formats)
  std::vector<Field> sub_min;  // per group: sub-min
};

BlockSpec make_spec(Dtype dt) {
  BlockSpec s;
  auto values = [&](int n, auto f) {
    s.values = n;
    for (int e = 0; e < n; ++e) s.value.push_back(f(e));
  };
  switch (dt) {
    case Dtype::q8_0:
      s.bytes = 34, s.d = 0, s.value_xor = 0x80;
      values(32, [](int e) { return Field().add(2 + e, 0, 8); });
      break;
    case Dtype::q4_0:
    case Dtype::iq4_nl:
      s.bytes = 18, s.d = 0;
      values(32, [](int e) { return nibble32(2, e); });
      break;
    case Dtype::q4_1:
      s.bytes = 20, s.d = 0, s.m = 2;
      values(32, [](int e) { return nibble32(4, e); });
      break;
    case Dtype::q5_0:
    case Dtype::q5_1: {
      const int qh = dt == Dtype::q5_0 ? 2 : 4;
      s.bytes = dt == Dtype::q5_0 ? 22 : 24, s.d = 0, s.m = dt == Dtype::q5_1 ? 2 : -1;
      values(32, [&](int e) { return nibble32(qh + 4, e).add(qh + e / 8, e % 8, 1, 4); });
      break;
    }
    case Dtype::q2_k:
      s.bytes = 84, s.d = 80, s.m = 82;
      values(256, [](int e) {
        const int c = e / 128, j = e % 128 / 32, l = e % 32;
        return Field().add(16 + 32 * c + l, 2 * j, 2);
      });
      for (int g = 0; g < 16; ++g) {
        s.sub.push_back(Field().add(g, 0, 4));
        s.sub_min.push_back(Field().add(g, 4, 4));
      }
      break;
    case Dtype::q3_k:
      s.bytes = 110, s.d = 108, s.sub_offset = 32;
      values(256, [](int e) {
        const int c = e / 128, j = e % 128 / 32, l = e % 32;
        return Field().add(32 + 32 * c + l, 2 * j, 2).add(l, 4 * c + j, 1, 2);
      });
      for (int g = 0; g < 16; ++g)
        s.sub.push_back(
            Field().add(96 + g % 8, 4 * (g / 8), 4).add(104 + g % 4, 2 * (g / 4), 2, 4));
      break;
    case Dtype::q4_k:
    case Dtype::q5_k: {
      const bool five = dt == Dtype::q5_k;
      const int qs = five ? 48 : 16;
      s.bytes = five ? 176 : 144, s.d = 0, s.m = 2;
      values(256, [&](int e) {
        const int c = e / 64, r = e % 64;
        Field f = Field().add(qs + 32 * c + r % 32, r < 32 ? 0 : 4, 4);
        return five ? f.add(16 + e % 32, e / 32, 1, 4) : f;
      });
      // get_scale_min_k4: 6-bit scales and mins of 8 groups packed into 12 bytes at 4.
      for (int g = 0; g < 8; ++g) {
        if (g < 4) {
          s.sub.push_back(Field().add(4 + g, 0, 6));
          s.sub_min.push_back(Field().add(8 + g, 0, 6));
        } else {
          s.sub.push_back(Field().add(8 + g, 0, 4).add(g, 6, 2, 4));
          s.sub_min.push_back(Field().add(8 + g, 4, 4).add(4 + g, 6, 2, 4));
        }
      }
      break;
    }
    case Dtype::q6_k:
      s.bytes = 210, s.d = 208, s.sub_int8 = true;
      values(256, [](int e) {
        const int c = e / 128, quarter = e % 128 / 32, l = e % 32;
        return Field()
            .add(64 * c + l + 32 * (quarter & 1), 4 * (quarter >> 1), 4)
            .add(128 + 32 * c + l, 2 * quarter, 2, 4);
      });
      for (int g = 0; g < 16; ++g) s.sub.push_back(Field().add(192 + g, 0, 8));
      break;
    case Dtype::iq4_xs:
      s.bytes = 136, s.d = 0, s.sub_offset = 32;
      values(256, [](int e) { return nibble32(8 + 16 * (e / 32), e % 32); });
      for (int g = 0; g < 8; ++g)
        s.sub.push_back(Field().add(4 + g / 2, 4 * (g % 2), 4).add(2 + g / 4, 2 * (g % 4), 2, 4));
      break;
    default:
      throw InputError(fmt::format("[quant] {} has no GGUF block layout", dtype_name(dt)));
  }
  return s;
}

const BlockSpec& spec(Dtype dt) {
  static const auto table = [] {
    std::array<BlockSpec, size_t(Dtype::iq4_xs) + 1> t;
    for (size_t i = 0; i < t.size(); ++i)
      if (Dtype(i) != Dtype::mlx4 && Dtype(i) != Dtype::mlx8 && is_quantized(Dtype(i)))
        t[i] = make_spec(Dtype(i));
    return t;
  }();
  if (size_t(dt) >= table.size() || !table[size_t(dt)].bytes)
    throw InputError(fmt::format("[quant] {} has no GGUF block layout", dtype_name(dt)));
  return table[size_t(dt)];
}

float half_at(const uint8_t* p) {
  uint16_t h;
  std::memcpy(&h, p, 2);
  return f16_to_f32(h);
}
void put_half(uint8_t* p, float v) {
  uint16_t h = f32_to_f16(v);
  std::memcpy(p, &h, 2);
}

}  // namespace

std::optional<Dtype> dtype_of_ggml(GgmlType type) {
  switch (type) {
    case GgmlType::q8_0:
      return Dtype::q8_0;
    case GgmlType::q4_0:
      return Dtype::q4_0;
    case GgmlType::q4_1:
      return Dtype::q4_1;
    case GgmlType::q5_0:
      return Dtype::q5_0;
    case GgmlType::q5_1:
      return Dtype::q5_1;
    case GgmlType::q2_k:
      return Dtype::q2_k;
    case GgmlType::q3_k:
      return Dtype::q3_k;
    case GgmlType::q4_k:
      return Dtype::q4_k;
    case GgmlType::q5_k:
      return Dtype::q5_k;
    case GgmlType::q6_k:
      return Dtype::q6_k;
    case GgmlType::iq4_nl:
      return Dtype::iq4_nl;
    case GgmlType::iq4_xs:
      return Dtype::iq4_xs;
    case GgmlType::f32:
      return Dtype::f32;
    case GgmlType::f16:
      return Dtype::f16;
    case GgmlType::bf16:
      return Dtype::bf16;
    default:
      return std::nullopt;
  }
}

GgmlType ggml_type_of(Dtype dtype) {
  for (uint32_t id = 0; id <= uint32_t(GgmlType::bf16); ++id)
    if (ggml_type_info(id) && dtype_of_ggml(GgmlType(id)) == dtype) return GgmlType(id);
  throw InputError(fmt::format("[quant] {} has no ggml type", dtype_name(dtype)));
}

QuantHost from_gguf_blocks(Dtype dtype, const uint8_t* blocks, int64_t rows, int64_t cols) {
  const BlockSpec& s = spec(dtype);
  QuantHost q = detail::quant_host(dtype, rows, cols, 0);
  const QuantFormat f = quant_format(dtype);
  const int64_t nblocks = rows * cols / s.values;
  const int groups = s.values / q.group;
  for (int64_t b = 0; b < nblocks; ++b) {
    const uint8_t* p = blocks + size_t(b) * size_t(s.bytes);
    uint8_t* v = q.values.data() + b * s.values;
    for (int e = 0; e < s.values; ++e) v[e] = uint8_t(get(p, s.value[size_t(e)]) ^ s.value_xor);
    if (f.super) {
      q.supers[size_t(b)] = half_at(p + s.d);
      if (f.bias) q.super_mins[size_t(b)] = half_at(p + s.m);
      for (int g = 0; g < groups; ++g) {
        const uint32_t raw = get(p, s.sub[size_t(g)]);
        q.sub_scales[size_t(b * groups + g)] =
            s.sub_int8 ? int8_t(raw) : int8_t(int(raw) - s.sub_offset);
        if (f.bias) q.sub_mins[size_t(b * groups + g)] = int8_t(get(p, s.sub_min[size_t(g)]));
      }
    } else {
      q.scales[size_t(b)] = half_at(p + s.d);
      if (f.bias) q.biases[size_t(b)] = half_at(p + s.m);
    }
  }
  return q;
}

std::vector<uint8_t> to_gguf_blocks(const QuantHost& q) {
  const BlockSpec& s = spec(q.dtype);
  const QuantFormat f = quant_format(q.dtype);
  const int64_t nblocks = q.rows * q.cols / s.values;
  const int groups = s.values / q.group;
  std::vector<uint8_t> out(size_t(nblocks) * size_t(s.bytes), 0);
  for (int64_t b = 0; b < nblocks; ++b) {
    uint8_t* p = out.data() + size_t(b) * size_t(s.bytes);
    const uint8_t* v = q.values.data() + b * s.values;
    for (int e = 0; e < s.values; ++e) put(p, s.value[size_t(e)], v[e] ^ s.value_xor);
    if (f.super) {
      put_half(p + s.d, q.supers[size_t(b)]);
      if (f.bias) put_half(p + s.m, q.super_mins[size_t(b)]);
      for (int g = 0; g < groups; ++g) {
        const int sub = q.sub_scales[size_t(b * groups + g)];
        put(p, s.sub[size_t(g)],
            s.sub_int8 ? uint32_t(uint8_t(sub)) : uint32_t(sub + s.sub_offset));
        if (f.bias) put(p, s.sub_min[size_t(g)], uint32_t(q.sub_mins[size_t(b * groups + g)]));
      }
    } else {
      put_half(p + s.d, q.scales[size_t(b)]);
      if (f.bias) put_half(p + s.m, q.biases[size_t(b)]);
    }
  }
  return out;
}

}  // namespace vkllm::sdk
