#include "core/weights/safetensors.h"

#include <fcntl.h>
#include <fmt/format.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>

#include "core/limits.h"
#include "sdk/base/dtype.h"
#include "sdk/base/error.h"
#include "sdk/gguf_file.h"
#include "sdk/quant.h"

namespace vkllm::core {
namespace {

struct DtypeName {
  const char* name;
  StDtype dt;
  size_t size;
};
const DtypeName kDtypes[] = {
    {"F64", StDtype::F64, 8},   {"F32", StDtype::F32, 4}, {"F16", StDtype::F16, 2},
    {"BF16", StDtype::BF16, 2}, {"I64", StDtype::I64, 8}, {"I32", StDtype::I32, 4},
    {"I16", StDtype::I16, 2},   {"I8", StDtype::I8, 1},   {"U64", StDtype::U64, 8},
    {"U32", StDtype::U32, 4},   {"U16", StDtype::U16, 2}, {"U8", StDtype::U8, 1},
    {"BOOL", StDtype::BOOL, 1},
};

}  // namespace

size_t st_dtype_size(StDtype dt) {
  for (auto& d : kDtypes)
    if (d.dt == dt) return d.size;
  return 0;
}

const char* st_dtype_name(StDtype dt) {
  for (auto& d : kDtypes)
    if (d.dt == dt) return d.name;
  if (dt == StDtype::GGML) return "GGML";
  return "?";
}

int64_t StTensor::numel() const {
  int64_t n = 1;
  for (int64_t d : shape) n *= d;
  return n;
}

int64_t StTensor::stored_row(int64_t row) const {
  if (unpermute_heads <= 0 || shape.empty()) return row;
  // llama.cpp's converter stored row h*d + 2i + part for checkpoint row h*d + part*d/2 + i.
  const int64_t d = shape[0] / unpermute_heads, half = d / 2;
  const int64_t h = row / d, r = row % d, part = r / half, i = r % half;
  return h * d + 2 * i + part;
}

std::unique_ptr<SafetensorsFile> SafetensorsFile::open_gguf(const std::string& path,
                                                            const nlohmann::json& tensors) {
  std::unique_ptr<SafetensorsFile> f(new SafetensorsFile(path, Unparsed{}));
  const auto g = sdk::GgufFile::parse({f->map_.data(), size_t(f->map_.size())}, path);
  f->data_start_ = g.data_offset();
  for (const auto& [name, ref] : tensors.items()) {
    const std::string gname = ref.at("gguf").get<std::string>();
    const sdk::GgufTensorInfo* t = g.find(gname);
    if (!t) throw ModelError(fmt::format("{}: tensor '{}' ({}) is missing", path, gname, name));
    StTensor st;
    st.name = name;
    for (auto it = t->ne.rbegin(); it != t->ne.rend(); ++it) st.shape.push_back(*it);
    const auto dt = sdk::dtype_of_ggml(sdk::GgmlType(t->type));
    if (!dt) {
      std::string known;  // every type the SDK reads, named as ggml does
      for (uint32_t id = 0; id < 64; ++id) {
        if (!sdk::dtype_of_ggml(sdk::GgmlType(id))) continue;
        if (!known.empty()) known.append(", ");
        known.append(sdk::ggml_type_name(id));
      }
      throw ModelError(fmt::format("{}: tensor '{}' is {}: this build reads {} GGUF tensors", path,
                                   gname, sdk::ggml_type_name(t->type), known));
    }
    st.dtype = *dt == Dtype::f32    ? StDtype::F32
               : *dt == Dtype::f16  ? StDtype::F16
               : *dt == Dtype::bf16 ? StDtype::BF16
                                    : StDtype::GGML;
    st.ggml = *dt;
    st.unpermute_heads = ref.value("unpermute_heads", 0);
    st.add = ref.value("add", 0.0f);
    if (st.unpermute_heads > 0 &&
        (st.shape.empty() || st.shape[0] % (2 * int64_t(st.unpermute_heads)) != 0))
      throw ModelError(fmt::format("{}: tensor '{}' has {} rows, not an even count per head of {}",
                                   path, gname, st.shape.empty() ? 0 : st.shape[0],
                                   st.unpermute_heads));
    st.begin = t->offset;
    st.end = t->offset + t->bytes;
    f->tensors_[name] = std::move(st);
  }
  return f;
}

MappedFile::MappedFile(const std::string& path) : path_(path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw ModelError(fmt::format("{}: cannot open: {}", path, std::strerror(errno)));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw ModelError(fmt::format("{}: not a regular file", path));
  }
  size_ = uint64_t(st.st_size);
  if (size_ > 0) {
    void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
    if (p == MAP_FAILED) {
      ::close(fd);
      throw ModelError(fmt::format("{}: cannot map: {}", path, std::strerror(errno)));
    }
    data_ = static_cast<const uint8_t*>(p);
  }
  ::close(fd);
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

std::map<std::string, StTensor> SafetensorsFile::parse_header(const uint8_t* bytes,
                                                              uint64_t file_size,
                                                              const std::string& where,
                                                              uint64_t* data_start) {
  if (file_size < 8) {
    throw ModelError(
        fmt::format("{}: truncated: {} bytes, a safetensors file starts with an "
                    "8-byte header length",
                    where, file_size));
  }
  uint64_t n = 0;
  std::memcpy(&n, bytes, 8);
  if (n > limits::kSafetensorsHeaderBytes) {
    throw ModelError(fmt::format("{}: header length {} is more than the {} MiB limit", where, n,
                                 limits::kSafetensorsHeaderBytes >> 20));
  }
  if (n > file_size - 8) {
    throw ModelError(fmt::format("{}: header length {} exceeds the file ({} bytes; truncated?)",
                                 where, n, file_size));
  }
  nlohmann::json h;
  try {
    h = nlohmann::json::parse(bytes + 8, bytes + 8 + n);
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(fmt::format("{}: header is not valid JSON: {}", where, e.what()));
  }
  if (!h.is_object()) throw ModelError(fmt::format("{}: header is not a JSON object", where));
  if (size_t tensors = h.size() - (h.contains("__metadata__") ? 1 : 0);
      tensors > limits::kSafetensorsTensors) {
    throw ModelError(fmt::format("{}: {} tensors is more than the limit of {} per file", where,
                                 tensors, limits::kSafetensorsTensors));
  }
  *data_start = 8 + n;
  uint64_t data_size = file_size - *data_start;
  std::map<std::string, StTensor> out;
  for (const auto& item : h.items()) {
    // Named, not a structured binding: clang 14 cannot capture bindings in the lambda below.
    const std::string& name = item.key();
    const nlohmann::json& v = item.value();
    if (name == "__metadata__") continue;
    auto bad = [&](const std::string& what) {
      return ModelError(fmt::format("{}: tensor '{}': {}", where, name, what));
    };
    if (!v.is_object() || !v.contains("dtype") || !v.contains("shape") ||
        !v.contains("data_offsets")) {
      throw bad("entry needs dtype, shape and data_offsets");
    }
    StTensor t;
    t.name = name;
    if (!v["dtype"].is_string()) throw bad("dtype is not a string");
    std::string dt = v["dtype"].get<std::string>();
    bool known = false;
    for (auto& d : kDtypes) {
      if (dt == d.name) {
        t.dtype = d.dt;
        known = true;
      }
    }
    if (!known) throw bad("unknown dtype '" + dt + "'");
    if (!v["shape"].is_array()) throw bad("shape is not an array");
    if (v["shape"].size() > size_t(limits::kTensorRank))
      throw bad(fmt::format("{} dimensions is more than the limit of {}", v["shape"].size(),
                            limits::kTensorRank));
    uint64_t numel = 1;
    for (const auto& d : v["shape"]) {
      if (!d.is_number_unsigned()) throw bad("shape has a negative or non-integer dimension");
      uint64_t x = d.get<uint64_t>();
      if (x != 0 && numel > std::numeric_limits<uint64_t>::max() / 16 / x)
        throw bad("shape overflows");
      numel *= x;
      t.shape.push_back(int64_t(x));
    }
    const auto& off = v["data_offsets"];
    if (!off.is_array() || off.size() != 2 || !off[0].is_number_unsigned() ||
        !off[1].is_number_unsigned()) {
      throw bad("data_offsets must be two non-negative integers");
    }
    t.begin = off[0].get<uint64_t>();
    t.end = off[1].get<uint64_t>();
    if (t.begin > t.end || t.end > data_size) {
      throw bad(
          fmt::format("data_offsets [{}, {}] lie outside the data section ({} bytes; the "
                      "file may be truncated)",
                      t.begin, t.end, data_size));
    }
    uint64_t need = numel * st_dtype_size(t.dtype);
    if (t.end - t.begin != need) {
      throw bad(fmt::format("shape {} of {} needs {} bytes, data_offsets give {}",
                            v["shape"].dump(), dt, need, t.end - t.begin));
    }
    out.emplace(name, std::move(t));
  }
  return out;
}

SafetensorsFile::SafetensorsFile(const std::string& path) : map_(path) {
  tensors_ = parse_header(map_.data(), map_.size(), path, &data_start_);
  uint64_t n = data_start_ - 8;
  auto h = nlohmann::json::parse(map_.data() + 8, map_.data() + 8 + n);
  if (h.contains("__metadata__") && h["__metadata__"].is_object()) {
    for (const auto& [k, v] : h["__metadata__"].items()) {
      if (v.is_string()) metadata_[k] = v.get<std::string>();
    }
  }
}

std::span<const uint8_t> SafetensorsFile::bytes(const StTensor& t) const {
  return {map_.data() + data_start_ + t.begin, size_t(t.end - t.begin)};
}

const StTensor& SafetensorsFile::tensor(const std::string& name) const {
  auto it = tensors_.find(name);
  if (it == tensors_.end()) throw ModelError(fmt::format("{}: no tensor '{}'", path(), name));
  return it->second;
}

void write_safetensors(const std::string& path, const std::vector<StWrite>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  nlohmann::json h = nlohmann::json::object();
  uint64_t offset = 0;
  for (const auto& t : tensors) {
    h[t.name] = {{"dtype", st_dtype_name(t.dtype)},
                 {"shape", t.shape},
                 {"data_offsets", {offset, offset + t.bytes}}};
    offset += t.bytes;
  }
  if (!metadata.empty()) h["__metadata__"] = metadata;
  std::string header = h.dump();
  header.append((8 - header.size() % 8) % 8, ' ');
  std::ofstream out(path, std::ios::binary);
  if (!out) throw InputError(fmt::format("{}: cannot write: {}", path, std::strerror(errno)));
  uint64_t n = header.size();
  out.write(reinterpret_cast<const char*>(&n), 8);
  out.write(header.data(), std::streamsize(header.size()));
  for (const auto& t : tensors)
    out.write(static_cast<const char*>(t.data), std::streamsize(t.bytes));
  if (!out) throw InputError(fmt::format("{}: write failed", path));
}

std::vector<float> SafetensorsFile::f32(const StTensor& t) const {
  auto b = bytes(t);
  const int64_t n = t.numel();
  std::vector<float> out(static_cast<size_t>(n));
  switch (t.dtype) {
    case StDtype::F32:
      std::memcpy(out.data(), b.data(), size_t(n) * 4);
      break;
    case StDtype::F16:
    case StDtype::BF16:
      for (int64_t i = 0; i < n; ++i) {
        uint16_t h;
        std::memcpy(&h, b.data() + 2 * i, 2);
        out[size_t(i)] = t.dtype == StDtype::F16 ? f16_to_f32(h) : bf16_to_f32(h);
      }
      break;
    case StDtype::GGML: {
      const int64_t cols = t.shape.empty() ? 1 : t.shape.back();
      out = sdk::dequantize(sdk::from_gguf_blocks(t.ggml, b.data(), n / cols, cols));
      break;
    }
    default:
      throw ModelError(fmt::format("{}: tensor '{}' has dtype {}; a float tensor was expected",
                                   path(), t.name, st_dtype_name(t.dtype)));
  }
  if (t.add != 0.0f)
    for (auto& x : out) x += t.add;
  if (t.unpermute_heads > 0) {  // rows back into checkpoint order
    const int64_t rows = t.shape[0], cols = n / rows;
    std::vector<float> stored = std::move(out);
    out.resize(stored.size());
    for (int64_t r = 0; r < rows; ++r)
      std::copy_n(stored.begin() + t.stored_row(r) * cols, cols, out.begin() + r * cols);
  }
  return out;
}

}  // namespace vkllm::core
