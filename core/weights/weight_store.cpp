#include "core/weights/weight_store.h"

#include <fmt/format.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/json_file.h"
#include "sdk/base/error.h"
#include "sdk/base/json_get.h"
#include "sdk/base/log.h"
#include "sdk/gguf_file.h"
#include "sdk/io.h"
#include "sdk/quant.h"
#include "sdk/vk/device.h"
#include "sdk/vk/memory.h"

namespace vkllm::core {
namespace fs = std::filesystem;

namespace {

// Columns of a weight used as a matrix: everything after the first dimension.
int64_t matrix_cols(const StTensor& t) {
  int64_t c = 1;
  for (size_t i = 1; i < t.shape.size(); ++i) c *= t.shape[i];
  return c;
}

Dtype device_dtype(StDtype dt) {
  switch (dt) {
    case StDtype::F32:
      return Dtype::f32;
    case StDtype::F16:
      return Dtype::f16;
    case StDtype::BF16:
      return Dtype::bf16;
    default:
      return Dtype::i32;
  }
}

// "model.layers.0.mlp.up_proj.weight" -> "model.layers.0.mlp.up_proj"
std::string module_of(const std::string& name) {
  auto dot = name.rfind('.');
  return dot == std::string::npos ? name : name.substr(0, dot);
}

}  // namespace

std::vector<std::string> weight_files(const std::string& folder) {
  fs::path dir(folder);
  std::vector<fs::path> shards;
  fs::path index = dir / "model.safetensors.index.json";
  if (fs::exists(index)) {
    nlohmann::json j = read_json_file(index.string());
    if (!j.contains("weight_map") || !j["weight_map"].is_object()) {
      throw ModelError(fmt::format("{}: no \"weight_map\" object", index.string()));
    }
    std::set<std::string> names;
    for (const auto& [t, f] : j["weight_map"].items()) {
      if (!f.is_string())
        throw ModelError(fmt::format("{}: weight_map['{}'] is not a file name", index.string(), t));
      names.insert(f.get<std::string>());
    }
    for (const auto& n : names) {
      if (n.find('/') != std::string::npos || n.find("..") != std::string::npos) {
        throw ModelError(
            fmt::format("{}: shard name '{}' leaves the model folder", index.string(), n));
      }
      fs::path p = dir / n;
      if (!fs::exists(p)) {
        throw ModelError(
            fmt::format("{}: shard '{}' listed in the index is missing", index.string(), n));
      }
      shards.push_back(p);
    }
  } else if (fs::exists(dir / "model.safetensors")) {
    shards.push_back(dir / "model.safetensors");
  } else {
    for (const auto& e : fs::directory_iterator(dir)) {
      if (e.path().extension() == ".safetensors") shards.push_back(e.path());
    }
    std::sort(shards.begin(), shards.end());
  }
  if (shards.empty()) {
    throw ModelError(
        fmt::format("{}: no model.safetensors (or shards with an index) found", folder));
  }
  std::vector<std::string> out;
  for (const auto& p : shards) out.push_back(p.string());
  return out;
}

std::vector<std::unique_ptr<SafetensorsFile>> open_checkpoint(const std::string& folder) {
  std::vector<std::unique_ptr<SafetensorsFile>> files;
  const fs::path view = fs::path(folder) / kGgufView;
  if (fs::exists(view)) {
    const nlohmann::json j = read_json_file(view.string());
    if (!j.contains("file") || !j["file"].is_string() || !j.contains("tensors") ||
        !j["tensors"].is_object())
      throw ModelError(fmt::format("{}: needs \"file\" and \"tensors\"", view.string()));
    files.push_back(SafetensorsFile::open_gguf(j["file"].get<std::string>(), j["tensors"]));
    return files;
  }
  for (const auto& p : weight_files(folder)) files.push_back(std::make_unique<SafetensorsFile>(p));
  return files;
}

namespace {

bool ggml_blocks(StDtype dt) { return dt == StDtype::GGML; }

// Adds one file's parameters and device bytes (as loaded, with `quantize`) to `s`.
void add_size(const SafetensorsFile& st, const nlohmann::json& config,
              std::optional<Dtype> quantize, CheckpointSize& s) {
  const bool mlx = config.contains("quantization");
  const int bits = mlx ? json::get_or<int>(config["quantization"], "bits", 4) : 0;
  for (const auto& [name, t] : st.tensors()) {
    bool is_qparam = mlx && (name.ends_with(".scales") || name.ends_with(".biases"));
    int64_t n = t.numel();
    if (mlx && t.dtype == StDtype::U32) n = n * 32 / bits;
    if (!is_qparam) s.parameters += n;
    uint64_t bytes = t.end - t.begin;
    if (quantize && t.shape.size() == 2 && t.shape[1] % quant_row_multiple(*quantize) == 0 &&
        !mlx && !ggml_blocks(t.dtype)) {
      bytes = sdk::Tensor::quant_layout(*quantize, t.shape[0], t.shape[1], 32, false).total();
    }
    s.device_bytes += bytes;
  }
}

}  // namespace

CheckpointSize checkpoint_size(const std::string& folder, const nlohmann::json& config,
                               std::optional<Dtype> quantize) {
  CheckpointSize s;
  for (const auto& f : open_checkpoint(folder)) add_size(*f, config, quantize, s);
  return s;
}

WeightStore::WeightStore(const std::string& folder, const nlohmann::json& config,
                         std::shared_ptr<sdk::Device> device, WeightOptions options)
    : folder_(folder), device_(std::move(device)), options_(options) {
  if (config.contains("quantization")) quant_ = config["quantization"];
  files_ = open_checkpoint(folder);
  for (const auto& file : files_) {
    const auto& f = *file;
    for (const auto& [name, t] : f.tensors()) {
      bytes_total_ += t.end - t.begin;
      auto [it, fresh] = index_.emplace(name, Ref{&f, &t});
      if (!fresh) {
        throw ModelError(fmt::format("tensor '{}' appears in both {} and {}", name,
                                     it->second.file->path(), f.path()));
      }
    }
  }
  // One allocation for the weights as they will load, not default-sized blocks (no device:
  // the store only reads, as for GGUF export).
  if (device_) {
    CheckpointSize size;
    for (const auto& f : files_) add_size(*f, config, options_.quantize, size);
    device_->weights().reserve(size.device_bytes);
  }
}

WeightStore::~WeightStore() = default;

bool WeightStore::has(const std::string& name) const { return index_.count(name) != 0; }

std::vector<std::string> WeightStore::names() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : index_) out.push_back(k);
  return out;
}

