// Checkpoint names (Hugging Face LlamaForCausalLM) -> the decoder's fused weights.
#include <fmt/format.h>

#include "sdk/nn/decoder.h"

namespace vkllm::nn {

using plugin::WeightUse;

DecoderWeights load_decoder_weights(const DecoderConfig& c, plugin::WeightSource& src,
                                    const std::string& prefix, const std::string& lm_head) {
  DecoderWeights w;
  w.embed_tokens = src.load(prefix + "embed_tokens.weight", WeightUse::embedding);
  w.norm = src.load(prefix + "norm.weight", WeightUse::vector);
  if (c.tie_word_embeddings || !src.has(lm_head)) {
    w.lm_head = w.embed_tokens;
    if (src.has(lm_head)) src.skip(lm_head);
  } else {
    w.lm_head = src.load(lm_head, WeightUse::matmul);
  }
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    std::string p = fmt::format("{}layers.{}.", prefix, i);
    DecoderLayer l;
    l.input_layernorm = src.load(p + "input_layernorm.weight", WeightUse::vector);
    l.post_attention_layernorm = src.load(p + "post_attention_layernorm.weight", WeightUse::vector);
    if (c.sandwich_norms) {
      l.pre_feedforward_layernorm =
          src.load(p + "pre_feedforward_layernorm.weight", WeightUse::vector);
      l.post_feedforward_layernorm =
          src.load(p + "post_feedforward_layernorm.weight", WeightUse::vector);
    }
    std::string a = p + "self_attn.";
    if (c.qk_norm) {  // one weight row per head: q_norm for each query head, then k_norm
      std::vector<std::string> rows(size_t(c.num_attention_heads), a + "q_norm.weight");
      rows.insert(rows.end(), size_t(c.num_key_value_heads), a + "k_norm.weight");
      l.qk_norm = src.load_rows(rows, WeightUse::vector)
                      .reshape({c.num_attention_heads + c.num_key_value_heads, c.head_dim});
    }
    l.qkv_proj = src.load_rows({a + "q_proj.weight", a + "k_proj.weight", a + "v_proj.weight"},
                               WeightUse::matmul);
    if (c.qkv_bias) {
      l.qkv_bias = src.load_rows({a + "q_proj.bias", a + "k_proj.bias", a + "v_proj.bias"},
                                 WeightUse::vector);
    }
    l.o_proj = src.load(a + "o_proj.weight", WeightUse::matmul);
    if (c.attention_bias) l.o_bias = src.load(a + "o_proj.bias", WeightUse::vector);
    std::string m = p + "mlp.";
    l.gate_up_proj =
        src.load_rows({m + "gate_proj.weight", m + "up_proj.weight"}, WeightUse::matmul);
    l.down_proj = src.load(m + "down_proj.weight", WeightUse::matmul);
    if (c.mlp_bias) {
      l.gate_up_bias = src.load_rows({m + "gate_proj.bias", m + "up_proj.bias"}, WeightUse::vector);
      l.down_bias = src.load(m + "down_proj.bias", WeightUse::vector);
    }
    if (src.has(a + "rotary_emb.inv_freq")) src.skip(a + "rotary_emb.inv_freq");
    w.layers.push_back(std::move(l));
  }
  return w;
}

}  // namespace vkllm::nn
