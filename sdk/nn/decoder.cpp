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
  rope_ = make_rope(rope_table(config_.rope()));
  if (config_.rope_local_base_freq > 0) local_rope_ = make_rope(rope_table(config_.local_rope()));
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
  // The f32 temporaries alive together at the widest point of a layer (Decoder::attention and
  // Decoder::mlp): the residual stream and its norm, then either the fused QKV projection with
  // the normed and rotated q and k (and the attention and output projection rows), or the fused
  // gate/up projection, its activation and the down projection; plus the i32 ids, positions
  // and sequence indexes.
  const int64_t h = c.hidden_size, f = c.intermediate_size;
  const int64_t q = int64_t(c.num_attention_heads) * c.head_dim;
  const int64_t kv = int64_t(c.num_key_value_heads) * c.head_dim, qkv = q + 2 * kv;
  const int64_t attention = c.qk_norm ? 2 * h + qkv + 2 * (q + kv) : 2 * h + qkv + (q + kv) + q + h;
  const int64_t mlp = 3 * h + 3 * f;
  info.activation_bytes_per_token = 4 * (std::max(attention, mlp) + 2 + info.position_rows);
  return info;
}

Decoder::Rope Decoder::make_rope(const RopeTable& t) const {
  Rope r{Tensor::allocate(device_->weights(), Dtype::f32, {int64_t(t.inv_freq.size())}), t.mscale};
  sdk::upload_f32(r.inv_freq, t.inv_freq);
  return r;
}

Tensor Decoder::norm(Graph& g, const Tensor& x, const Tensor& w,
                     const Tensor* residual_after) const {
  return ops::rms_norm(g, x, w,
                       {.eps = float(config_.rms_norm_eps),
                        .weight_offset = config_.norm_weight_offset,
                        .residual_after = residual_after});
}

// Self-attention of one layer: fused QKV projection, q/k norms per head (Gemma 3), rotary
// positions on q and k together (the layer's own base on sliding-window layers), cache write,
// attention over the cache, output projection (plus the residual when given).
Tensor Decoder::attention(Graph& g, const DecoderLayer& l, int i, const Tensor& x,
                          const Tensor* residual, const plugin::Batch& b) const {
  const int64_t T = x.dim(0), hd = config_.head_dim;
  const int64_t hq = config_.num_attention_heads, hkv = config_.num_key_value_heads;
  Tensor qkv =
      ops::matmul(g, x, l.qkv_proj, {.bias = l.qkv_bias.defined() ? &l.qkv_bias : nullptr});
  Tensor heads = qkv.unflatten(1, hq + 2 * hkv, hd);  // [T, Hq + 2 Hkv, hd]
  Tensor qk = heads.slice(1, 0, hq + hkv);
  if (config_.qk_norm) qk = norm(g, qk, l.qk_norm);
  const bool local = config_.sliding_window[size_t(i)] > 0 && local_rope_.inv_freq.defined();
  const Rope& r = local ? local_rope_ : rope_;
  qk = ops::rope(g, qk, b.positions, r.inv_freq, {.sections = sections_, .mscale = r.mscale});
  Tensor q = qk.slice(1, 0, hq), k = qk.slice(1, hq, hkv);
  Tensor v = heads.slice(1, hq + hkv, hkv);
  sdk::KvLayerView kv = b.cache->layer(*b.kv, i);
  ops::kv_write(g, kv, k, v);
  Tensor a = ops::attention(g, q, kv, b.seq_pos,
                            {.scale = config_.attention_scale(),
                             .softcap = float(config_.attn_logit_softcapping),
                             .spans = b.spans.defined() ? &b.spans : nullptr,
                             .bidirectional_spans = b.spans.defined()});
  return ops::matmul(g, a.reshape({T, hq * hd}), l.o_proj,
                     {.bias = l.o_bias.defined() ? &l.o_bias : nullptr, .residual = residual});
}

// Gated MLP: down(act(gate(x)) * up(x)), SwiGLU or GeGLU (plus the residual when given).
Tensor Decoder::mlp(Graph& g, const DecoderLayer& l, const Tensor& x,
                    const Tensor* residual) const {
  const int64_t F = config_.intermediate_size;
  Tensor gate_up = ops::matmul(g, x, l.gate_up_proj,
                               {.bias = l.gate_up_bias.defined() ? &l.gate_up_bias : nullptr});
  const ops::Act act = config_.hidden_act == "silu" ? ops::Act::silu : ops::Act::gelu_tanh;
  Tensor h = ops::gated(g, act, gate_up.slice(1, 0, F), gate_up.slice(1, F, F));
  return ops::matmul(
      g, h, l.down_proj,
      {.bias = l.down_bias.defined() ? &l.down_bias : nullptr, .residual = residual});
}

Tensor Decoder::embed(Graph& g, const plugin::Batch& b) const {
  Tensor h = ops::embedding(g, b.tokens, w_.embed_tokens);
  // Gemma scales the text embeddings (image features below are placed unscaled).
  if (float s = config_.embedding_scale(); s != 1.0f) h = ops::scale(g, h, s);
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
  // Dynamic NTK scaling follows the longest sequence of the pass (as batched generation in
  // transformers does).
  if (rope_dynamic_) rope_ = make_rope(rope_table(config_.rope(), b.kv->kv_len));
  for (int i = 0; i < config_.num_hidden_layers; ++i) {
    const DecoderLayer& l = w_.layers[size_t(i)];
    Tensor x = norm(g, h, l.input_layernorm);
    if (config_.sandwich_norms) {  // h + norm(branch(norm(h))) for both branches
      h = norm(g, attention(g, l, i, x, nullptr, b), l.post_attention_layernorm, &h);
      x = norm(g, h, l.pre_feedforward_layernorm);
      h = norm(g, mlp(g, l, x, nullptr), l.post_feedforward_layernorm, &h);
    } else {
      h = attention(g, l, i, x, &h, b);
      x = norm(g, h, l.post_attention_layernorm);
      h = mlp(g, l, x, &h);
    }
  }
  int64_t T = h.dim(0);
  Tensor last = b.logits_rows.defined() ? ops::embedding(g, b.logits_rows, h)
                                        : h.slice(0, b.logits_begin, T - b.logits_begin);
  Tensor logits = ops::matmul(g, norm(g, last, w_.norm), w_.lm_head);
  if (config_.final_logit_softcapping > 0)
    logits =
        ops::act(g, ops::Act::softcap, logits, {.cap = float(config_.final_logit_softcapping)});
  return logits;
}

}  // namespace vkllm::nn
