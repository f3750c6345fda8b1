#include "core/adapters/adapter.h"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>
#include <regex>
#include <set>

#include "core/json_file.h"
#include "core/vision/feature_cache.h"
#include "core/weights/safetensors.h"
#include "sdk/base/error.h"
#include "sdk/base/json_get.h"

namespace vkllm::core {
namespace fs = std::filesystem;

namespace {

// A module name of the adapter ("model.layers.0.self_attn.q_proj") -> the checkpoint tensor it
// updates: the name itself, else the first rename whose prefix it has, among tensors the
// checkpoint holds.
std::string resolve(const std::string& module, const std::string& suffix,
                    const plugin::WeightSource& base, const registry::AdapterRules& rules) {
  if (base.has(module + suffix)) return module + suffix;
  for (const auto& [from, to] : rules.renames) {
    if (!module.starts_with(from)) continue;
    std::string cand = to + module.substr(from.size()) + suffix;
    if (base.has(cand)) return cand;
  }
  return "";
}

// PEFT's rank_pattern / alpha_pattern: a key matches a module name it ends with at a dot.
template <class T>
T by_pattern(const nlohmann::json& cfg, const char* key, const std::string& module, T fallback) {
  if (!cfg.contains(key) || !cfg[key].is_object()) return fallback;
  for (const auto& [pat, v] : cfg[key].items()) {
    if (!v.is_number()) continue;
    if (module == pat || module.ends_with("." + pat)) return v.template get<T>();
  }
  return fallback;
}

std::vector<float> transpose(const std::vector<float>& v, int64_t rows, int64_t cols) {
  std::vector<float> t(v.size());
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) t[size_t(c * rows + r)] = v[size_t(r * cols + c)];
  return t;
}

struct Factor {
  const StTensor* a = nullptr;
  const StTensor* b = nullptr;
};

}  // namespace

const LoraDelta* Adapter::delta(const std::string& tensor) const {
  auto it = deltas_.find(tensor);
  return it == deltas_.end() ? nullptr : &it->second;
}

int Adapter::max_rank() const {
  int r = 0;
  for (const auto& [k, d] : deltas_) r = std::max(r, d.rank);
  return r;
}

std::string Adapter::summary() const {
  return fmt::format("{}, rank {}, {} weights ({}){}", format_, max_rank(), deltas_.size(),
                     fmt::join(parts_, ", "),
                     replaced_.empty() ? "" : fmt::format(", {} replaced", replaced_.size()));
}

Adapter Adapter::load(const AdapterSpec& spec, const plugin::WeightSource& base,
                      const registry::AdapterRules& rules, const std::string& family) {
  try {
    return read(spec, base, rules, family);
  } catch (const nlohmann::json::exception& e) {  // a config value of the wrong type
    throw ModelError(fmt::format("adapter {}: adapter_config.json: {}", spec.path, e.what()));
  }
}

