#include "sdk/nn/rope_scaling.h"

#include <fmt/format.h>

#include <cmath>

#include "sdk/base/error.h"
#include "sdk/base/json_get.h"

namespace vkllm::nn {
namespace {

std::string type_of(const nlohmann::json& s) {
  if (s.is_null()) return "default";
  if (!s.is_object()) throw ModelError("config.json: \"rope_scaling\" is not an object");
  if (s.contains("rope_type"))
    return json::as<std::string>(s["rope_type"], "config.json: rope_scaling.rope_type");
  if (s.contains("type")) return json::as<std::string>(s["type"], "config.json: rope_scaling.type");
  return "default";
}

double num(const nlohmann::json& s, const char* key, double fallback) {
  double v = json::get_or<double>(s, key, fallback, "config.json: rope_scaling");
  if (!std::isfinite(v))
    throw ModelError(fmt::format("config.json: rope_scaling.{} is not finite", key));
  return v;
}

}  // namespace

bool rope_is_dynamic(const RopeParams& p) { return type_of(p.scaling) == "dynamic"; }

RopeTable rope_table(const RopeParams& p, int64_t seq_len) {
  const auto& s = p.scaling;
  std::string type = type_of(s);
  int dim = p.rot_dim;
  if (dim <= 0 || dim % 2)
    throw ModelError(fmt::format("[rope] rotary dimension {} must be even and positive", dim));
  double base = p.theta;
  RopeTable t;
  auto defaults = [&](double b) {
    std::vector<double> f(size_t(dim / 2));
    for (int i = 0; i < dim / 2; ++i) f[size_t(i)] = 1.0 / std::pow(b, double(2 * i) / dim);
    return f;
  };
  std::vector<double> f;
  if (type == "default" || type == "mrope") {
    f = defaults(base);
  } else if (type == "linear") {
    f = defaults(base);
    double factor = num(s, "factor", 1.0);
    for (auto& x : f) x /= factor;
  } else if (type == "dynamic") {
    double factor = num(s, "factor", 1.0);
    int64_t maxp = p.max_position;
    if (seq_len > maxp) {
      base = base * std::pow(factor * double(seq_len) / double(maxp) - (factor - 1),
                             double(dim) / (dim - 2));
    }
    f = defaults(base);
  } else if (type == "llama3") {
    f = defaults(base);
    double factor = num(s, "factor", 8.0), low = num(s, "low_freq_factor", 1.0),
           high = num(s, "high_freq_factor", 4.0),
           old = num(s, "original_max_position_embeddings", 8192);
    double low_wavelen = old / low, high_wavelen = old / high;
    for (auto& x : f) {
      double wavelen = 2 * M_PI / x;
      if (wavelen > low_wavelen) {
        x = x / factor;
      } else if (wavelen >= high_wavelen) {
        double smooth = (old / wavelen - low) / (high - low);
        x = (1 - smooth) * x / factor + smooth * x;
      }
    }
  } else if (type == "freq_factors") {
    // Divisors per frequency as a GGUF file stores them (rope_freqs.weight: llama.cpp's form of
    // Llama 3's scaling, or any other).
    f = defaults(base);
    const auto& k = s.contains("factors") ? s["factors"] : nlohmann::json();
    if (!k.is_array() || k.size() != f.size())
      throw ModelError(fmt::format("[rope] rope_scaling.factors needs {} numbers", f.size()));
    for (size_t i = 0; i < f.size(); ++i) {
      const double d = json::as<double>(k[i], "config.json: rope_scaling.factors");
      if (!(d > 0)) throw ModelError("[rope] rope_scaling.factors must be positive");
      f[i] /= d;
    }
  } else if (type == "yarn") {
    double factor = num(s, "factor", 1.0);
    double old = num(s, "original_max_position_embeddings", double(p.max_position));
    double beta_fast = num(s, "beta_fast", 32), beta_slow = num(s, "beta_slow", 1);
    auto get_mscale = [](double scale, double m) {
      return scale <= 1 ? 1.0 : 0.1 * m * std::log(scale) + 1.0;
    };
    double attention_factor = num(s, "attention_factor", get_mscale(factor, 1.0));
    auto correction_dim = [&](double rot) {
      return dim * std::log(old / (rot * 2 * M_PI)) / (2 * std::log(base));
    };
    double lo = std::floor(correction_dim(beta_fast)), hi = std::ceil(correction_dim(beta_slow));
    lo = std::max(lo, 0.0);
    hi = std::min(hi, double(dim - 1));
    if (lo == hi) hi += 0.001;
    auto extra = defaults(base);
    f.resize(extra.size());
    for (size_t i = 0; i < f.size(); ++i) {
      double ramp = std::clamp((double(i) - lo) / (hi - lo), 0.0, 1.0);
      double extrapolation_factor = 1 - ramp;
      double interp = extra[i] / factor;
      f[i] = interp * (1 - extrapolation_factor) + extra[i] * extrapolation_factor;
    }
    t.mscale = float(attention_factor);
  } else {
    throw ModelError(
        fmt::format("[rope] rope_scaling type '{}' is not supported (default, linear, "
                    "dynamic, llama3, yarn, freq_factors)",
                    type));
  }
  t.inv_freq.assign(f.begin(), f.end());
  return t;
}

}  // namespace vkllm::nn
