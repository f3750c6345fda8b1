#pragma once
// Read-only, memory-mapped safetensors files. Every header field is validated against the file
// before any tensor is touched: a truncated file or a header that lies about offsets, shapes or
// dtypes fails with a ModelError naming the file and the tensor.
#include <cstdint>
#include <cstring>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <span>
#include <string>
#include <vector>

#include "sdk/base/dtype.h"

namespace vkllm::core {

// GGML: llama.cpp's quantized blocks (of the format StTensor::ggml) in a GGUF file opened as a
// checkpoint (never in a safetensors header).
enum class StDtype { F64, F32, F16, BF16, I64, I32, I16, I8, U64, U32, U16, U8, BOOL, GGML };
size_t st_dtype_size(StDtype dt);
const char* st_dtype_name(StDtype dt);

struct StTensor {
  std::string name;
  StDtype dtype = StDtype::F32;
  Dtype ggml = Dtype::f32;  // GGML: the SDK format of the blocks (q4_k, ...)
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;  // byte range within the data section
  // GGUF: the rows of each of this many heads are stored in llama.cpp's interleaved rotary
  // order; stored_row() maps a checkpoint row to the row it is stored at.
  int unpermute_heads = 0;
  float add = 0.0f;  // GGUF: added to every value read as f32 (norms stored as 1 + w)
  int64_t numel() const;
  int64_t stored_row(int64_t row) const;
};

class MappedFile {
 public:
  explicit MappedFile(const std::string& path);  // throws ModelError
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

class SafetensorsFile {
 public:
  explicit SafetensorsFile(const std::string& path);
  // A GGUF file's tensors under checkpoint names: `tensors` maps each name to
  // {"gguf": GGUF tensor name, "unpermute_heads": n, "add": x} (core/gguf). F32, F16, BF16 and
  // the quantized types the SDK reads as stored (sdk::dtype_of_ggml); others are a ModelError
  // naming the tensor and its type.
  static std::unique_ptr<SafetensorsFile> open_gguf(const std::string& path,
                                                    const nlohmann::json& tensors);
  // Parses a header from memory (used by the fuzzer and tests); `file_size` is the whole
  // file's size including the 8-byte length and the data section.
  static std::map<std::string, StTensor> parse_header(const uint8_t* bytes, uint64_t file_size,
                                                      const std::string& where,
                                                      uint64_t* data_start);

  const std::string& path() const { return map_.path(); }
  const std::map<std::string, StTensor>& tensors() const { return tensors_; }
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  std::span<const uint8_t> bytes(const StTensor& t) const;
  // The values of tensor `name` copied out as T, which must match its dtype's size (reference
  // outputs in tests and tools). ModelError when the tensor is missing.
  template <class T>
  std::vector<T> values(const std::string& name) const {
    auto b = bytes(tensor(name));
    std::vector<T> v(b.size() / sizeof(T));
    std::memcpy(v.data(), b.data(), v.size() * sizeof(T));
    return v;
  }
  const StTensor& tensor(const std::string& name) const;
  // A float tensor's values (F32, F16, BF16, or GGUF blocks dequantized) as f32, rows in
  // checkpoint order; ModelError naming it for other dtypes.
  std::vector<float> f32(const StTensor& t) const;

 private:
  struct Unparsed {};
  SafetensorsFile(const std::string& path, Unparsed) : map_(path) {}
  MappedFile map_;
  uint64_t data_start_ = 0;
  std::map<std::string, StTensor> tensors_;
  std::map<std::string, std::string> metadata_;
};

// Writes a safetensors file (for --logits-out, tests and tools).
struct StWrite {
  std::string name;
  StDtype dtype;
  std::vector<int64_t> shape;
  const void* data;
  uint64_t bytes;
};
void write_safetensors(const std::string& path, const std::vector<StWrite>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

}  // namespace vkllm::core
