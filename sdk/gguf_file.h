#pragma once
// Reads GGUF files (llama.cpp's format, versions 2 and 3): the header, every metadata key/value
// and the tensor infos, checked against the file's bytes before anything is used. Every error is
// a ModelError naming the file and the key or tensor, and says what is wrong ("truncated",
// "lies beyond the end of the file", ...). The file's bytes are the caller's (a memory map);
// GgufFile keeps a view of them, not a copy.
#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

namespace vkllm::sdk {

// GGUF's metadata value types, by the ids it stores (shared by the reader and GgufWriter).
namespace gguf_value {
enum : uint32_t {
  kU8 = 0,
  kI8,
  kU16,
  kI16,
  kU32,
  kI32,
  kF32,
  kBool,
  kString,
  kArray,
  kU64,
  kI64,
  kF64
};
}  // namespace gguf_value

// ggml's tensor types, by the ids GGUF stores.
enum class GgmlType : uint32_t {
  f32 = 0,
  f16 = 1,
  q4_0 = 2,
  q4_1 = 3,
  q5_0 = 6,
  q5_1 = 7,
  q8_0 = 8,
  q8_1 = 9,
  q2_k = 10,
  q3_k = 11,
  q4_k = 12,
  q5_k = 13,
  q6_k = 14,
  q8_k = 15,
  iq2_xxs = 16,
  iq2_xs = 17,
  iq3_xxs = 18,
  iq1_s = 19,
  iq4_nl = 20,
  iq3_s = 21,
  iq2_s = 22,
  iq4_xs = 23,
  i8 = 24,
  i16 = 25,
  i32 = 26,
  i64 = 27,
  f64 = 28,
  iq1_m = 29,
  bf16 = 30,
  tq1_0 = 34,
  tq2_0 = 35,
};

// Values per block and bytes per block of a ggml type (1 and the element size for plain types).
struct GgmlTypeInfo {
  const char* name;
  int64_t block_values;
  int64_t block_bytes;
};
// nullopt for an id ggml does not define (or has retired: 4, 5, 31-33).
std::optional<GgmlTypeInfo> ggml_type_info(uint32_t id);
// "Q4_K", or "type 77" for an unknown id.
std::string ggml_type_name(uint32_t id);

struct GgufTensorInfo {
  std::string name;
  // ggml's order: ne[0] is the innermost (contiguous) dimension, the columns of a matrix.
  std::vector<int64_t> ne;
  uint32_t type = 0;
  uint64_t offset = 0;  // from the start of the data section
  uint64_t bytes = 0;
  int64_t numel() const;
  // Rows (the product of ne[1..]) and columns (ne[0]).
  int64_t rows() const { return ne.empty() ? 1 : numel() / ne[0]; }
  int64_t cols() const { return ne.empty() ? 1 : ne[0]; }
};

class GgufFile {
 public:
  // Parses and checks `bytes` (the whole file); `path` names it in errors. Limits: at most 2^20
  // keys and tensors (also bounded by the file's size), 4 dimensions, arrays nested 4 deep.
  static GgufFile parse(std::span<const uint8_t> bytes, const std::string& path);

  uint32_t version() const { return version_; }
  const std::string& path() const { return path_; }
  uint64_t alignment() const { return alignment_; }
  uint64_t data_offset() const { return data_offset_; }

  // Metadata as JSON: numbers, booleans, strings (bytes as stored, not checked as UTF-8: dump()
  // with an error handler), arrays. Keys in file order are keys().
  const nlohmann::json& metadata() const { return meta_; }
  const std::vector<std::string>& keys() const { return keys_; }
  bool has(const std::string& key) const { return meta_.contains(key); }
  // Typed reads; a missing key or a value of another kind is a ModelError naming both.
  std::string string(const std::string& key) const;
  int64_t integer(const std::string& key) const;
  // An integer within [lo, hi] (counts and sizes a loader allocates by).
  int64_t integer_in(const std::string& key, int64_t lo, int64_t hi) const;
  double number(const std::string& key) const;  // any numeric type
  bool boolean(const std::string& key) const;
  const nlohmann::json& array(const std::string& key) const;
  // general.architecture, required by every GGUF model.
  std::string architecture() const { return string("general.architecture"); }

  const std::vector<GgufTensorInfo>& tensors() const { return tensors_; }
  const GgufTensorInfo* find(const std::string& name) const;
  // The stored bytes of a tensor (within the file: checked by parse).
  std::span<const uint8_t> data(const GgufTensorInfo& t) const;

 private:
  GgufFile() = default;
  const nlohmann::json& value(const std::string& key, bool (*ok)(const nlohmann::json&),
                              const char* want) const;
  std::span<const uint8_t> bytes_;
  std::string path_;
  uint32_t version_ = 0;
  uint64_t alignment_ = 32;
  uint64_t data_offset_ = 0;
  nlohmann::json meta_ = nlohmann::json::object();
  std::vector<std::string> keys_;
  std::vector<GgufTensorInfo> tensors_;
  std::unordered_map<std::string, size_t> index_;
};

}  // namespace vkllm::sdk
