#include "sdk/io.h"

#include <fmt/format.h>

#include <cstring>

#include "sdk/base/error.h"
#include "sdk/vk/device.h"

namespace vkllm::sdk {
namespace {

// Calls f(logical_index, element_offset) for every element of t in row-major order.
template <class F>
void for_each_element(const Tensor& t, F&& f) {
  int r = t.rank();
  int64_t n = t.numel();
  std::vector<int64_t> idx(size_t(std::max(r, 1)), 0);
  for (int64_t i = 0; i < n; ++i) {
    int64_t off = 0;
    for (int d = 0; d < r; ++d) off += idx[size_t(d)] * t.stride(d);
    f(i, off);
    for (int d = r - 1; d >= 0; --d) {
      if (++idx[size_t(d)] < t.dim(d)) break;
      idx[size_t(d)] = 0;
    }
  }
}

void check_plain(const Tensor& t, const char* what) {
  if (!t.defined()) throw InternalError(std::string("[io] ") + what + ": undefined tensor");
  if (is_quantized(t.dtype())) {
    throw InternalError(std::string("[io] ") + what + ": quantized tensor " + t.str());
  }
}

// Copies ranges of tensors (of one device) from `in` or into `out`, the ranges one after
// another in the host buffer: memcpy on mapped memory, else one staging copy and one submission.
void copy_ranges(std::span<const ByteRange> ranges, const uint8_t* in, uint8_t* out) {
  uint64_t total = 0;
  for (const auto& r : ranges) {
    if (r.offset + r.bytes > r.tensor.extent_bytes())
      throw InternalError(
          fmt::format("[io] range of {} bytes outside {}", r.bytes, r.tensor.str()));
    total += r.bytes;
  }
  if (total == 0) return;
  if (ranges[0].tensor.memory()->mapped()) {
    uint64_t at = 0;
    for (const auto& r : ranges) {
      uint8_t* dev = r.tensor.memory()->mapped() + r.tensor.byte_offset() + r.offset;
      if (in)
        std::memcpy(dev, in + at, r.bytes);
      else
        std::memcpy(out + at, dev, r.bytes);
      at += r.bytes;
    }
    return;
  }
  Device& dev = ranges[0].tensor.memory()->device();
  auto staging = dev.staging().allocate(total);
  if (in) std::memcpy(staging->mapped(), in, total);
  dev.run_once([&](VkCommandBuffer cb) {
    uint64_t at = 0;
    for (const auto& r : ranges) {
      if (r.bytes == 0) continue;
      const uint64_t off = r.tensor.memory()->offset() + r.tensor.byte_offset() + r.offset;
      const VkBuffer buffer = r.tensor.block().buffer(), host = staging->block()->buffer();
      if (in) {
        VkBufferCopy region{staging->offset() + at, off, r.bytes};
        vkCmdCopyBuffer(cb, host, buffer, 1, &region);
      } else {
        VkBufferCopy region{off, staging->offset() + at, r.bytes};
        vkCmdCopyBuffer(cb, buffer, host, 1, &region);
      }
      at += r.bytes;
    }
  });
  if (out) std::memcpy(out, staging->mapped(), total);
}

}  // namespace

void download_ranges(std::span<const ByteRange> ranges, uint8_t* out) {
  copy_ranges(ranges, nullptr, out);
}

void upload_ranges(std::span<const ByteRange> ranges, const uint8_t* in) {
  copy_ranges(ranges, in, nullptr);
}

void upload_bytes(const Tensor& t, const void* data, size_t bytes) {
  if (bytes > t.extent_bytes()) {
    throw InternalError(fmt::format("[io] {} bytes do not fit {}", bytes, t.str()));
  }
  const ByteRange r{t, 0, bytes};
  upload_ranges({&r, 1}, static_cast<const uint8_t*>(data));
}

std::vector<uint8_t> download_bytes(const Tensor& t) {
  std::vector<uint8_t> out(t.extent_bytes());
  const ByteRange r{t, 0, out.size()};
  download_ranges({&r, 1}, out.data());
  return out;
}

std::vector<uint8_t> encode_f32(const Tensor& t, std::span<const float> values) {
  check_plain(t, "encode_f32");
  if (int64_t(values.size()) != t.numel()) {
    throw InternalError(fmt::format("[io] {} values for {}", values.size(), t.str()));
  }
  // Strided tensors keep whatever lies between their elements (other columns of a slice,
  // zero padding of weight rows): read, patch, write back.
  std::vector<uint8_t> bytes =
      t.contiguous() ? std::vector<uint8_t>(t.extent_bytes(), 0) : download_bytes(t);
  size_t es = dtype_size(t.dtype());
  for_each_element(t, [&](int64_t i, int64_t off) {
    uint8_t* p = bytes.data() + size_t(off) * es;
    float v = values[size_t(i)];
    switch (t.dtype()) {
      case Dtype::f32:
        std::memcpy(p, &v, 4);
        break;
      case Dtype::f16: {
        uint16_t h = f32_to_f16(v);
        std::memcpy(p, &h, 2);
        break;
      }
      case Dtype::bf16: {
        uint16_t h = f32_to_bf16(v);
        std::memcpy(p, &h, 2);
        break;
      }
      case Dtype::i32: {
        int32_t x = int32_t(v);
        std::memcpy(p, &x, 4);
        break;
      }
      default:
        break;
    }
  });
  return bytes;
}

void upload_f32(const Tensor& t, std::span<const float> values) {
  auto bytes = encode_f32(t, values);
  upload_bytes(t, bytes.data(), bytes.size());
}

void upload_i32(const Tensor& t, std::span<const int32_t> values) {
  check_plain(t, "upload_i32");
  if (t.dtype() != Dtype::i32) throw InternalError("[io] upload_i32 into " + t.str());
  if (int64_t(values.size()) != t.numel()) {
    throw InternalError(fmt::format("[io] {} values for {}", values.size(), t.str()));
  }
  std::vector<uint8_t> bytes =
      t.contiguous() ? std::vector<uint8_t>(t.extent_bytes(), 0) : download_bytes(t);
  for_each_element(t, [&](int64_t i, int64_t off) {
    std::memcpy(bytes.data() + size_t(off) * 4, &values[size_t(i)], 4);
  });
  upload_bytes(t, bytes.data(), bytes.size());
}

std::vector<float> download_f32(const Tensor& t) {
  check_plain(t, "download_f32");
  auto bytes = download_bytes(t);
  std::vector<float> out(size_t(t.numel()));
  size_t es = dtype_size(t.dtype());
  for_each_element(t, [&](int64_t i, int64_t off) {
    const uint8_t* p = bytes.data() + size_t(off) * es;
    switch (t.dtype()) {
      case Dtype::f32:
        std::memcpy(&out[size_t(i)], p, 4);
        break;
      case Dtype::f16: {
        uint16_t h;
        std::memcpy(&h, p, 2);
        out[size_t(i)] = f16_to_f32(h);
        break;
      }
      case Dtype::bf16: {
        uint16_t h;
        std::memcpy(&h, p, 2);
        out[size_t(i)] = bf16_to_f32(h);
        break;
      }
      case Dtype::i32: {
        int32_t x;
        std::memcpy(&x, p, 4);
        out[size_t(i)] = float(x);
        break;
      }
      default:
        break;
    }
  });
  return out;
}

std::vector<int32_t> download_i32(const Tensor& t) {
  check_plain(t, "download_i32");
  if (t.dtype() != Dtype::i32) throw InternalError("[io] download_i32 from " + t.str());
  auto bytes = download_bytes(t);
  std::vector<int32_t> out(size_t(t.numel()));
  for_each_element(t, [&](int64_t i, int64_t off) {
    std::memcpy(&out[size_t(i)], bytes.data() + size_t(off) * 4, 4);
  });
  return out;
}

}  // namespace vkllm::sdk