WeightStore::Ref WeightStore::ref(const std::string& name) const {
  auto it = index_.find(name);
  if (it == index_.end()) {
    throw ModelError(fmt::format("{}: tensor '{}' is missing from the checkpoint", folder_, name));
  }
  return it->second;
}

bool WeightStore::mlx_quantized(const std::string& name) const {
  auto r = index_.find(name);
  if (r == index_.end() || r->second.tensor->dtype != StDtype::U32) return false;
  return has(module_of(name) + ".scales");
}

std::pair<int, int> WeightStore::mlx_params(const std::string& name) const {
  // Validated by the registry's normalisation (4 or 8 bits, groups of 32, 64 or 128).
  int bits = json::get_or<int>(quant_, "bits", 4),
      group = json::get_or<int>(quant_, "group_size", 64);
  if (quant_.is_object() && quant_.contains("overrides")) {
    const auto& ov = quant_["overrides"];
    std::string mod = module_of(name);
    if (ov.contains(mod) && ov[mod].is_object()) {
      bits = json::get_or<int>(ov[mod], "bits", bits);
      group = json::get_or<int>(ov[mod], "group_size", group);
    }
  }
  return {bits, group};
}

plugin::WeightInfo WeightStore::info(const std::string& name) const {
  Ref r = ref(name);
  plugin::WeightInfo i;
  i.dtype = st_dtype_name(r.tensor->dtype);
  i.shape = r.tensor->shape;
  i.file = r.file->path();
  i.quantized = mlx_quantized(name);
  if (i.quantized && i.shape.size() == 2) i.shape[1] = i.shape[1] * 32 / mlx_params(name).first;
  return i;
}

