#include "sdk/tensor.h"

#include <fmt/format.h>

#include <vector>

#include "sdk/base/error.h"
#include "sdk/io.h"

namespace vkllm::sdk {
namespace {
uint64_t align16(uint64_t v) { return (v + 15) / 16 * 16; }
}  // namespace

Shape::Shape(std::initializer_list<int64_t> dims) {
  if (dims.size() > size_t(kMaxRank)) throw InternalError("[shape] rank > 5");
  for (int64_t d : dims) d_[size_t(rank_++)] = d;
}

Shape Shape::of_rank(int rank, int64_t fill) {
  Shape s;
  s.rank_ = rank;
  for (int i = 0; i < rank; ++i) s.d_[size_t(i)] = fill;
  return s;
}

int64_t Shape::numel() const {
  int64_t n = 1;
  for (int i = 0; i < rank_; ++i) n *= d_[size_t(i)];
  return n;
}

bool Shape::operator==(const Shape& o) const {
  if (rank_ != o.rank_) return false;
  for (int i = 0; i < rank_; ++i)
    if (d_[size_t(i)] != o.d_[size_t(i)]) return false;
  return true;
}

std::string Shape::str() const {
  std::string s = "[";
  for (int i = 0; i < rank_; ++i) s += (i ? ", " : "") + std::to_string(d_[size_t(i)]);
  return s + "]";
}

void Shape::push_back(int64_t v) {
  if (rank_ >= kMaxRank) throw InternalError("[shape] rank > 5");
  d_[size_t(rank_++)] = v;
}

Tensor Tensor::allocate(MemoryPool& pool, Dtype dtype, const Shape& shape) {
  if (is_quantized(dtype)) throw InternalError("[tensor] use allocate_quant for quantized dtypes");
  for (int i = 0; i < shape.rank(); ++i) {
    if (shape[i] < 0) throw InternalError("[tensor] negative dimension in " + shape.str());
  }
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = shape;
  int64_t s = 1;
  for (int i = shape.rank() - 1; i >= 0; --i) {
    t.strides_[size_t(i)] = s;
    s *= shape[i];
  }
  t.mem_ = pool.allocate(uint64_t(shape.numel()) * dtype_size(dtype));
  return t;
}

Tensor Tensor::allocate_weight(MemoryPool& pool, Dtype dtype, int64_t rows, int64_t cols) {
  int64_t padded = (cols + 31) / 32 * 32;
  Tensor t = allocate(pool, dtype, {rows, padded});
  if (padded != cols) {  // the padding must read as zeros
    std::vector<uint8_t> zeros(t.extent_bytes(), 0);
    upload_bytes(t, zeros.data(), zeros.size());
  }
  t.shape_ = {rows, cols};
  t.strides_ = {padded, 1};
  return t;
}

QuantLayout Tensor::quant_layout(Dtype dtype, int64_t rows, int64_t cols, int group,
                                 bool scales_f32) {
  const QuantFormat f = quant_format(dtype);
  if (f.group) group = f.group;
  const uint64_t n = uint64_t(rows) * uint64_t(cols), groups = n / uint64_t(group);
  QuantLayout l;
  l.group = group;
  l.scales_f32 = scales_f32 && !f.super;
  const uint64_t per_scale = f.super ? 1 : (l.scales_f32 ? 4 : 2);
  l.bytes[int(Region::values)] = align16(n * uint64_t(f.low_bits) / 8);
  l.bytes[int(Region::high)] = align16(n * uint64_t(f.high_bits) / 8);
  l.bytes[int(Region::scales)] = align16(groups * per_scale);
  l.bytes[int(Region::biases)] = f.bias ? align16(groups * per_scale) : 0;
  l.bytes[int(Region::super)] = f.super ? align16(n / kSuperBlock * 4) : 0;
  uint64_t at = 0;
  for (int r = 0; r < kRegions; ++r) {
    l.offset[r] = at;
    at += l.bytes[r];
  }
  return l;
}

Tensor Tensor::allocate_quant(MemoryPool& pool, Dtype dtype, int64_t rows, int64_t cols, int group,
                              bool scales_f32) {
  if (!is_quantized(dtype)) throw InternalError("[tensor] allocate_quant needs a quantized dtype");
  const QuantFormat f = quant_format(dtype);
  if (f.group) group = f.group;
  if (group <= 0 || group % 16 != 0 || cols % group != 0 || cols % quant_row_multiple(dtype)) {
    throw InputError(
        fmt::format("[tensor] {} weight of {} columns cannot use group size {} (columns must be a "
                    "multiple of the group and of {})",
                    dtype_name(dtype), cols, group, quant_row_multiple(dtype)));
  }
  Tensor t;
  t.dtype_ = dtype;
  t.shape_ = {rows, cols};
  t.strides_ = {cols, 1};
  t.quant_ = quant_layout(dtype, rows, cols, group, scales_f32);
  t.mem_ = pool.allocate(t.quant_.total());
  return t;
}

Tensor Tensor::concat_rows(std::vector<Tensor> parts) {
  if (parts.empty()) throw InternalError("[concat_rows] needs parts");
  Tensor t = parts[0];
  int64_t rows = 0;
  for (const Tensor& p : parts) {
    if (p.rank() != 2 || p.dim(1) != parts[0].dim(1) || !p.parts().empty())
      throw InternalError("[concat_rows] parts must be 2-D weights with equal columns, got " +
                          p.str());
    rows += p.dim(0);
  }
  t.shape_ = {rows, parts[0].dim(1)};
  t.parts_ = std::make_shared<const std::vector<Tensor>>(std::move(parts));
  return t;
}

const std::vector<Tensor>& Tensor::parts() const {
  static const std::vector<Tensor> none;
  return parts_ ? *parts_ : none;
}

bool Tensor::contiguous() const {
  int64_t s = 1;
  for (int i = rank() - 1; i >= 0; --i) {
    if (shape_[i] != 1 && strides_[size_t(i)] != s) return false;
    s *= shape_[i];
  }
  return true;
}

uint64_t Tensor::extent_bytes() const {
  if (!defined()) return 0;
  if (is_quantized(dtype_)) return mem_->size() - offset_;
  if (numel() == 0) return 0;
  int64_t last = 0;
  for (int i = 0; i < rank(); ++i) last += (shape_[i] - 1) * strides_[size_t(i)];
  return uint64_t(last + 1) * dtype_size(dtype_);
}

Tensor Tensor::reshape(const Shape& shape) const {
  if (shape.numel() != numel()) {
    throw InternalError(fmt::format("[reshape] {} has {} elements, {} has {}", shape_.str(),
                                    numel(), shape.str(), shape.numel()));
  }
  if (!contiguous() || is_quantized(dtype_)) {
    throw InternalError("[reshape] needs a contiguous plain tensor, got " + str());
  }
  Tensor t = *this;
  t.shape_ = shape;
  int64_t s = 1;
  for (int i = shape.rank() - 1; i >= 0; --i) {
    t.strides_[size_t(i)] = s;
    s *= shape[i];
  }
  return t;
}

Tensor Tensor::slice(int dim, int64_t start, int64_t length) const {
  if (dim < 0) dim += rank();
  if (dim < 0 || dim >= rank() || start < 0 || length < 0 || start + length > shape_[dim]) {
    throw InternalError(fmt::format("[slice] dim {} [{}, {}) out of range for {}", dim, start,
                                    start + length, str()));
  }
  if (is_quantized(dtype_)) throw InternalError("[slice] quantized tensors cannot be sliced");
  Tensor t = *this;
  t.offset_ += uint64_t(start * strides_[size_t(dim)]) * dtype_size(dtype_);
  t.shape_[dim] = length;
  return t;
}

Tensor Tensor::select(int dim, int64_t index) const {
  if (dim < 0) dim += rank();
  Tensor t = slice(dim, index, 1);
  Shape s;
  std::array<int64_t, kMaxRank> st{};
  int r = 0;
  for (int i = 0; i < rank(); ++i) {
    if (i == dim) continue;
    s.push_back(t.shape_[i]);
    st[size_t(r++)] = t.strides_[size_t(i)];
  }
  t.shape_ = s;
  t.strides_ = st;
  return t;
}

Tensor Tensor::permute(std::initializer_list<int> order) const {
  if (int(order.size()) != rank())
    throw InternalError("[permute] order rank mismatch for " + str());
  Tensor t = *this;
  std::vector<bool> seen(size_t(rank()), false);
  int i = 0;
  for (int o : order) {
    if (o < 0 || o >= rank() || seen[size_t(o)])
      throw InternalError("[permute] bad order for " + str());
    seen[size_t(o)] = true;
    t.shape_[i] = shape_[o];
    t.strides_[size_t(i)] = strides_[size_t(o)];
    ++i;
  }
  return t;
}

Tensor Tensor::transpose(int a, int b) const {
  if (a < 0) a += rank();
  if (b < 0) b += rank();
  Tensor t = *this;
  std::swap(t.shape_[a], t.shape_[b]);
  std::swap(t.strides_[size_t(a)], t.strides_[size_t(b)]);
  return t;
}

Tensor Tensor::with_padding() const {
  if (rank() != 2 || stride(1) != 1 || is_quantized(dtype_)) {
    throw InternalError("[with_padding] needs a 2-D plain tensor with contiguous rows, got " +
                        str());
  }
  Tensor t = *this;
  t.shape_ = {shape_[0], strides_[0]};
  return t;
}

Tensor Tensor::region(Region r, bool or_values) const {
  if (!is_quantized(dtype_)) throw InternalError("[region] " + str() + " is not quantized");
  if (parts_) throw InternalError("[region] " + str() + " is stored in parts of several formats");
  if (!quant_.bytes[int(r)]) {
    if (or_values) return region(Region::values);
    throw InternalError(fmt::format("[region] {} has no region {}", str(), int(r)));
  }
  Tensor t;
  t.mem_ = mem_;
  t.dtype_ = Dtype::i32;
  t.offset_ = offset_ + quant_.offset[int(r)];
  t.shape_ = {int64_t(quant_.bytes[int(r)] / 4)};
  t.strides_ = {1};
  return t;
}

Tensor Tensor::unflatten(int dim, int64_t a, int64_t b) const {
  if (dim < 0) dim += rank();
  if (dim < 0 || dim >= rank() || a * b != shape_[dim] || rank() >= kMaxRank) {
    throw InternalError(
        fmt::format("[unflatten] cannot split dim {} of {} into {} x {}", dim, str(), a, b));
  }
  Tensor t = *this;
  Shape s;
  std::array<int64_t, kMaxRank> st{};
  int r = 0;
  for (int i = 0; i < rank(); ++i) {
    if (i == dim) {
      s.push_back(a);
      st[size_t(r++)] = strides_[size_t(i)] * b;
      s.push_back(b);
      st[size_t(r++)] = strides_[size_t(i)];
    } else {
      s.push_back(shape_[i]);
      st[size_t(r++)] = strides_[size_t(i)];
    }
  }
  t.shape_ = s;
  t.strides_ = st;
  return t;
}

std::string Tensor::str() const {
  if (!parts_) return std::string(dtype_name(dtype_)) + shape_.str();
  std::string s;
  for (const Tensor& p : *parts_) {
    if (!s.empty()) s.push_back('+');
    s.append(p.str());
  }
  return s;
}

}  // namespace vkllm::sdk