Adapter Adapter::read(const AdapterSpec& spec, const plugin::WeightSource& base,
                      const registry::AdapterRules& rules, const std::string& family) {
  const fs::path dir(spec.path);
  if (!fs::is_directory(dir)) throw ModelError(fmt::format("adapter {}: not a folder", spec.path));
  if (!rules.supported())
    throw ModelError(
        fmt::format("adapter {}: family {} does not take adapters", spec.path, family));
  const fs::path cfg_path = dir / "adapter_config.json";
  if (!fs::exists(cfg_path))
    throw ModelError(fmt::format("adapter {}: no adapter_config.json", spec.path));
  const nlohmann::json cfg = read_json_file(cfg_path.string());
  const std::string where = cfg_path.string();
  if (!cfg.is_object()) throw ModelError(fmt::format("{}: not a JSON object", where));

  Adapter ad;
  ad.spec_ = spec;
  fs::path file;
  if (fs::exists(dir / "adapter_model.safetensors")) {
    ad.format_ = "peft";
    file = dir / "adapter_model.safetensors";
  } else if (fs::exists(dir / "adapters.safetensors")) {
    ad.format_ = cfg.contains("rank") && !cfg.contains("lora_parameters") ? "mlx-vlm" : "mlx-lm";
    file = dir / "adapters.safetensors";
  } else {
    throw ModelError(fmt::format(
        "adapter {}: no adapter_model.safetensors (PEFT) or adapters.safetensors (MLX); "
        "(adapter_model.bin, PyTorch pickles, are not read: convert them to safetensors)",
        spec.path));
  }

  // The adapter's scale (PEFT: per module, from r and alpha) and refusals.
  float mlx_scale = 0;
  if (ad.format_ == "peft") {
    const std::string type = cfg.value("peft_type", "LORA");
    if (type != "LORA") throw ModelError(fmt::format("{}: peft_type {} is not LoRA", where, type));
    if (cfg.value("use_dora", false))
      throw ModelError(fmt::format("{}: use_dora: DoRA adapters are not supported", where));
    if (cfg.value("fan_in_fan_out", false))
      throw ModelError(
          fmt::format("{}: fan_in_fan_out (GPT-2 Conv1D weights) is not supported", where));
    if (cfg.contains("bias") && cfg["bias"].is_string() && cfg["bias"] != "none")
      throw ModelError(fmt::format("{}: bias \"{}\": adapters that train biases are not supported",
                                   where, cfg["bias"].get<std::string>()));
  } else if (ad.format_ == "mlx-lm") {
    const std::string type = cfg.value("fine_tune_type", "lora");
    if (type == "full")
      throw ModelError(
          fmt::format("{}: fine_tune_type full is a fine-tuned model, not an adapter", where));
    if (type != "lora")
      throw ModelError(
          fmt::format("{}: fine_tune_type {} is not supported (lora only)", where, type));
    const nlohmann::json lp = cfg.value("lora_parameters", nlohmann::json::object());
    mlx_scale = lp.contains("scale")
                    ? json::as<float>(lp["scale"], where + ": lora_parameters.scale")
                    : 20.0f;  // mlx-lm's default
  } else {
    mlx_scale = cfg.contains("alpha") ? json::as<float>(cfg["alpha"], where + ": alpha") : 0.1f;
  }

  SafetensorsFile st(file.string());
  const std::string fwhere = file.string();
  std::map<std::string, Factor> factors;  // by adapter module name
  std::map<std::string, const StTensor*> whole;
  static const std::regex peft_re(R"(^(.*)\.lora_(A|B)(\.[A-Za-z0-9_-]+)?\.weight$)");
  static const std::regex peft_emb_re(R"(^(.*)\.lora_embedding_(A|B)(\.[A-Za-z0-9_-]+)?$)");
  static const std::regex mlx_re(R"(^(.*)\.(lora_a|lora_b|A|B)$)");
  std::set<std::string> embedding_modules;
  for (const auto& [key, t] : st.tensors()) {
    std::string k = key;
    std::smatch m;
    if (ad.format_ == "peft") {
      if (k.starts_with("base_model.model.")) k = k.substr(17);
      if (k.find("lora_magnitude_vector") != std::string::npos)
        throw ModelError(
            fmt::format("{}: tensor '{}': DoRA adapters are not supported", fwhere, key));
      if (std::regex_match(k, m, peft_re) || std::regex_match(k, m, peft_emb_re)) {
        auto& f = factors[m[1].str()];
        (m[2] == "A" ? f.a : f.b) = &t;
        if (k.find("lora_embedding_") != std::string::npos) embedding_modules.insert(m[1].str());
        continue;
      }
      // modules_to_save: "x.modules_to_save.default.weight" or "x.weight"
      static const std::regex save_re(R"(^(.*)\.modules_to_save\.[A-Za-z0-9_-]+(\.[^.]+)$)");
      if (std::regex_match(k, m, save_re)) k = m[1].str() + m[2].str();
      whole[k] = &t;
      continue;
    }
    if (std::regex_match(k, m, mlx_re)) {
      auto& f = factors[m[1].str()];
      (m[2] == "lora_a" || m[2] == "A" ? f.a : f.b) = &t;
      continue;
    }
    throw ModelError(fmt::format("{}: tensor '{}' is not a LoRA factor (.lora_a/.lora_b or .A/.B)",
                                 fwhere, key));
  }
  if (factors.empty() && whole.empty())
    throw ModelError(fmt::format("{}: no LoRA tensors", fwhere));

  std::set<std::string> parts;
  auto part_of = [&](const std::string& tensor, const std::string& key) {
    std::string part = rules.part_of(tensor);
    if (part.empty()) {
      std::vector<std::string> names;
      for (const auto& [p, prefixes] : rules.parts) names.push_back(p);
      throw ModelError(fmt::format(
          "{}: tensor '{}' updates '{}', outside the parts family {} takes adapters on ({})",
          fwhere, key, tensor, family, fmt::join(names, ", ")));
    }
    parts.insert(part);
  };
  // The fingerprint: the content hash of everything that makes the update, chained.
  uint64_t fp = 0;
  auto absorb = [&fp](const void* p, size_t n) {
    fp = content_hash({static_cast<const uint8_t*>(p), n}, fp).lo;
  };
  absorb(ad.format_.data(), ad.format_.size());
  for (const auto& entry : factors) {  // (no structured bindings: lambdas below capture them)
    const std::string& module = entry.first;
    const Factor& f = entry.second;
    const std::string key = module + (ad.format_ == "peft" ? ".lora_A/B" : ".lora_a/b");
    if (!f.a || !f.b)
      throw ModelError(
          fmt::format("{}: module '{}' has only one of its two LoRA factors", fwhere, module));
    const std::string target = resolve(module, ".weight", base, rules);
    if (target.empty()) {
      throw ModelError(fmt::format(
          "{}: tensor '{}' updates '{}.weight', which the model (family {}) does not have: an "
          "adapter for another architecture?",
          fwhere, key, module, family));
    }
    part_of(target, key);
    const plugin::WeightInfo wi = base.info(target);
    int64_t out = wi.shape.empty() ? 0 : wi.shape[0], in = 1;
    for (size_t i = 1; i < wi.shape.size(); ++i) in *= wi.shape[i];
    if (f.a->shape.size() < 2 || f.b->shape.size() < 2)
      throw ModelError(fmt::format("{}: '{}' factors must be 2-D", fwhere, key));
    auto flat = [](const StTensor& t) {
      int64_t c = 1;
      for (size_t i = 1; i < t.shape.size(); ++i) c *= t.shape[i];
      return std::pair{t.shape[0], c};
    };
    auto [a0, a1] = flat(*f.a);
    auto [b0, b1] = flat(*f.b);
    auto shape_error = [&] {
      return ModelError(fmt::format(
          "{}: '{}' factors {} and {} do not fit '{}' [{}] of the model: an adapter for another "
          "model size?",
          fwhere, key, fmt::join(f.a->shape, "x"), fmt::join(f.b->shape, "x"), target,
          fmt::join(wi.shape, ", ")));
    };
    LoraDelta d;
    d.source = key;
    d.out = out;
    d.in = in;
    std::vector<float> av = st.f32(*f.a), bv = st.f32(*f.b);
    const bool embedding = embedding_modules.count(module) != 0;
    if (ad.format_ == "peft" && !embedding) {
      d.rank = int(a0);  // A [r, in], B [out, r]
      d.a = std::move(av);
      d.b = std::move(bv);
      if (a1 != in || b0 != out || b1 != a0) throw shape_error();
    } else if (ad.format_ == "peft") {  // embedding: A [r, vocab], B [dim, r]; ΔW = (B·A)ᵀ
      d.rank = int(a0);
      if (a1 != out || b0 != in || b1 != a0) throw shape_error();
      d.b = transpose(av, a0, a1);                   // [vocab, r]
      d.a = transpose(bv, b0, b1);                   // [r, dim]
    } else if (a0 == in && b1 == out && a1 == b0) {  // MLX linear: a [in, r], b [r, out]
      d.rank = int(a1);
      d.a = transpose(av, a0, a1);
      d.b = transpose(bv, b0, b1);
    } else if (a0 == out && b1 == in && a1 == b0) {  // MLX embedding: a [vocab, r], b [r, dim]
      d.rank = int(a1);
      d.b = std::move(av);
      d.a = std::move(bv);
    } else {
      throw shape_error();
    }
    if (ad.format_ == "peft") {
      const int r =
          by_pattern<int>(cfg, "rank_pattern", module, json::get_or<int>(cfg, "r", d.rank));
      if (r != d.rank)
        throw ModelError(fmt::format("{}: '{}' has rank {}, adapter_config.json says {}", fwhere,
                                     key, d.rank, r));
      const float alpha = by_pattern<float>(cfg, "alpha_pattern", module,
                                            json::get_or<float>(cfg, "lora_alpha", float(r)));
      d.scale = cfg.value("use_rslora", false) ? alpha / std::sqrt(float(r)) : alpha / float(r);
    } else {
      d.scale = mlx_scale;
    }
    d.scale *= spec.scale;
    for (const StTensor* t : {f.a, f.b}) absorb(st.bytes(*t).data(), st.bytes(*t).size());
    absorb(&d.scale, sizeof d.scale);
    absorb(target.data(), target.size());
    ad.deltas_.emplace(target, std::move(d));
  }
  for (const auto& [name, t] : whole) {
    std::string module = name, suffix;
    if (auto dot = name.rfind('.'); dot != std::string::npos) {
      module = name.substr(0, dot);
      suffix = name.substr(dot);
    }
    const std::string target = resolve(module, suffix, base, rules);
    if (target.empty())
      throw ModelError(fmt::format("{}: tensor '{}' replaces '{}', which the model does not have",
                                   fwhere, name, name));
    part_of(target, name);
    const plugin::WeightInfo wi = base.info(target);
    if (wi.quantized || wi.shape != t->shape)
      throw ModelError(fmt::format("{}: tensor '{}' [{}] does not fit '{}' [{}] of the model",
                                   fwhere, name, fmt::join(t->shape, ", "), target,
                                   fmt::join(wi.shape, ", ")));
    absorb(st.bytes(*t).data(), st.bytes(*t).size());
    absorb(target.data(), target.size());
    ad.replaced_.emplace(target, st.f32(*t));
  }
  ad.parts_.assign(parts.begin(), parts.end());
  ad.fingerprint_ = fp ? fp : 1;
  return ad;
}

void merge_delta(const LoraDelta& d, std::span<float> w) {
  if (int64_t(w.size()) != d.out * d.in)
    throw InternalError(fmt::format("[adapter] {}: merging into {} values, not {}x{}", d.source,
                                    w.size(), d.out, d.in));
  std::vector<float> sb(size_t(d.rank));
  for (int64_t o = 0; o < d.out; ++o) {
    for (int j = 0; j < d.rank; ++j) sb[size_t(j)] = d.scale * d.b[size_t(o * d.rank + j)];
    float* row = w.data() + o * d.in;
    for (int j = 0; j < d.rank; ++j) {
      const float s = sb[size_t(j)];
      const float* a = d.a.data() + size_t(j) * size_t(d.in);
      for (int64_t i = 0; i < d.in; ++i) row[i] += s * a[i];
    }
  }
}

}  // namespace vkllm::core
