// GGUF export for llama.cpp's "gemma3" architecture (text model): Gemma's zero-centred norms
// written as 1 + w (llama.cpp multiplies by the stored weight), rotate-half rotary kept (llama.cpp
// runs gemma3 with NeoX rotation: no q/k permutation), the vision tower left out. llama.cpp fixes
// some of Gemma 3's shape in code: every 6th layer global, local rotary base 10000, attention
// scale head_dim^-0.5 (27B: (hidden / heads)^-0.5); a config that differs is refused rather
// than exported to a file llama.cpp would run differently.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "gguf.h"
#include "sdk/base/error.h"

namespace vkllm::gemma3 {

void export_gguf(const nn::DecoderConfig& c, plugin::WeightSource& src, const std::string& prefix,
                 sdk::GgufWriter& out, Dtype type) {
  auto refuse = [](const std::string& what) {
    throw ModelError("[gguf] llama.cpp's gemma3 architecture cannot express " + what);
  };
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    bool global = (i + 1) % 6 == 0;
    if ((c.sliding_window[size_t(i)] == 0) != global)
      refuse(fmt::format("layer {} being {} (it makes every 6th layer global)", i,
                         global ? "local" : "global"));
  }
  if (c.rope_local_base_freq != 10000.0)
    refuse(fmt::format("rope_local_base_freq {} (it uses 10000)", c.rope_local_base_freq));
  if (std::fabs(c.attention_scale() - 1.0 / std::sqrt(double(c.head_dim))) > 1e-6 &&
      std::fabs(c.attention_scale() -
                1.0 / std::sqrt(double(c.hidden_size / c.num_attention_heads))) > 1e-6)
    refuse(fmt::format("query_pre_attn_scalar {} (it scales by head_dim)", c.query_pre_attn_scalar));
  if (c.final_logit_softcapping > 0) refuse("final_logit_softcapping");
  const std::string arch = "gemma3";
  out.kv("general.architecture", arch);
  out.kv("general.name", "vkllm export (" + c.model_type + ")");
  out.kv("general.file_type", uint32_t(type == Dtype::f32    ? 0
                                       : type == Dtype::f16  ? 1
                                       : type == Dtype::q8_0 ? 7
                                                             : 2));
  out.kv(arch + ".context_length", uint32_t(c.max_position_embeddings));
  out.kv(arch + ".embedding_length", uint32_t(c.hidden_size));
  out.kv(arch + ".block_count", uint32_t(c.num_hidden_layers));
  out.kv(arch + ".feed_forward_length", uint32_t(c.intermediate_size));
  out.kv(arch + ".attention.head_count", uint32_t(c.num_attention_heads));
  out.kv(arch + ".attention.head_count_kv", uint32_t(c.num_key_value_heads));
  out.kv(arch + ".attention.key_length", uint32_t(c.head_dim));
  out.kv(arch + ".attention.value_length", uint32_t(c.head_dim));
  out.kv(arch + ".attention.layer_norm_rms_epsilon", float(c.rms_norm_eps));
  out.kv(arch + ".attention.sliding_window", uint32_t(*std::max_element(
                                                 c.sliding_window.begin(), c.sliding_window.end())));
  out.kv(arch + ".rope.freq_base", float(c.rope_theta));
  out.kv(arch + ".vocab_size", uint32_t(c.vocab_size));
  const auto& rs = c.rope_scaling;
  std::string rtype = rs.is_object()
                          ? rs.value("rope_type", rs.value("type", std::string("default")))
                          : "default";
  if (rtype == "linear") {  // applied by llama.cpp to the global layers only, as transformers
    out.kv(arch + ".rope.scaling.type", std::string("linear"));
    out.kv(arch + ".rope.scaling.factor", float(rs.value("factor", 1.0)));
  } else if (rtype != "default") {
    refuse("rope_scaling '" + rtype + "'");
  }
  const int64_t d = c.hidden_size;
  auto matrix = [&](const std::string& name, const std::string& gguf, int64_t cols) {
    auto w = src.read_f32(prefix + name);
    out.tensor(gguf, {int64_t(w.size()) / cols, cols}, w, type);
  };
  auto norm = [&](const std::string& name, const std::string& gguf) {  // stored 1 + w
    auto w = src.read_f32(prefix + name);
    for (auto& x : w) x += 1.0f;
    out.tensor(gguf, {int64_t(w.size())}, w, Dtype::f32);
  };
  matrix("embed_tokens.weight", "token_embd.weight", d);
  norm("norm.weight", "output_norm.weight");
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    const std::string p = fmt::format("layers.{}.", i), g = fmt::format("blk.{}.", i);
    norm(p + "input_layernorm.weight", g + "attn_norm.weight");
    norm(p + "post_attention_layernorm.weight", g + "post_attention_norm.weight");
    norm(p + "pre_feedforward_layernorm.weight", g + "ffn_norm.weight");
    norm(p + "post_feedforward_layernorm.weight", g + "post_ffw_norm.weight");
    norm(p + "self_attn.q_norm.weight", g + "attn_q_norm.weight");
    norm(p + "self_attn.k_norm.weight", g + "attn_k_norm.weight");
    matrix(p + "self_attn.q_proj.weight", g + "attn_q.weight", d);
    matrix(p + "self_attn.k_proj.weight", g + "attn_k.weight", d);
    matrix(p + "self_attn.v_proj.weight", g + "attn_v.weight", d);
    matrix(p + "self_attn.o_proj.weight", g + "attn_output.weight",
           int64_t(c.num_attention_heads) * c.head_dim);
    matrix(p + "mlp.gate_proj.weight", g + "ffn_gate.weight", d);
    matrix(p + "mlp.up_proj.weight", g + "ffn_up.weight", d);
    matrix(p + "mlp.down_proj.weight", g + "ffn_down.weight", c.intermediate_size);
  }
}

}  // namespace vkllm::gemma3
