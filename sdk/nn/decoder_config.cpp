#include "sdk/nn/decoder_config.h"

#include <fmt/format.h>

#include <cmath>

#include "sdk/base/dtype.h"
#include "sdk/base/error.h"
#include "sdk/base/json_get.h"

namespace vkllm::nn {
using json::get;
using json::get_or;

DecoderConfig DecoderConfig::parse(const nlohmann::json& j) {
  DecoderConfig c;
  c.model_type = get<std::string>(j, "model_type");
  c.vocab_size = get<int64_t>(j, "vocab_size");
  c.hidden_size = get<int>(j, "hidden_size");
  c.intermediate_size = get<int>(j, "intermediate_size");
  c.num_hidden_layers = get<int>(j, "num_hidden_layers");
  c.num_attention_heads = get<int>(j, "num_attention_heads");
  c.num_key_value_heads = get_or<int>(j, "num_key_value_heads", c.num_attention_heads);
  // Far above any real model; keeps size arithmetic (parameters, buffers) from overflowing.
  auto bounded = [](int64_t v, int64_t hi, const char* key) {
    if (v <= 0 || v > hi)
      throw ModelError(
          fmt::format("config.json: \"{}\" = {} is out of range (1 to {})", key, v, hi));
  };
  bounded(c.vocab_size, int64_t(1) << 24, "vocab_size");
  bounded(c.hidden_size, 1 << 17, "hidden_size");
  bounded(c.intermediate_size, 1 << 20, "intermediate_size");
  bounded(c.num_hidden_layers, 1 << 12, "num_hidden_layers");
  bounded(c.num_attention_heads, 1 << 12, "num_attention_heads");
  c.head_dim = get_or<int>(j, "head_dim", c.hidden_size / c.num_attention_heads);
  bounded(c.head_dim, 1 << 12, "head_dim");
  if (c.num_key_value_heads <= 0 || c.num_attention_heads % c.num_key_value_heads) {
    throw ModelError(
        fmt::format("config.json: {} attention heads are not a multiple of {} key/value heads",
                    c.num_attention_heads, c.num_key_value_heads));
  }
  c.rms_norm_eps = get_or<double>(j, "rms_norm_eps", 1e-6);
  c.rope_theta = get_or<double>(j, "rope_theta", 10000.0);
  if (j.contains("rope_scaling")) c.rope_scaling = j["rope_scaling"];
  if (c.rope_scaling.is_object() && c.rope_scaling.contains("mrope_section")) {
    c.mrope_section = get<std::vector<int>>(c.rope_scaling, "mrope_section");
    int64_t pairs = 0;
    for (int s : c.mrope_section) pairs += s < 0 ? int64_t(1) << 40 : s;
    if (c.mrope_section.size() != 3 || pairs != c.head_dim / 2) {
      throw ModelError(
          fmt::format("config.json: rope_scaling.mrope_section {} must be three "
                      "sections of head_dim / 2 = {} rotary pairs in all",
                      c.rope_scaling["mrope_section"].dump(), c.head_dim / 2));
    }
  }
  c.max_position_embeddings = get_or<int64_t>(j, "max_position_embeddings", 2048);
  bounded(c.max_position_embeddings, int64_t(1) << 31, "max_position_embeddings");
  c.tie_word_embeddings = get_or<bool>(j, "tie_word_embeddings", false);
  c.attention_bias = get_or<bool>(j, "attention_bias", false);
  c.qkv_bias = get_or<bool>(j, "qkv_bias", false) || c.attention_bias;
  c.mlp_bias = get_or<bool>(j, "mlp_bias", false);
  c.hidden_act =
      get_or<std::string>(j, "hidden_activation", get_or<std::string>(j, "hidden_act", "silu"));
  if (c.hidden_act != "silu" && c.hidden_act != "gelu_pytorch_tanh")
    throw ModelError(fmt::format(
        "config.json: hidden activation '{}' is not supported (silu, gelu_pytorch_tanh)",
        c.hidden_act));
  c.query_pre_attn_scalar = get_or<double>(j, "query_pre_attn_scalar", 0.0);
  c.attn_logit_softcapping = get_or<double>(j, "attn_logit_softcapping", 0.0);
  c.final_logit_softcapping = get_or<double>(j, "final_logit_softcapping", 0.0);
  c.rope_local_base_freq = get_or<double>(j, "rope_local_base_freq", 0.0);
  for (double v : {c.query_pre_attn_scalar, c.attn_logit_softcapping, c.final_logit_softcapping,
                   c.rope_local_base_freq, c.rope_theta, c.rms_norm_eps}) {
    if (!std::isfinite(v) || v < 0)
      throw ModelError(fmt::format("config.json: a scale, cap, base or eps is {}", v));
  }
  c.torch_dtype = get_or<std::string>(j, "torch_dtype", "");
  // transformers >= 5 writes "rope_parameters": flat ({"rope_type", "rope_theta", ...}) or keyed
  // by layer type ({"full_attention": {...}, "sliding_attention": {...}}).
  if (j.contains("rope_parameters") && j["rope_parameters"].is_object()) {
    const auto& rp = j["rope_parameters"];
    const auto& full = rp.contains("full_attention") ? rp["full_attention"] : rp;
    c.rope_theta = get_or<double>(full, "rope_theta", c.rope_theta, "config.json: rope_parameters");
    c.rope_scaling = full;
    if (rp.contains("sliding_attention"))
      c.rope_local_base_freq = get_or<double>(rp["sliding_attention"], "rope_theta", 10000.0,
                                              "config.json: rope_parameters.sliding_attention");
  }
  if (j.contains("decoder") && !j["decoder"].is_null()) {
    const auto& d = j["decoder"];
    const std::string where = "config.json (registry): decoder";
    c.norm_weight_offset = get_or<float>(d, "norm_weight_offset", 0.0f, where);
    c.sandwich_norms = get_or<bool>(d, "sandwich_norms", false, where);
    c.qk_norm = get_or<bool>(d, "qk_norm", false, where);
    c.scale_embeddings = get_or<bool>(d, "scale_embeddings", false, where);
    c.attention_softcap = get_or<bool>(d, "attention_softcap", true, where);
  }
  if (!c.attention_softcap) c.attn_logit_softcapping = 0;
  // Which layers attend through a sliding window: "layer_types" (newer configs), else every
  // sliding_window_pattern-th layer is global (Gemma 3), else Qwen2's use_sliding_window from
  // max_window_layers on, else Mistral's window on every layer.
  int window = get_or<int>(j, "sliding_window", 0);
  if (window < 0)
    throw ModelError(fmt::format("config.json: \"sliding_window\" {} is negative", window));
  c.sliding_window.assign(size_t(c.num_hidden_layers), 0);
  if (j.contains("layer_types") && !j["layer_types"].is_null()) {
    auto types = get<std::vector<std::string>>(j, "layer_types");
    if (types.size() != size_t(c.num_hidden_layers))
      throw ModelError(fmt::format("config.json: \"layer_types\" has {} entries for {} layers",
                                   types.size(), c.num_hidden_layers));
    for (size_t i = 0; i < types.size(); ++i) {
      if (types[i] != "sliding_attention" && types[i] != "full_attention")
        throw ModelError(
            fmt::format("config.json: layer_types[{}] '{}' is not supported", i, types[i]));
      c.sliding_window[i] = types[i] == "sliding_attention" ? window : 0;
    }
  } else if (j.contains("sliding_window_pattern") && !j["sliding_window_pattern"].is_null()) {
    int pattern = get<int>(j, "sliding_window_pattern");
    if (pattern <= 0) throw ModelError("config.json: \"sliding_window_pattern\" must be positive");
    for (int i = 0; i < c.num_hidden_layers; ++i)
      c.sliding_window[size_t(i)] = (i + 1) % pattern ? window : 0;
  } else if (j.contains("use_sliding_window")) {
    if (get_or<bool>(j, "use_sliding_window", false)) {
      int from = get_or<int>(j, "max_window_layers", 0);
      for (int i = from; i < c.num_hidden_layers; ++i) c.sliding_window[size_t(i)] = window;
    }
  } else {
    for (auto& w : c.sliding_window) w = window;
  }
  return c;
}

RopeParams DecoderConfig::rope() const {
  return {.theta = rope_theta,
          .rot_dim = head_dim,
          .max_position = max_position_embeddings,
          .scaling = rope_scaling};
}

RopeParams DecoderConfig::local_rope() const {
  return {.theta = rope_local_base_freq > 0 ? rope_local_base_freq : rope_theta,
          .rot_dim = head_dim,
          .max_position = max_position_embeddings,
          .scaling = rope_local_base_freq > 0 ? nlohmann::json() : rope_scaling};
}

float DecoderConfig::embedding_scale() const {
  if (!scale_embeddings) return 1.0f;
  float s = float(std::sqrt(double(hidden_size)));
  if (torch_dtype == "bfloat16") return bf16_to_f32(f32_to_bf16(s));
  if (torch_dtype == "float16") return f16_to_f32(f32_to_f16(s));
  return s;
}

float DecoderConfig::attention_scale() const {
  return float(1.0 /
               std::sqrt(query_pre_attn_scalar > 0 ? query_pre_attn_scalar : double(head_dim)));
}

std::vector<int> DecoderConfig::rope_sections() const {
  std::vector<int> starts;
  int at = 0;
  for (size_t i = 0; i + 1 < mrope_section.size(); ++i) starts.push_back(at += mrope_section[i]);
  return starts;
}

int64_t DecoderConfig::parameters() const {
  int64_t d = hidden_size, hd = head_dim;
  int64_t attn = d * hd * (num_attention_heads * 2 + num_key_value_heads * 2);
  int64_t mlp = 3 * d * intermediate_size;
  int64_t per_layer = attn + mlp + (sandwich_norms ? 4 : 2) * d + (qk_norm ? 2 * hd : 0);
  return num_hidden_layers * per_layer + vocab_size * d * (tie_word_embeddings ? 1 : 2) + d;
}

}  // namespace vkllm::nn
