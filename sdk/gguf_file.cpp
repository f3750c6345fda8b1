#include "sdk/gguf_file.h"

#include <fmt/format.h>

#include <cstring>
#include <limits>

#include "sdk/base/error.h"

namespace vkllm::sdk {
namespace {

constexpr uint32_t kMagic = 0x46554747;  // "GGUF" little-endian
constexpr uint64_t kMaxEntries = uint64_t(1) << 20;
constexpr int kMaxDims = 4;
constexpr int kMaxNesting = 4;

using namespace gguf_value;

// Smallest encoding of a value of each type (an array's element); 0 for an unknown type.
uint64_t min_size(uint32_t type) {
  switch (type) {
    case kU8:
    case kI8:
    case kBool:
      return 1;
    case kU16:
    case kI16:
      return 2;
    case kU32:
    case kI32:
    case kF32:
      return 4;
    case kU64:
    case kI64:
    case kF64:
    case kString:  // its length
      return 8;
    case kArray:  // element type + count
      return 12;
    default:
      return 0;
  }
}

// A cursor over the file's bytes; every read checks the bytes are there.
class Reader {
 public:
  Reader(std::span<const uint8_t> b, const std::string& path) : b_(b), path_(path) {}
  uint64_t pos() const { return pos_; }
  uint64_t left() const { return b_.size() - pos_; }

