#pragma once
// The pre-norm decoder of Llama and its descendants (Mistral, Qwen2, Gemma 3, the text models of
// Qwen2-VL and Qwen2.5-VL), after transformers' modeling_llama.py and modeling_gemma3.py:
// N x [RMSNorm -> attention with rotary positions (plain or M-RoPE sections) -> residual,
// RMSNorm -> gated MLP -> residual] -> RMSNorm -> lm_head. Config fields add Gemma's variations:
// (1 + w) norms, norms on each branch's output before its residual add, per-head q/k norms, a
// scaled embedding, query_pre_attn_scalar, soft-capped scores and logits, GeGLU, and sliding-
// window layers with their own rotary base. Families build it from their config and feed it
// embeddings (text ids, or text with image features scattered in). Q/K/V and gate/up are fused
// into single projections at load.
#include <memory>
#include <string>
#include <vector>

#include "sdk/nn/decoder_config.h"
#include "sdk/plugin_api/family.h"

namespace vkllm::nn {

struct DecoderLayer {
  // With sandwich norms post_attention_layernorm normalises the attention output and
  // pre_feedforward_layernorm the MLP input (Gemma's names); without, post_attention_layernorm
  // is the MLP input norm (Llama's).
  sdk::Tensor input_layernorm, post_attention_layernorm;
  sdk::Tensor pre_feedforward_layernorm, post_feedforward_layernorm;
  sdk::Tensor qkv_proj, qkv_bias, o_proj, o_bias;
  sdk::Tensor qk_norm;  // [heads + kv_heads, head_dim]: q_norm per query head, then k_norm
  sdk::Tensor gate_up_proj, gate_up_bias, down_proj, down_bias;
};

struct DecoderWeights {
  sdk::Tensor embed_tokens, norm, lm_head;
  std::vector<DecoderLayer> layers;
};

// Hugging Face names under `prefix` ("model."): embed_tokens, layers.N.*, norm; `lm_head` (or the
// embedding when tied or absent).
DecoderWeights load_decoder_weights(const DecoderConfig& c, plugin::WeightSource& src,
                                    const std::string& prefix = "model.",
                                    const std::string& lm_head = "lm_head.weight");

// The host's view of a model whose text part is this decoder: sizes, one KV layer per decoder
// layer, parameter count (of the decoder), torch_dtype of `config`.
plugin::ModelInfo decoder_model_info(const DecoderConfig& c, const std::string& family,
                                     const nlohmann::json& config);

class Decoder {
 public:
  Decoder(DecoderConfig config, DecoderWeights weights, std::shared_ptr<sdk::Device> device);
  const DecoderConfig& config() const { return config_; }
  const DecoderWeights& weights() const { return w_; }

  // f32 [T, hidden] embeddings of b.tokens, with b.images' features over their rows.
  sdk::Tensor embed(sdk::Graph& g, const plugin::Batch& b) const;
  // The layers over embeddings h [T, hidden]; returns logits of rows [b.logits_begin, T).
  sdk::Tensor forward(sdk::Graph& g, sdk::Tensor h, const plugin::Batch& b);

 private:
  // The attention and MLP branches; `residual` (when given) is added to their output.
  sdk::Tensor attention(sdk::Graph& g, const DecoderLayer& l, int i, const sdk::Tensor& x,
                        const sdk::Tensor* residual, const plugin::Batch& b) const;
  sdk::Tensor mlp(sdk::Graph& g, const DecoderLayer& l, const sdk::Tensor& x,
                  const sdk::Tensor* residual) const;
  sdk::Tensor norm(sdk::Graph& g, const sdk::Tensor& x, const sdk::Tensor& w,
                   const sdk::Tensor* residual_after = nullptr) const;
  struct Rope {
    sdk::Tensor inv_freq;
    float mscale = 1.0f;
  };
  Rope make_rope(const RopeTable& t) const;

  DecoderConfig config_;
  DecoderWeights w_;
  std::shared_ptr<sdk::Device> device_;
  Rope rope_, local_rope_;  // global layers; sliding-window layers (rope_local_base_freq)
  std::vector<int> sections_;
  bool rope_dynamic_ = false;
};

}  // namespace vkllm::nn
