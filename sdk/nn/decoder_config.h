#pragma once
// The configuration of a Llama-style decoder (Llama 2/3, Mistral, Qwen2 and the text models of
// vision-language families), named as in config.json.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

#include "sdk/nn/rope_scaling.h"

namespace vkllm::nn {

struct DecoderConfig {
  std::string model_type;
  int64_t vocab_size = 0;
  int hidden_size = 0;
  int intermediate_size = 0;
  int num_hidden_layers = 0;
  int num_attention_heads = 0;
  int num_key_value_heads = 0;
  int head_dim = 0;
  double rms_norm_eps = 1e-6;
  double rope_theta = 10000.0;
  nlohmann::json rope_scaling;
  int64_t max_position_embeddings = 2048;
  bool tie_word_embeddings = false;
  bool attention_bias = false;  // q, k, v and o projections
  bool qkv_bias = false;        // q, k, v only (Qwen2)
  bool mlp_bias = false;
  std::vector<int> sliding_window;  // per layer, 0 = full attention
  // M-RoPE (rope_scaling.mrope_section): rotary pairs per position row (temporal, height, width).
  std::vector<int> mrope_section;

  static DecoderConfig parse(const nlohmann::json& j);
  RopeParams rope() const;
  // Pair indexes where each further position row starts (ops::RopeOptions::sections).
  std::vector<int> rope_sections() const;
  int64_t parameters() const;
};

}  // namespace vkllm::nn
