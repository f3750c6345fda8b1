#pragma once
// Moving data between host and tensors outside a graph (weights at load time, test inputs and
// outputs). Inside a forward pass use Graph::upload / Graph::download so transfers are ordered.
#include <cstdint>
#include <span>
#include <vector>

#include "sdk/tensor.h"

namespace vkllm::sdk {

// Raw bytes into/out of a tensor's extent (layout as stored).
void upload_bytes(const Tensor& t, const void* data, size_t bytes);
std::vector<uint8_t> download_bytes(const Tensor& t);

// Bytes [offset, offset + bytes) from a tensor's element 0 (layout as stored).
struct ByteRange {
  Tensor tensor;
  uint64_t offset = 0, bytes = 0;
};
// Copies the ranges (of one device) one after another out of / into a host buffer of their
// total size: memcpy on host-visible memory, else one staging copy and one submission.
void download_ranges(std::span<const ByteRange> ranges, uint8_t* out);
void upload_ranges(std::span<const ByteRange> ranges, const uint8_t* in);

// Values in logical (row-major, outermost-first) order, converted to/from the tensor's dtype
// (f32, f16, bf16 or i32). Strided tensors (padded weight rows, slices) are handled.
void upload_f32(const Tensor& t, std::span<const float> values);
void upload_i32(const Tensor& t, std::span<const int32_t> values);
std::vector<float> download_f32(const Tensor& t);
std::vector<int32_t> download_i32(const Tensor& t);

// Host-side encode of logical values into a tensor's stored bytes (padding zero-filled).
std::vector<uint8_t> encode_f32(const Tensor& t, std::span<const float> values);

}  // namespace vkllm::sdk