std::vector<float> WeightStore::to_f32(const Ref& r) const { return r.file->f32(*r.tensor); }

std::vector<float> WeightStore::read_f32(const std::string& name) {
  used_.insert(name);
  return to_f32(ref(name));
}

void WeightStore::skip(const std::string& name) { used_.insert(name); }

void WeightStore::report(const std::vector<std::string>& names) {
  for (const auto& n : names) {
    auto it = index_.find(n);
    if (it != index_.end()) bytes_read_ += it->second.tensor->end - it->second.tensor->begin;
  }
  if (options_.progress) options_.progress(std::min(bytes_read_, bytes_total_), bytes_total_);
}

sdk::Tensor WeightStore::load_rows(const std::vector<std::string>& names, plugin::WeightUse use) {
  sdk::Tensor t = merging(names) ? load_merged(names, use) : load_rows_impl(names, use);
  LoadedWeight lw{t, names, {}, use};
  for (const auto& n : names) {
    const auto shape = info(n).shape;
    lw.rows.push_back(shape.empty() ? 1 : shape[0]);
  }
  loaded_.push_back(std::move(lw));
  report(names);
  return t;
}

// Kernels read weights through one texel-buffer view (4-byte texels); larger tensors need
// quantizing until the SDK splits them across views.
void WeightStore::check_view(const std::string& what, int64_t rows, int64_t cols, Dtype dt) const {
  const uint64_t view_bytes = uint64_t(device_->features().max_texel_buffer_elements) * 4;
  const uint64_t bytes = uint64_t(rows) * uint64_t(cols) * dtype_size(dt);
  if (bytes > view_bytes) {
    throw ModelError(fmt::format(
        "{}: {} MiB as {} is more than {} binds in one buffer view ({} MiB); load it quantized "
        "(--quantize q8_0 or q4_0)",
        what, bytes >> 20, dtype_name(dt), device_->features().name, view_bytes >> 20));
  }
}

bool WeightStore::merging(const std::vector<std::string>& names) const {
  for (const Adapter* a : options_.merge)
    for (const auto& n : names)
      if (a->delta(n) || a->replacements().count(n)) return true;
  return false;
}

