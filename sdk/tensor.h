#pragma once
// Tensor: a typed, shaped view of device memory. Shapes are written outermost first (PyTorch
// order). Plain dtypes carry element strides; quantized weights are 2-D [rows, cols] with their
// values, scales and (MLX) biases in separate regions of one allocation.
#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "sdk/base/dtype.h"
#include "sdk/vk/memory.h"

namespace vkllm::sdk {

constexpr int kMaxRank = 5;

class Shape {
 public:
  Shape() = default;
  Shape(std::initializer_list<int64_t> dims);
  static Shape of_rank(int rank, int64_t fill = 1);

  int rank() const { return rank_; }
  int64_t operator[](int i) const { return d_[size_t(i < 0 ? i + rank_ : i)]; }
  int64_t& operator[](int i) { return d_[size_t(i < 0 ? i + rank_ : i)]; }
  int64_t numel() const;
  bool operator==(const Shape& o) const;
  std::string str() const;  // "[2, 3, 4]"
  void push_back(int64_t v);

 private:
  std::array<int64_t, kMaxRank> d_{};
  int rank_ = 0;
};

// The regions of a quantized weight inside its allocation (sdk/quant.h describes their
// contents): the low plane of the values, the high plane, scales (f16/f32 per group, or int8
// per group for super formats), biases or mins, and the super-blocks' f16 d and dmin.
enum class Region { values, high, scales, biases, super };
inline constexpr int kRegions = 5;

struct QuantLayout {
  int group = 0;                   // values per scale: 16 or 32, or 32/64/128 for MLX
  bool scales_f32 = false;         // direct formats' scales (and biases) as f32 instead of f16
  uint64_t offset[kRegions] = {};  // bytes from the tensor's start
  uint64_t bytes[kRegions] = {};   // 0: the format has no such region
  uint64_t total() const {         // bytes of all regions: the weight's allocation
    uint64_t n = 0;
    for (uint64_t b : bytes) n += b;
    return n;
  }
};

class Tensor {
 public:
  Tensor() = default;

  // A contiguous plain tensor in `pool`.
  static Tensor allocate(MemoryPool& pool, Dtype dtype, const Shape& shape);
  // A 2-D dense weight whose rows are padded to a multiple of 32 elements (zero-filled by the
  // caller's upload) so kernels read whole 32-value blocks.
  static Tensor allocate_weight(MemoryPool& pool, Dtype dtype, int64_t rows, int64_t cols);
  // A 2-D quantized weight [rows, cols]; cols must be a multiple of the group size (and of
  // 256 for super-block formats). `group` matters for MLX only (the others have their own).
  static Tensor allocate_quant(MemoryPool& pool, Dtype dtype, int64_t rows, int64_t cols, int group,
                               bool scales_f32 = false);
  // A 2-D weight whose row ranges are stored in different formats (GGUF files mix quantized
  // formats within one fused projection: Q4_K_M keeps V as Q6_K beside Q/K as Q4_K). ops::matmul
  // runs one product per part into its columns of the output; other ops refuse it. It shares
  // the first part's allocation (its identity for LoRA tables) and reports its dtype.
  static Tensor concat_rows(std::vector<Tensor> parts);
  // Where the regions of a [rows, cols] weight lie and how large they are (16-byte aligned).
  static QuantLayout quant_layout(Dtype dtype, int64_t rows, int64_t cols, int group,
                                  bool scales_f32);

  bool defined() const { return mem_ != nullptr; }
  Dtype dtype() const { return dtype_; }
  const Shape& shape() const { return shape_; }
  int rank() const { return shape_.rank(); }
  int64_t dim(int i) const { return shape_[i]; }
  int64_t numel() const { return shape_.numel(); }
  int64_t stride(int i) const { return strides_[size_t(i < 0 ? i + rank() : i)]; }
  bool contiguous() const;
  // Rows (all but the last dim) may be strided but each row is contiguous.
  bool rows_contiguous() const { return rank() == 0 || stride(-1) == 1; }
  const QuantLayout& quant() const { return quant_; }
  // The parts of a concat_rows() weight; empty for every other tensor.
  const std::vector<Tensor>& parts() const;

  // Byte offset of element 0 from the start of the allocation.
  uint64_t byte_offset() const { return offset_; }
  // Bytes from element 0 to the end of the last element (whole tensor for quantized ones).
  uint64_t extent_bytes() const;
  const std::shared_ptr<Allocation>& memory() const { return mem_; }
  Block& block() const { return *mem_->block(); }

  // Views (no copy). reshape needs a contiguous tensor.
  Tensor reshape(const Shape& shape) const;
  Tensor slice(int dim, int64_t start, int64_t length) const;
  Tensor select(int dim, int64_t index) const;  // drops `dim`
  Tensor permute(std::initializer_list<int> order) const;
  Tensor transpose(int a, int b) const;
  // Splits dimension `dim` of size a*b into [a, b] (a view; works on strided tensors).
  Tensor unflatten(int dim, int64_t a, int64_t b) const;
  // A 2-D tensor with padded rows viewed with its padding: [rows, row stride], contiguous.
  Tensor with_padding() const;
  // A quantized tensor's region as a flat tensor of 32-bit words; a region the format lacks
  // is an error unless `or_values` (then the values region stands in: kernels never read it).
  Tensor region(Region r, bool or_values = false) const;

  std::string str() const;  // "f32[2, 3]"

 private:
  std::shared_ptr<Allocation> mem_;
  uint64_t offset_ = 0;
  Dtype dtype_ = Dtype::f32;
  Shape shape_;
  std::array<int64_t, kMaxRank> strides_{};
  QuantLayout quant_;
  std::shared_ptr<const std::vector<Tensor>> parts_;
};

}  // namespace vkllm::sdk
