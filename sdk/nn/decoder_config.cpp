#include "sdk/nn/decoder_config.h"

#include <fmt/format.h>

#include "sdk/base/error.h"
#include "sdk/base/json_get.h"

namespace vkllm::nn {
using json::get;

DecoderConfig DecoderConfig::parse(const nlohmann::json& j) {
  DecoderConfig c;
  c.model_type = get<std::string>(j, "model_type");
  c.vocab_size = get<int64_t>(j, "vocab_size");
  c.hidden_size = get<int>(j, "hidden_size");
  c.intermediate_size = get<int>(j, "intermediate_size");
  c.num_hidden_layers = get<int>(j, "num_hidden_layers");
  c.num_attention_heads = get<int>(j, "num_attention_heads");
  c.num_key_value_heads = get<int>(j, "num_key_value_heads", c.num_attention_heads);
  // Far above any real model; keeps size arithmetic (parameters, buffers) from overflowing.
  auto bounded = [](int64_t v, int64_t hi, const char* key) {
    if (v <= 0 || v > hi)
      throw ModelError(fmt::format("config.json: \"{}\" = {} is out of range (1 to {})", key, v, hi));
  };
  bounded(c.vocab_size, int64_t(1) << 24, "vocab_size");
  bounded(c.hidden_size, 1 << 17, "hidden_size");
  bounded(c.intermediate_size, 1 << 20, "intermediate_size");
  bounded(c.num_hidden_layers, 1 << 12, "num_hidden_layers");
  bounded(c.num_attention_heads, 1 << 12, "num_attention_heads");
  c.head_dim = get<int>(j, "head_dim", c.hidden_size / c.num_attention_heads);
  bounded(c.head_dim, 1 << 12, "head_dim");
  if (c.num_key_value_heads <= 0 || c.num_attention_heads % c.num_key_value_heads) {
    throw ModelError(
        fmt::format("config.json: {} attention heads are not a multiple of {} key/value heads",
                    c.num_attention_heads, c.num_key_value_heads));
  }
  c.rms_norm_eps = get<double>(j, "rms_norm_eps", 1e-6);
  c.rope_theta = get<double>(j, "rope_theta", 10000.0);
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
  c.max_position_embeddings = get<int64_t>(j, "max_position_embeddings", 2048);
  bounded(c.max_position_embeddings, int64_t(1) << 31, "max_position_embeddings");
  c.tie_word_embeddings = get<bool>(j, "tie_word_embeddings", false);
  c.attention_bias = get<bool>(j, "attention_bias", false);
  c.qkv_bias = get<bool>(j, "qkv_bias", false) || c.attention_bias;
  c.mlp_bias = get<bool>(j, "mlp_bias", false);
  std::string act = get<std::string>(j, "hidden_act", std::string("silu"));
  if (act != "silu")
    throw ModelError(fmt::format("config.json: hidden_act '{}' is not supported (silu)", act));
  // Sliding windows: Mistral applies "sliding_window" to every layer; Qwen2 only with
  // use_sliding_window, to layers at or past max_window_layers.
  int window = get<int>(j, "sliding_window", 0);
  if (window < 0) throw ModelError(fmt::format("config.json: \"sliding_window\" {} is negative", window));
  c.sliding_window.assign(size_t(c.num_hidden_layers), 0);
  if (j.contains("use_sliding_window")) {
    if (get<bool>(j, "use_sliding_window", false)) {
      int from = get<int>(j, "max_window_layers", 0);
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
  int64_t per_layer = attn + mlp + 2 * d;
  return num_hidden_layers * per_layer + vocab_size * d * (tie_word_embeddings ? 1 : 2) + d;
}

}  // namespace vkllm::nn