sdk::Tensor WeightStore::load_merged(const std::vector<std::string>& names, plugin::WeightUse use) {
  const bool quant = mlx_quantized(names.front());
  std::vector<float> v;
  int64_t rows = 0, cols = 0;
  for (const auto& n : names) {
    used_.insert(n);
    const Ref r = ref(n);
    std::vector<float> part;
    int64_t pr = r.tensor->shape.empty() ? 1 : r.tensor->shape[0];
    if (mlx_quantized(n)) {
      auto [bits, group] = mlx_params(n);
      const std::string mod = module_of(n);
      used_.insert(mod + ".scales");
      used_.insert(mod + ".biases");
      const int64_t c = r.tensor->shape[1] * 32 / bits;
      auto sc = to_f32(ref(mod + ".scales")), bi = to_f32(ref(mod + ".biases"));
      if (int64_t(sc.size()) != pr * c / group || bi.size() != sc.size())
        throw ModelError(fmt::format("{}: scales/biases do not fit the weight", n));
      auto bytes = r.file->bytes(*r.tensor);
      part = sdk::dequantize(sdk::from_mlx(bits, reinterpret_cast<const uint32_t*>(bytes.data()),
                                           sc.data(), bi.data(), pr, c, group));
    } else {
      part = to_f32(r);
    }
    for (const Adapter* a : options_.merge) {
      if (auto it = a->replacements().find(n); it != a->replacements().end()) part = it->second;
      if (const LoraDelta* d = a->delta(n)) {
        if (use != plugin::WeightUse::matmul && use != plugin::WeightUse::embedding)
          throw ModelError(fmt::format("adapter {}: '{}' is not a matrix the model multiplies by",
                                       a->path(), n));
        merge_delta(*d, part);
      }
    }
    const int64_t pc = pr ? int64_t(part.size()) / pr : 0;
    if (rows > 0 && pc != cols)
      throw ModelError(fmt::format("'{}' cannot be fused with '{}': columns differ", n, names[0]));
    cols = pc;
    rows += pr;
    v.insert(v.end(), part.begin(), part.end());
  }
  ++merge_stats_.weights;
  sdk::Tensor out;
  if (use == plugin::WeightUse::vector) {
    sdk::Shape shape;
    if (names.size() == 1)
      for (int64_t d : info(names[0]).shape) shape.push_back(d);
    if (shape.rank() == 0 || names.size() > 1) shape = {int64_t(v.size())};
    out = sdk::Tensor::allocate(device_->weights(), Dtype::f32, shape);
    sdk::upload_f32(out, v);
    bytes_uploaded_ += v.size() * 4;
    return out;
  }
  if (use == plugin::WeightUse::matmul_transposed)
    throw ModelError(
        fmt::format("'{}': adapters on [in, out] parameters are not supported", names.front()));
  // Requantized to --quantize, the MLX base's format, or a GGUF base's (the first part's, where
  // a fused projection mixes them); f32 stands for "kept dense".
  Dtype q = quantizes(cols) ? *options_.quantize : Dtype::f32;
  int group = 32;
  if (quant) {
    auto [bits, g] = mlx_params(names.front());
    q = bits == 8 ? Dtype::mlx8 : Dtype::mlx4;
    group = g;
  }
  if (const StTensor& t0 = *ref(names.front()).tensor; q == Dtype::f32 && ggml_blocks(t0.dtype))
    q = t0.ggml;
  if (q != Dtype::f32) {  // requantized: the error it adds over the merged weights is measured
    auto host = sdk::quantize(q, v.data(), rows, cols, group);
    auto back = sdk::dequantize(host);
    for (size_t i = 0; i < v.size(); ++i) {
      const double d = double(back[i]) - v[i];
      merge_stats_.err2 += d * d;
      merge_stats_.ref2 += double(v[i]) * v[i];
    }
    ++merge_stats_.requantized;
    out = sdk::upload_quant(device_->weights(), host);
    bytes_uploaded_ += out.memory()->size();
    return out;
  }
  const Dtype dt = device_dtype(ref(names.front()).tensor->dtype);
  check_view(names.front(), rows, cols, dt);
  out = sdk::Tensor::allocate_weight(device_->weights(), dt, rows, cols);
  sdk::upload_f32(out, v);
  bytes_uploaded_ += out.memory()->size();
  return out;
}