  template <class T>
  T get(const char* what, const std::string& where) {
    need(sizeof(T), what, where);
    T v;
    std::memcpy(&v, b_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return v;
  }
  std::string str(const char* what, const std::string& where) {
    uint64_t n = get<uint64_t>(what, where);
    need(n, what, where);
    std::string s(reinterpret_cast<const char*>(b_.data() + pos_), size_t(n));
    pos_ += n;
    return s;
  }
  [[noreturn]] void fail(const std::string& msg) const {
    throw ModelError(fmt::format("{}: {} (GGUF file at byte {})", path_, msg, pos_));
  }

 private:
  void need(uint64_t n, const char* what, const std::string& where) const {
    if (n > left())
      throw ModelError(fmt::format(
          "{}: {}{} needs {} bytes at byte {} but the file ends {} bytes later: truncated or "
          "corrupt GGUF file",
          path_, what, where.empty() ? "" : " of " + where, n, pos_, left()));
  }
  std::span<const uint8_t> b_;
  const std::string& path_;
  uint64_t pos_ = 0;
};

nlohmann::json read_value(Reader& r, uint32_t type, const std::string& key, int depth) {
  switch (type) {
    case kU8:
      return r.get<uint8_t>("value", key);
    case kI8:
      return r.get<int8_t>("value", key);
    case kU16:
      return r.get<uint16_t>("value", key);
    case kI16:
      return r.get<int16_t>("value", key);
    case kU32:
      return r.get<uint32_t>("value", key);
    case kI32:
      return r.get<int32_t>("value", key);
    case kF32:
      return r.get<float>("value", key);
    case kU64:
      return r.get<uint64_t>("value", key);
    case kI64:
      return r.get<int64_t>("value", key);
    case kF64:
      return r.get<double>("value", key);
    case kBool: {
      uint8_t v = r.get<uint8_t>("value", key);
      if (v > 1) r.fail(fmt::format("key '{}': boolean value {} is neither 0 nor 1", key, v));
      return v == 1;
    }
    case kString: {
      // The bytes as stored (not checked as UTF-8: dump() them with an error handler).
      return r.str("string", key);
    }
    case kArray: {
      if (depth >= kMaxNesting)
        r.fail(fmt::format("key '{}': arrays nested more than {} deep", key, kMaxNesting));
      uint32_t et = r.get<uint32_t>("array element type", key);
      uint64_t n = r.get<uint64_t>("array length", key);
      uint64_t each = min_size(et);
      if (each == 0) r.fail(fmt::format("key '{}': unknown array element type {}", key, et));
      if (n > r.left() / each)
        r.fail(
            fmt::format("key '{}': an array of {} elements of type {} cannot fit in the {} "
                        "bytes left: truncated or corrupt",
                        key, n, et, r.left()));
      nlohmann::json a = nlohmann::json::array();
      a.get_ref<nlohmann::json::array_t&>().reserve(size_t(n));
      for (uint64_t i = 0; i < n; ++i) a.push_back(read_value(r, et, key, depth + 1));
      return a;
    }
    default:
      r.fail(fmt::format("key '{}': unknown value type {}", key, type));
  }
}

const char* kind_of(const nlohmann::json& v) {
  if (v.is_string()) return "a string";
  if (v.is_boolean()) return "a boolean";
  if (v.is_number_integer()) return "an integer";
  if (v.is_number()) return "a number";
  if (v.is_array()) return "an array";
  return "a value";
}

}  // namespace

std::optional<GgmlTypeInfo> ggml_type_info(uint32_t id) {
  switch (GgmlType(id)) {
    case GgmlType::f32:
      return GgmlTypeInfo{"F32", 1, 4};
    case GgmlType::f16:
      return GgmlTypeInfo{"F16", 1, 2};
    case GgmlType::q4_0:
      return GgmlTypeInfo{"Q4_0", 32, 18};
    case GgmlType::q4_1:
      return GgmlTypeInfo{"Q4_1", 32, 20};
    case GgmlType::q5_0:
      return GgmlTypeInfo{"Q5_0", 32, 22};
    case GgmlType::q5_1:
      return GgmlTypeInfo{"Q5_1", 32, 24};
    case GgmlType::q8_0:
      return GgmlTypeInfo{"Q8_0", 32, 34};
    case GgmlType::q8_1:
      return GgmlTypeInfo{"Q8_1", 32, 36};
    case GgmlType::q2_k:
      return GgmlTypeInfo{"Q2_K", 256, 84};
    case GgmlType::q3_k:
      return GgmlTypeInfo{"Q3_K", 256, 110};
    case GgmlType::q4_k:
      return GgmlTypeInfo{"Q4_K", 256, 144};
    case GgmlType::q5_k:
      return GgmlTypeInfo{"Q5_K", 256, 176};
    case GgmlType::q6_k:
      return GgmlTypeInfo{"Q6_K", 256, 210};
    case GgmlType::q8_k:
      return GgmlTypeInfo{"Q8_K", 256, 292};
    case GgmlType::iq2_xxs:
      return GgmlTypeInfo{"IQ2_XXS", 256, 66};
    case GgmlType::iq2_xs:
      return GgmlTypeInfo{"IQ2_XS", 256, 74};
    case GgmlType::iq3_xxs:
      return GgmlTypeInfo{"IQ3_XXS", 256, 98};
    case GgmlType::iq1_s:
      return GgmlTypeInfo{"IQ1_S", 256, 50};
    case GgmlType::iq4_nl:
      return GgmlTypeInfo{"IQ4_NL", 32, 18};
    case GgmlType::iq3_s:
      return GgmlTypeInfo{"IQ3_S", 256, 110};
    case GgmlType::iq2_s:
      return GgmlTypeInfo{"IQ2_S", 256, 82};
    case GgmlType::iq4_xs:
      return GgmlTypeInfo{"IQ4_XS", 256, 136};
    case GgmlType::i8:
      return GgmlTypeInfo{"I8", 1, 1};
    case GgmlType::i16:
      return GgmlTypeInfo{"I16", 1, 2};
    case GgmlType::i32:
      return GgmlTypeInfo{"I32", 1, 4};
    case GgmlType::i64:
      return GgmlTypeInfo{"I64", 1, 8};
    case GgmlType::f64:
      return GgmlTypeInfo{"F64", 1, 8};
    case GgmlType::iq1_m:
      return GgmlTypeInfo{"IQ1_M", 256, 56};
    case GgmlType::bf16:
      return GgmlTypeInfo{"BF16", 1, 2};
    case GgmlType::tq1_0:
      return GgmlTypeInfo{"TQ1_0", 256, 54};
    case GgmlType::tq2_0:
      return GgmlTypeInfo{"TQ2_0", 256, 66};
  }
  return std::nullopt;
}

std::string ggml_type_name(uint32_t id) {
  auto t = ggml_type_info(id);
  return t ? std::string(t->name) : fmt::format("type {}", id);
}

int64_t GgufTensorInfo::numel() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

GgufFile GgufFile::parse(std::span<const uint8_t> bytes, const std::string& path) {
  GgufFile f;
  f.bytes_ = bytes;
  f.path_ = path;
  Reader r(bytes, f.path_);
  if (bytes.size() < 4 || r.get<uint32_t>("magic", "") != kMagic)
    throw ModelError(fmt::format("{}: not a GGUF file (it does not start with 'GGUF')", path));
  f.version_ = r.get<uint32_t>("version", "");
  if (f.version_ != 2 && f.version_ != 3)
    r.fail(fmt::format("GGUF version {} is not supported (2 and 3 are)", f.version_));
  const uint64_t n_tensors = r.get<uint64_t>("tensor count", "");
  const uint64_t n_kv = r.get<uint64_t>("metadata count", "");
  // Each key takes at least 8 + 1 + 4 + 1 bytes, each tensor info 8 + 1 + 4 + 8 + 4 + 8.
  if (n_kv > kMaxEntries || n_kv > r.left() / 14)
    r.fail(
        fmt::format("{} metadata keys cannot be right for a file of {} bytes", n_kv, bytes.size()));
  if (n_tensors > kMaxEntries || n_tensors > r.left() / 33)
    r.fail(
        fmt::format("{} tensors cannot be right for a file of {} bytes", n_tensors, bytes.size()));

  for (uint64_t i = 0; i < n_kv; ++i) {
    std::string key = r.str("key", fmt::format("metadata entry {}", i));
    if (key.empty()) r.fail(fmt::format("metadata entry {} has an empty key", i));
    if (f.meta_.contains(key)) r.fail(fmt::format("key '{}' appears twice", key));
    uint32_t type = r.get<uint32_t>("value type", key);
    f.meta_[key] = read_value(r, type, key, 0);
    f.keys_.push_back(std::move(key));
  }
  if (f.has("general.alignment")) {
    int64_t a = f.integer_in("general.alignment", 1, int64_t(1) << 30);
    if ((a & (a - 1)) != 0)
      throw ModelError(fmt::format("{}: general.alignment {} is not a power of two", path, a));
    f.alignment_ = uint64_t(a);
  }

  f.tensors_.reserve(size_t(n_tensors));
  for (uint64_t i = 0; i < n_tensors; ++i) {
    GgufTensorInfo t;
    t.name = r.str("tensor name", fmt::format("tensor info {}", i));
    const std::string where = "tensor '" + t.name + "'";
    const uint32_t n_dims = r.get<uint32_t>("dimension count", where);
    if (n_dims > kMaxDims)
      r.fail(fmt::format("{} has {} dimensions (at most {})", where, n_dims, kMaxDims));
    int64_t numel = 1;
    for (uint32_t d = 0; d < n_dims; ++d) {
      uint64_t ne = r.get<uint64_t>("dimension", where);
      if (ne == 0 || ne > uint64_t(std::numeric_limits<int64_t>::max()) ||
          int64_t(ne) > std::numeric_limits<int64_t>::max() / numel)
        r.fail(fmt::format("{}: dimension {} is {} (empty or overflowing)", where, d, ne));
      numel *= int64_t(ne);
      t.ne.push_back(int64_t(ne));
    }
    t.type = r.get<uint32_t>("type", where);
    t.offset = r.get<uint64_t>("data offset", where);
    auto ti = ggml_type_info(t.type);
    if (!ti) r.fail(fmt::format("{} has an unknown ggml type id {}", where, t.type));
    if (t.cols() % ti->block_values != 0)
      r.fail(fmt::format("{}: rows of {} values are not whole {} blocks of {}", where, t.cols(),
                         ti->name, ti->block_values));
    if (numel / ti->block_values > std::numeric_limits<int64_t>::max() / ti->block_bytes)
      r.fail(fmt::format("{}: {} values of {} overflow a size", where, numel, ti->name));
    t.bytes = uint64_t(numel / ti->block_values * ti->block_bytes);
    if (t.offset % f.alignment_ != 0)
      r.fail(fmt::format("{}: data offset {} is not a multiple of the alignment {}", where,
                         t.offset, f.alignment_));
    if (f.index_.count(t.name)) r.fail(fmt::format("{} appears twice", where));
    f.index_[t.name] = f.tensors_.size();
    f.tensors_.push_back(std::move(t));
  }

  f.data_offset_ = (r.pos() + f.alignment_ - 1) / f.alignment_ * f.alignment_;
  const uint64_t data_bytes = f.data_offset_ <= bytes.size() ? bytes.size() - f.data_offset_ : 0;
  for (const auto& t : f.tensors_) {
    if (t.offset > data_bytes || t.bytes > data_bytes - t.offset)
      throw ModelError(fmt::format(
          "{}: tensor '{}' ({} bytes at data offset {}) lies beyond the end of the file ({} "
          "bytes of data): truncated or corrupt GGUF file",
          path, t.name, t.bytes, t.offset, data_bytes));
  }
  return f;
}

const nlohmann::json& GgufFile::value(const std::string& key, bool (*ok)(const nlohmann::json&),
                                      const char* want) const {
  auto it = meta_.find(key);
  if (it == meta_.end()) throw ModelError(fmt::format("{}: GGUF key '{}' is missing", path_, key));
  if (!ok(*it))
    throw ModelError(
        fmt::format("{}: GGUF key '{}' is {}, not {}", path_, key, kind_of(*it), want));
  return *it;
}

const nlohmann::json& GgufFile::array(const std::string& key) const {
  return value(
      key, [](const nlohmann::json& v) { return v.is_array(); }, "an array");
}

std::string GgufFile::string(const std::string& key) const {
  return value(
             key, [](const nlohmann::json& v) { return v.is_string(); }, "a string")
      .get<std::string>();
}

int64_t GgufFile::integer(const std::string& key) const {
  const auto& v = value(
      key, [](const nlohmann::json& j) { return j.is_number_integer(); }, "an integer");
  if (v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(std::numeric_limits<int64_t>::max()))
    throw ModelError(
        fmt::format("{}: GGUF key '{}' = {} is too large", path_, key, v.get<uint64_t>()));
  return v.get<int64_t>();
}

int64_t GgufFile::integer_in(const std::string& key, int64_t lo, int64_t hi) const {
  int64_t v = integer(key);
  if (v < lo || v > hi)
    throw ModelError(
        fmt::format("{}: GGUF key '{}' = {} is outside [{}, {}]", path_, key, v, lo, hi));
  return v;
}

double GgufFile::number(const std::string& key) const {
  return value(
             key, [](const nlohmann::json& v) { return v.is_number(); }, "a number")
      .get<double>();
}

bool GgufFile::boolean(const std::string& key) const {
  return value(
             key, [](const nlohmann::json& v) { return v.is_boolean(); }, "a boolean")
      .get<bool>();
}

const GgufTensorInfo* GgufFile::find(const std::string& name) const {
  auto it = index_.find(name);
  return it == index_.end() ? nullptr : &tensors_[it->second];
}

std::span<const uint8_t> GgufFile::data(const GgufTensorInfo& t) const {
  return bytes_.subspan(size_t(data_offset_ + t.offset), size_t(t.bytes));
}

}  // namespace vkllm::sdk
