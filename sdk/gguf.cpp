#include "sdk/gguf.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <type_traits>

#include "sdk/base/error.h"
#include "sdk/gguf_file.h"
#include "sdk/quant.h"

namespace vkllm::sdk {
namespace {

using namespace gguf_value;

template <class T>
void put(std::vector<uint8_t>& b, T v) {
  size_t at = b.size();
  b.resize(at + sizeof(T));
  std::memcpy(b.data() + at, &v, sizeof(T));
}
void put_str(std::vector<uint8_t>& b, const std::string& s) {
  put<uint64_t>(b, s.size());
  b.insert(b.end(), s.begin(), s.end());
}

// One key: its name, value type and value; arrays also carry their element type and length.
template <class Stored, class T>
void put_scalar(std::vector<uint8_t>& b, const std::string& key, uint32_t type, T v) {
  put_str(b, key);
  put<uint32_t>(b, type);
  put<Stored>(b, Stored(v));
}
template <class T>
void put_array(std::vector<uint8_t>& b, const std::string& key, uint32_t type,
               const std::vector<T>& v) {
  put_str(b, key);
  put<uint32_t>(b, kArray);
  put<uint32_t>(b, type);
  put<uint64_t>(b, v.size());
  for (const T& x : v) {
    if constexpr (std::is_same_v<T, std::string>)
      put_str(b, x);
    else
      put<T>(b, x);
  }
}

}  // namespace

void GgufWriter::kv(const std::string& key, const std::string& v) {
  put_str(kvs_, key);
  put<uint32_t>(kvs_, kString);
  put_str(kvs_, v);
  ++n_kv_;
}
void GgufWriter::kv(const std::string& key, uint32_t v) {
  put_scalar<uint32_t>(kvs_, key, kU32, v);
  ++n_kv_;
}
void GgufWriter::kv(const std::string& key, int32_t v) {
  put_scalar<int32_t>(kvs_, key, kI32, v);
  ++n_kv_;
}
void GgufWriter::kv(const std::string& key, float v) {
  put_scalar<float>(kvs_, key, kF32, v);
  ++n_kv_;
}
void GgufWriter::kv(const std::string& key, bool v) {
  put_scalar<uint8_t>(kvs_, key, kBool, v ? 1 : 0);
  ++n_kv_;
}
void GgufWriter::kv(const std::string& key, const std::vector<std::string>& v) {
  put_array(kvs_, key, kString, v);
  ++n_kv_;
}
void GgufWriter::kv(const std::string& key, const std::vector<float>& v) {
  put_array(kvs_, key, kF32, v);
  ++n_kv_;
}
void GgufWriter::kv(const std::string& key, const std::vector<int32_t>& v) {
  put_array(kvs_, key, kI32, v);
  ++n_kv_;
}

namespace {
struct ExportName {
  const char* name;
  Dtype base;
  uint32_t file_type;
  bool mix;
};
constexpr ExportName kExports[] = {
    {"f32", Dtype::f32, 0, false},        {"f16", Dtype::f16, 1, false},
    {"q8_0", Dtype::q8_0, 7, false},      {"q4_0", Dtype::q4_0, 2, false},
    {"q4_1", Dtype::q4_1, 3, false},      {"q5_0", Dtype::q5_0, 8, false},
    {"q5_1", Dtype::q5_1, 9, false},      {"q2_k", Dtype::q2_k, 10, false},
    {"q3_k", Dtype::q3_k, 11, false},     {"q4_k", Dtype::q4_k, 14, false},
    {"q4_k_m", Dtype::q4_k, 15, true},    {"q5_k", Dtype::q5_k, 16, false},
    {"q5_k_m", Dtype::q5_k, 17, true},    {"q6_k", Dtype::q6_k, 18, false},
    {"iq4_nl", Dtype::iq4_nl, 25, false}, {"iq4_xs", Dtype::iq4_xs, 30, false},
};

// Layer index of "blk.N.…", or -1.
int layer_of(const std::string& name) {
  if (name.rfind("blk.", 0) != 0) return -1;
  int n = 0;
  size_t i = 4;
  for (; i < name.size() && name[i] >= '0' && name[i] <= '9'; ++i) n = n * 10 + (name[i] - '0');
  return i > 4 ? n : -1;
}

// llama.cpp gives these layers' attn_v and ffn_down more bits in its _M mixes.
bool more_bits(int layer, int layers) {
  return layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;
}

bool ends_with(const std::string& s, const char* suffix) {
  const size_t n = std::strlen(suffix);
  return s.size() >= n && s.compare(s.size() - n, n, suffix) == 0;
}
}  // namespace

Dtype GgufExportType::matrix_type(const std::string& gguf_name, int64_t cols, int layers) const {
  Dtype t = base;
  if (mix) {
    const int layer = layer_of(gguf_name);
    if (gguf_name == "output.weight" ||
        ((ends_with(gguf_name, ".attn_v.weight") || ends_with(gguf_name, ".ffn_down.weight")) &&
         layer >= 0 && more_bits(layer, layers)))
      t = Dtype::q6_k;
  }
  if (is_quantized(t) && cols % quant_row_multiple(t) != 0) {
    switch (t) {
      case Dtype::q4_k:
        t = Dtype::q5_0;
        break;
      case Dtype::q5_k:
        t = Dtype::q5_1;
        break;
      case Dtype::q6_k:
        t = Dtype::q8_0;
        break;
      case Dtype::q2_k:
      case Dtype::q3_k:
        t = Dtype::q4_0;
        break;
      case Dtype::iq4_xs:
        t = Dtype::iq4_nl;
        break;
      default:
        break;
    }
    if (cols % quant_row_multiple(t) != 0) t = Dtype::f16;
  }
  return t;
}

GgufExportType gguf_export_type(const std::string& name) {
  for (const auto& e : kExports)
    if (name == e.name) return {e.name, e.base, e.file_type, e.mix};
  std::string known;
  for (const auto& n : gguf_export_type_names()) known += (known.empty() ? "" : ", ") + n;
  throw InputError(fmt::format("'{}' is not a GGUF export type ({})", name, known));
}

std::vector<std::string> gguf_export_type_names() {
  std::vector<std::string> v;
  for (const auto& e : kExports) v.emplace_back(e.name);
  return v;
}

void GgufWriter::set_export(const GgufExportType& type, int layers) {
  export_ = type;
  has_export_ = true;
  layers_ = layers;
  kv("general.file_type", type.file_type);
}

void GgufWriter::tensor(const std::string& name, const std::vector<int64_t>& shape,
                        const std::vector<float>& values, Dtype type) {
  Tensor t{name, shape, 0, {}};
  int64_t cols = shape.back(), rows = int64_t(values.size()) / std::max<int64_t>(cols, 1);
  if (has_export_ && shape.size() == 2 && type == export_.base)
    type = export_.matrix_type(name, cols, layers_);
  switch (type) {
    case Dtype::f32:
      t.ggml_type = 0;
      t.data.resize(values.size() * 4);
      std::memcpy(t.data.data(), values.data(), t.data.size());
      break;
    case Dtype::f16:
      t.ggml_type = 1;
      for (float x : values) put<uint16_t>(t.data, f32_to_f16(x));
      break;
    default:
      if (!is_quantized(type) || type == Dtype::mlx4 || type == Dtype::mlx8)
        throw InputError(fmt::format("[gguf] {} cannot be written", dtype_name(type)));
      if (cols % quant_row_multiple(type))
        throw InputError(
            fmt::format("[gguf] {}: {} columns cannot be {}", name, cols, dtype_name(type)));
      t.ggml_type = uint32_t(ggml_type_of(type));
      t.data = to_gguf_blocks(quantize(type, values.data(), rows, cols));
      break;
  }
  tensors_.push_back(std::move(t));
}

void GgufWriter::vocab_byte_bpe(const std::vector<std::string>& tokens,
                                const std::vector<int32_t>& types,
                                const std::vector<std::string>& merges, int32_t bos, int32_t eos,
                                const std::string& pre, bool add_bos) {
  kv("tokenizer.ggml.model", std::string("gpt2"));
  kv("tokenizer.ggml.pre", pre);
  kv("tokenizer.ggml.tokens", tokens);
  kv("tokenizer.ggml.token_type", types);
  kv("tokenizer.ggml.merges", merges);
  if (bos >= 0) kv("tokenizer.ggml.bos_token_id", uint32_t(bos));
  if (eos >= 0) kv("tokenizer.ggml.eos_token_id", uint32_t(eos));
  kv("tokenizer.ggml.add_bos_token", bos >= 0 && add_bos);
}

void GgufWriter::vocab_spm(const std::vector<std::string>& tokens, const std::vector<float>& scores,
                           const std::vector<int32_t>& types, int32_t bos, int32_t eos, int32_t unk,
                           bool add_space_prefix, bool add_bos) {
  kv("tokenizer.ggml.model", std::string("llama"));
  kv("tokenizer.ggml.tokens", tokens);
  kv("tokenizer.ggml.scores", scores);
  kv("tokenizer.ggml.token_type", types);
  if (bos >= 0) kv("tokenizer.ggml.bos_token_id", uint32_t(bos));
  if (eos >= 0) kv("tokenizer.ggml.eos_token_id", uint32_t(eos));
  if (unk >= 0) kv("tokenizer.ggml.unknown_token_id", uint32_t(unk));
  kv("tokenizer.ggml.add_space_prefix", add_space_prefix);
  kv("tokenizer.ggml.add_bos_token", bos >= 0 && add_bos);
}

void GgufWriter::vocab_placeholder(int64_t n) {
  std::vector<std::string> tokens(static_cast<size_t>(n));
  std::vector<float> scores(static_cast<size_t>(n), 0.0f);
  std::vector<int32_t> types(static_cast<size_t>(n), 1);
  for (int64_t i = 0; i < n; ++i) tokens[size_t(i)] = fmt::format("\xe2\x96\x81t{}", i);
  const char* specials[] = {"<unk>", "<s>", "</s>"};
  for (int i = 0; i < 3 && i < n; ++i) {
    tokens[size_t(i)] = specials[i];
    types[size_t(i)] = i == 0 ? 2 : 3;
  }
  // llama.cpp's SentencePiece vocabulary needs the byte tokens (it looks up <0x0A>).
  for (int b = 0; b < 256 && 3 + b < n; ++b) {
    tokens[size_t(3 + b)] = fmt::format("<0x{:02X}>", b);
    types[size_t(3 + b)] = 6;
  }
  kv("tokenizer.ggml.model", std::string("llama"));  // GGUF's name for SentencePiece vocabularies
  kv("tokenizer.ggml.tokens", tokens);
  kv("tokenizer.ggml.scores", scores);
  kv("tokenizer.ggml.token_type", types);
  kv("tokenizer.ggml.bos_token_id", uint32_t(1));
  kv("tokenizer.ggml.eos_token_id", uint32_t(2));
}

void GgufWriter::write(const std::string& path) const {
  constexpr uint64_t kAlign = 32;
  std::vector<uint8_t> head;
  head.insert(head.end(), {'G', 'G', 'U', 'F'});
  put<uint32_t>(head, 3);
  put<uint64_t>(head, tensors_.size());
  put<uint64_t>(head, n_kv_ + 1);
  head.insert(head.end(), kvs_.begin(), kvs_.end());
  put_str(head, "general.alignment");
  put<uint32_t>(head, kU32);
  put<uint32_t>(head, uint32_t(kAlign));
  uint64_t offset = 0;
  for (const auto& t : tensors_) {
    put_str(head, t.name);
    put<uint32_t>(head, uint32_t(t.shape.size()));
    for (auto it = t.shape.rbegin(); it != t.shape.rend(); ++it)
      put<uint64_t>(head, uint64_t(*it));  // innermost first
    put<uint32_t>(head, t.ggml_type);
    put<uint64_t>(head, offset);
    offset += (t.data.size() + kAlign - 1) / kAlign * kAlign;
  }
  head.resize((head.size() + kAlign - 1) / kAlign * kAlign, 0);
  std::ofstream out(path, std::ios::binary);
  if (!out) throw InputError(fmt::format("{}: cannot write: {}", path, std::strerror(errno)));
  out.write(reinterpret_cast<const char*>(head.data()), long(head.size()));
  for (const auto& t : tensors_) {
    out.write(reinterpret_cast<const char*>(t.data.data()), long(t.data.size()));
    std::vector<char> pad((kAlign - t.data.size() % kAlign) % kAlign, 0);
    out.write(pad.data(), long(pad.size()));
  }
  if (!out) throw InputError(fmt::format("{}: write failed", path));
}

}  // namespace vkllm::sdk
