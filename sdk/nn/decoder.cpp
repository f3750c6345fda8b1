#include "sdk/nn/decoder.h"

#include <cmath>

#include "sdk/base/error.h"
#include "sdk/io.h"
#include "sdk/ops/attention.h"
#include "sdk/ops/elementwise.h"
#include "sdk/ops/gather.h"
#include "sdk/ops/matmul.h"
#include "sdk/ops/norm.h"
#include "sdk/ops/rope.h"

namespace vkllm::nn {

using sdk::Graph;
using sdk::Tensor;

Decoder::Decoder(DecoderConfig config, DecoderWeights weights, std::shared_ptr<sdk::Device> device)
    : config_(std::move(config)), w_(std::move(weights)), device_(std::move(device)) {
  sections_ = config_.rope_sections();
  rope_dynamic_ = rope_is_dynamic(config_.rope());
  set_rope(rope_table(config_.rope()));
}

plugin::ModelInfo decoder_model_info(const DecoderConfig& c, const std::string& family,
                                     const nlohmann::json& config) {
  plugin::ModelInfo info;
  info.family = family;
  info.vocab_size = c.vocab_size;
  info.hidden_size = c.hidden_size;
  info.num_layers = c.num_hidden_layers;
  info.max_context = c.max_position_embeddings;
  for (int i = 0; i < c.num_hidden_layers; ++i)
    info.kv.push_back({c.num_key_value_heads, c.head_dim, c.sliding_window[size_t(i)]});
  info.position_rows = c.mrope_section.empty() ? 1 : 3;
  info.parameters = c.parameters();
  info.dtype = config.value("torch_dtype", "");
  return info;
}

void Decoder::set_rope(const RopeTable& t) {
  inv_freq_ = Tensor::allocate(device_->weights(), Dtype::f32, {int64_t(t.inv_freq.size())});
  sdk::upload_f32(inv_freq_, t.inv_freq);
  mscale_ = t.mscale;
}

// Self-attention of one layer: fused QKV projection, rotary positions on q and k together,
// cache write, attention over the cache, output projection added to the residual.
Tensor Decoder::attention(Graph& g, const DecoderLayer& l, int i, const Tensor& x,
                          const Tensor& residual, const plugin::Batch& b) const {
  const int64_t T = x.dim(0), hd = config_.head_dim;
  const int64_t hq = config_.num_attention_heads, hkv = config_.num_key_value_heads;
  Tensor qkv =
      ops::matmul(g, x, l.qkv_proj, {.bias = l.qkv_bias.defined() ? &l.qkv_bias : nullptr});
  Tensor heads = qkv.unflatten(1, hq + 2 * hkv, hd);  // [T, Hq + 2 Hkv, hd]
  Tensor qk = ops::rope(g, heads.slice(1, 0, hq + hkv), b.positions, inv_freq_,
                        {.sections = sections_, .mscale = mscale_});
  Tensor q = qk.slice(1, 0, hq), k = qk.slice(1, hq, hkv);
  Tensor v = heads.slice(1, hq + hkv, hkv);
  sdk::KvLayerView kv = b.cache->layer(*b.kv, i);
  ops::kv_write(g, kv, k, v);
  Tensor a = ops::attention(g, q, kv, b.seq_pos, {.scale = float(1.0 / std::sqrt(double(hd)))});
  return ops::matmul(g, a.reshape({T, hq * hd}), l.o_proj,
                     {.bias = l.o_bias.defined() ? &l.o_bias : nullptr, .residual = &residual});
}

// SwiGLU: down(silu(gate(x)) * up(x)), added to the residual.
Tensor Decoder::mlp(Graph& g, const DecoderLayer& l, const Tensor& x,
                    const Tensor& residual) const {
  const int64_t F = config_.intermediate_size;
  Tensor gate_up = ops::matmul(g, x, l.gate_up_proj,
                               {.bias = l.gate_up_bias.defined() ? &l.gate_up_bias : nullptr});
  Tensor h = ops::gated(g, ops::Act::silu, gate_up.slice(1, 0, F), gate_up.slice(1, F, F));
  return ops::matmul(
      g, h, l.down_proj,
      {.bias = l.down_bias.defined() ? &l.down_bias : nullptr, .residual = &residual});
}

Tensor Decoder::embed(Graph& g, const plugin::Batch& b) const {
  Tensor h = ops::embedding(g, b.tokens, w_.embed_tokens);
  for (const auto& img : b.images) {
    const int64_t n = img.features.dim(0);
    if (img.row < 0 || img.row + n > h.dim(0) || img.features.dim(1) != h.dim(1))
      throw InternalError("[decoder] image features do not fit the batch");
    ops::copy_into(g, img.features, h.slice(0, img.row, n));
  }
  return h;
}

Tensor Decoder::forward(Graph& g, Tensor h, const plugin::Batch& b) {
  if (!b.cache || !b.kv) throw InternalError("[decoder] forward needs a KV cache step");
  if (rope_dynamic_) set_rope(rope_table(config_.rope(), b.kv->start + b.kv->n));
  const float eps = float(config_.rms_norm_eps);
  for (int i = 0; i < config_.num_hidden_layers; ++i) {
    const DecoderLayer& l = w_.layers[size_t(i)];
    Tensor x = ops::rms_norm(g, h, l.input_layernorm, {.eps = eps});
    h = attention(g, l, i, x, h, b);
    x = ops::rms_norm(g, h, l.post_attention_layernorm, {.eps = eps});
    h = mlp(g, l, x, h);
  }
  int64_t T = h.dim(0);
  Tensor last = h.slice(0, b.logits_begin, T - b.logits_begin);
  Tensor x = ops::rms_norm(g, last, w_.norm, {.eps = eps});
  return ops::matmul(g, x, w_.lm_head);
}

}  // namespace vkllm::nn