sdk::Tensor WeightStore::load_rows_impl(const std::vector<std::string>& names,
                                        plugin::WeightUse use) {
  if (names.empty()) throw InternalError("[weights] load_rows needs a name");
  std::vector<Ref> refs;
  for (const auto& n : names) {
    refs.push_back(ref(n));
    used_.insert(n);
  }
  const std::string& name = names.front();
  auto where = [&](const Ref& r) {
    return fmt::format("{}: tensor '{}'", r.file->path(), r.tensor->name);
  };
  auto what = [&] {
    std::string s;
    for (const auto& n : names) s += (s.empty() ? "" : " + ") + n;
    return s;
  };

  if (use == plugin::WeightUse::vector) {
    std::vector<float> v;
    for (const auto& r : refs) {
      auto part = to_f32(r);
      v.insert(v.end(), part.begin(), part.end());
    }
    sdk::Shape shape;
    if (refs.size() == 1) {
      for (int64_t d : refs[0].tensor->shape) shape.push_back(d);
    } else {
      shape.push_back(int64_t(v.size()));
    }
    if (shape.rank() == 0) shape.push_back(1);
    auto out = sdk::Tensor::allocate(device_->weights(), Dtype::f32, shape);
    sdk::upload_f32(out, v);
    bytes_uploaded_ += v.size() * 4;
    return out;
  }

  if (use == plugin::WeightUse::matmul_transposed) {
    const StTensor& t = *refs[0].tensor;
    if (refs.size() != 1 || t.shape.size() != 2 || mlx_quantized(name)) {
      throw ModelError(
          fmt::format("{}: expected one unquantized 2-D parameter [in, out]", where(refs[0])));
    }
    const int64_t in = t.shape[0], out_dim = t.shape[1];
    auto v = to_f32(refs[0]);
    std::vector<float> wt(v.size());
    for (int64_t i = 0; i < in; ++i)
      for (int64_t o = 0; o < out_dim; ++o) wt[size_t(o * in + i)] = v[size_t(i * out_dim + o)];
    if (quantizes(in)) {
      auto out = sdk::upload_quant(device_->weights(),
                                   sdk::quantize(*options_.quantize, wt.data(), out_dim, in));
      bytes_uploaded_ += out.memory()->size();
      return out;
    }
    auto out = sdk::Tensor::allocate_weight(device_->weights(), Dtype::f32, out_dim, in);
    std::vector<float> padded(size_t(out_dim * out.stride(0)), 0.0f);
    for (int64_t o = 0; o < out_dim; ++o)
      std::copy_n(wt.begin() + o * in, in, padded.begin() + o * out.stride(0));
    sdk::upload_bytes(out.with_padding(), padded.data(), padded.size() * 4);
    bytes_uploaded_ += padded.size() * 4;
    return out;
  }

  bool quant = mlx_quantized(name);
  for (size_t i = 0; i < refs.size(); ++i) {
    const StTensor& t = *refs[i].tensor;
    if (t.shape.size() < 2 || (quant && t.shape.size() != 2)) {
      throw ModelError(fmt::format("{}: expected a 2-D weight, shape has {} dims", where(refs[i]),
                                   t.shape.size()));
    }
    // GGUF files mix quantized formats within a fused projection (Q4_K_M: V as Q6_K): such a
    // weight loads as parts, one per run of equal formats.
    if (mlx_quantized(names[i]) != quant || t.dtype != refs[0].tensor->dtype ||
        matrix_cols(t) != matrix_cols(*refs[0].tensor) ||
        (quant && mlx_params(names[i]) != mlx_params(name))) {
      throw ModelError(
          fmt::format("{}: cannot be fused with '{}' (dtype, columns or quantization differ)",
                      where(refs[i]), name));
    }
  }

  if (quant) {
    auto [bits, group] = mlx_params(name);
    int64_t cols = refs[0].tensor->shape[1] * 32 / bits, rows = 0;
    std::vector<uint8_t> packed;
    std::vector<float> scales, biases;
    for (size_t i = 0; i < refs.size(); ++i) {
      std::string mod = module_of(names[i]);
      used_.insert(mod + ".scales");
      used_.insert(mod + ".biases");
      auto s = to_f32(ref(mod + ".scales"));
      auto b = to_f32(ref(mod + ".biases"));
      int64_t r = refs[i].tensor->shape[0];
      if (int64_t(s.size()) != r * cols / group || b.size() != s.size()) {
        throw ModelError(
            fmt::format("{}: {} scales/biases for a [{}, {}] weight with {}-bit groups of {}",
                        where(refs[i]), s.size(), r, cols, bits, group));
      }
      auto bytes = refs[i].file->bytes(*refs[i].tensor);
      packed.insert(packed.end(), bytes.begin(), bytes.end());
      scales.insert(scales.end(), s.begin(), s.end());
      biases.insert(biases.end(), b.begin(), b.end());
      rows += r;
    }
    auto q = sdk::from_mlx(bits, reinterpret_cast<const uint32_t*>(packed.data()), scales.data(),
                           biases.data(), rows, cols, group);
    auto out = sdk::upload_quant(device_->weights(), q);
    bytes_uploaded_ += out.memory()->size();
    return out;
  }

  const StTensor& t0 = *refs[0].tensor;
  for (const auto& r : refs)
    if (r.tensor->add != 0.0f)
      throw InternalError(fmt::format("{}: a value offset applies to vectors only", where(r)));
  if (ggml_blocks(t0.dtype)) {  // GGUF blocks as stored, rows concatenated per run of a format
    const int64_t cols = matrix_cols(t0);
    std::vector<sdk::Tensor> parts;
    for (size_t i = 0; i < refs.size();) {
      const Dtype dt = refs[i].tensor->ggml;
      const auto block = *sdk::ggml_type_info(uint32_t(sdk::ggml_type_of(dt)));
      const size_t row_bytes = size_t(cols / block.block_values * block.block_bytes);
      std::vector<uint8_t> blocks;
      int64_t rows = 0;
      for (; i < refs.size() && refs[i].tensor->ggml == dt; ++i) {
        const auto& r = refs[i];
        auto src = r.file->bytes(*r.tensor);
        for (int64_t j = 0; j < r.tensor->shape[0]; ++j) {
          const uint8_t* row = src.data() + size_t(r.tensor->stored_row(j)) * row_bytes;
          blocks.insert(blocks.end(), row, row + row_bytes);
        }
        rows += r.tensor->shape[0];
      }
      parts.push_back(sdk::upload_quant(device_->weights(),
                                        sdk::from_gguf_blocks(dt, blocks.data(), rows, cols)));
      bytes_uploaded_ += parts.back().memory()->size();
    }
    return parts.size() == 1 ? parts[0] : sdk::Tensor::concat_rows(std::move(parts));
  }
  if (t0.dtype != StDtype::F32 && t0.dtype != StDtype::F16 && t0.dtype != StDtype::BF16) {
    throw ModelError(
        fmt::format("{}: dtype {} cannot be used as a weight (F32, F16, BF16 or "
                    "MLX-quantized U32)",
                    where(refs[0]), st_dtype_name(t0.dtype)));
  }
  int64_t cols = matrix_cols(t0), rows = 0;  // a convolution kernel [out, c, ...] -> [out, c * ...]
  for (const auto& r : refs) rows += r.tensor->shape[0];
  if (quantizes(cols)) {
    std::vector<float> v;
    for (const auto& r : refs) {
      auto part = to_f32(r);
      v.insert(v.end(), part.begin(), part.end());
    }
    auto q = sdk::quantize(*options_.quantize, v.data(), rows, cols);
    auto out = sdk::upload_quant(device_->weights(), q);
    bytes_uploaded_ += out.memory()->size();
    return out;
  }
  if (options_.quantize) kept_dense_.emplace_back(what(), cols);
  // Same dtype on the device: copy rows into the padded layout without converting.
  Dtype dt = device_dtype(t0.dtype);
  check_view(what(), rows, cols, dt);
  auto out = sdk::Tensor::allocate_weight(device_->weights(), dt, rows, cols);
  size_t es = dtype_size(dt);
  size_t row_bytes = size_t(cols) * es, stride_bytes = size_t(out.stride(0)) * es;
  std::vector<uint8_t> buf(size_t(rows) * stride_bytes, 0);
  int64_t at = 0;
  for (const auto& r : refs) {
    auto src = r.file->bytes(*r.tensor);
    for (int64_t i = 0; i < r.tensor->shape[0]; ++i, ++at) {
      std::memcpy(buf.data() + size_t(at) * stride_bytes,
                  src.data() + size_t(r.tensor->stored_row(i)) * row_bytes, row_bytes);
    }
  }
  sdk::upload_bytes(out.with_padding(), buf.data(), buf.size());
  bytes_uploaded_ += buf.size();
  return out;
}

std::vector<std::string> WeightStore::unused() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : index_)
    if (!used_.count(k)) out.push_back(k);
  return out;
}

int64_t WeightStore::parameter_count() const {
  int64_t n = 0;
  for (const auto& [k, r] : index_) {
    if (k.size() > 7 && (k.ends_with(".scales") || k.ends_with(".biases")) &&
        has(module_of(k) + ".weight") && mlx_quantized(module_of(k) + ".weight")) {
      continue;
    }
    int64_t e = r.tensor->numel();
    if (mlx_quantized(k)) e = e * 32 / mlx_params(k).first;
    n += e;
  }
  return n;
}

}  // namespace vkllm::core
