#pragma once
// The pre-norm decoder of Llama and its descendants (Mistral, Qwen2, the text models of Qwen2-VL
// and Qwen2.5-VL), after transformers' modeling_llama.py: N x [RMSNorm -> attention with rotary
// positions (plain or M-RoPE sections) -> residual, RMSNorm -> SwiGLU -> residual] -> RMSNorm ->
// lm_head. Families build it from their config and feed it embeddings (text ids, or text with
// image features scattered in). Q/K/V and gate/up are fused into single projections at load.
#include <memory>
#include <string>
#include <vector>

#include "sdk/nn/decoder_config.h"
#include "sdk/plugin_api/family.h"

namespace vkllm::nn {

struct DecoderLayer {
  sdk::Tensor input_layernorm, post_attention_layernorm;
  sdk::Tensor qkv_proj, qkv_bias, o_proj, o_bias;
  sdk::Tensor gate_up_proj, gate_up_bias, down_proj, down_bias;
};

struct DecoderWeights {
  sdk::Tensor embed_tokens, norm, lm_head;
  std::vector<DecoderLayer> layers;
};

// Hugging Face names under `prefix` ("model."): embed_tokens, layers.N.*, norm; lm_head.weight at
// the top level (or the embedding when tied).
DecoderWeights load_decoder_weights(const DecoderConfig& c, plugin::WeightSource& src,
                                    const std::string& prefix = "model.");

// The host's view of a model whose text part is this decoder: sizes, one KV layer per decoder
// layer, parameter count (of the decoder), torch_dtype of `config`.
plugin::ModelInfo decoder_model_info(const DecoderConfig& c, const std::string& family,
                                     const nlohmann::json& config);

class Decoder {
 public:
  Decoder(DecoderConfig config, DecoderWeights weights, std::shared_ptr<sdk::Device> device);
  const DecoderConfig& config() const { return config_; }

  // f32 [T, hidden] embeddings of b.tokens, with b.images' features over their rows.
  sdk::Tensor embed(sdk::Graph& g, const plugin::Batch& b) const;
  // The layers over embeddings h [T, hidden]; returns logits of rows [b.logits_begin, T).
  sdk::Tensor forward(sdk::Graph& g, sdk::Tensor h, const plugin::Batch& b);

 private:
  sdk::Tensor attention(sdk::Graph& g, const DecoderLayer& l, int i, const sdk::Tensor& x,
                        const sdk::Tensor& residual, const plugin::Batch& b) const;
  sdk::Tensor mlp(sdk::Graph& g, const DecoderLayer& l, const sdk::Tensor& x,
                  const sdk::Tensor& residual) const;
  void set_rope(const RopeTable& t);

  DecoderConfig config_;
  DecoderWeights w_;
  std::shared_ptr<sdk::Device> device_;
  sdk::Tensor inv_freq_;
  std::vector<int> sections_;
  float mscale_ = 1.0f;
  bool rope_dynamic_ = false;
};

}  // namespace vkllm::nn
