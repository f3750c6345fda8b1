#pragma once
// The configuration of a pre-norm decoder (Llama 2/3, Mistral, Qwen2, Gemma 3 and the text
// models of vision-language families), named as in config.json. Structure that Hugging Face
// configs do not spell out (Gemma's (1 + w) norms, its sandwich norms, q/k norms, the embedding
// scale) comes from the registry's data for the model type, under "decoder" (model_types.json).
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
  std::string hidden_act = "silu";  // hidden_act / hidden_activation: silu, gelu_pytorch_tanh
  // Attention scores are scaled by query_pre_attn_scalar^-0.5 (0: head_dim^-0.5).
  double query_pre_attn_scalar = 0;
  double attn_logit_softcapping = 0;   // > 0: scores -> c * tanh(scores / c)
  double final_logit_softcapping = 0;  // > 0: logits -> c * tanh(logits / c)
  // Sliding-window layers rotate with this base and no scaling (Gemma 3); 0: as global layers.
  double rope_local_base_freq = 0;
  std::string torch_dtype;  // the checkpoint's dtype (the embedding scale is rounded to it)

  // "decoder" (registry data):
  float norm_weight_offset = 0;   // RMSNorm scale (offset + w): 1 for Gemma's zero-centred norms
  bool sandwich_norms = false;    // norms on the attention and MLP outputs too (4 per layer)
  bool qk_norm = false;           // RMSNorm over each head of q and k before RoPE
  bool scale_embeddings = false;  // embeddings * sqrt(hidden_size), in torch_dtype
  // false: attn_logit_softcapping is not applied (transformers' Gemma 3 reads the key but never
  // passes it to attention; Gemma 2 does).
  bool attention_softcap = true;

  static DecoderConfig parse(const nlohmann::json& j);
  RopeParams rope() const;
  // Sliding-window layers' rotary parameters (rope_local_base_freq, no scaling).
  RopeParams local_rope() const;
  // sqrt(hidden_size) rounded to torch_dtype as the reference multiplies it (1 without
  // scale_embeddings).
  float embedding_scale() const;
  float attention_scale() const;
  // Pair indexes where each further position row starts (ops::RopeOptions::sections).
  std::vector<int> rope_sections() const;
  int64_t parameters() const;
};

}  // namespace vkllm::nn
