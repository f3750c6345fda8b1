// GGUF export for llama.cpp: architecture "llama" (q/k rows permuted from rotate_half to
// llama.cpp's interleaved rotary layout) or "qwen2" (NeoX rotary, q/k/v biases).
#include <fmt/format.h>

#include <cmath>

#include "model.h"
#include "sdk/base/error.h"

namespace vkllm::llama {

namespace {

// HF rotate_half layout -> interleaved pairs: rows of each head reordered (i, i+d/2) -> (2i, 2i+1).
std::vector<float> permute_rows(const std::vector<float>& w, int64_t n_head, int64_t head_dim,
                                int64_t cols) {
  std::vector<float> out(w.size());
  int64_t half = head_dim / 2;
  for (int64_t h = 0; h < n_head; ++h)
    for (int64_t i = 0; i < half; ++i)
      for (int64_t part = 0; part < 2; ++part) {
        int64_t src = h * head_dim + part * half + i, dst = h * head_dim + 2 * i + part;
        std::copy_n(w.begin() + src * cols, cols, out.begin() + dst * cols);
      }
  return out;
}

std::vector<float> permute_vec(const std::vector<float>& b, int64_t n_head, int64_t head_dim) {
  return permute_rows(b, n_head, head_dim, 1);
}

}  // namespace

void export_gguf(const Config& c, plugin::WeightSource& src, sdk::GgufWriter& out, Dtype type) {
  if (c.qk_norm) {  // Qwen3: llama.cpp's qwen3 architecture is not mapped yet
    throw InputError(fmt::format(
        "[export-gguf] {} (q/k norms per head) has no GGUF mapping yet: llama, mistral and qwen2 "
        "export",
        c.model_type));
  }
  const bool qwen = c.model_type == "qwen2";
  const std::string arch = qwen ? "qwen2" : "llama";
  uint32_t file_type = type == Dtype::f32    ? 0
                       : type == Dtype::f16  ? 1
                       : type == Dtype::q8_0 ? 7
                                             : 2;
  out.kv("general.architecture", arch);
  out.kv("general.name", "vkllm export (" + c.model_type + ")");
  out.kv("general.file_type", file_type);
  out.kv(arch + ".context_length", uint32_t(c.max_position_embeddings));
  out.kv(arch + ".embedding_length", uint32_t(c.hidden_size));
  out.kv(arch + ".block_count", uint32_t(c.num_hidden_layers));
  out.kv(arch + ".feed_forward_length", uint32_t(c.intermediate_size));
  out.kv(arch + ".rope.dimension_count", uint32_t(c.head_dim));
  out.kv(arch + ".attention.head_count", uint32_t(c.num_attention_heads));
  out.kv(arch + ".attention.head_count_kv", uint32_t(c.num_key_value_heads));
  out.kv(arch + ".attention.key_length", uint32_t(c.head_dim));
  out.kv(arch + ".attention.value_length", uint32_t(c.head_dim));
  out.kv(arch + ".attention.layer_norm_rms_epsilon", float(c.rms_norm_eps));
  out.kv(arch + ".rope.freq_base", float(c.rope_theta));
  out.kv(arch + ".vocab_size", uint32_t(c.vocab_size));
  const auto& rs = c.rope_scaling;
  std::string rtype =
      rs.is_object() ? rs.value("rope_type", rs.value("type", std::string("default"))) : "default";
  if (rtype == "linear") {
    out.kv(arch + ".rope.scaling.type", std::string("linear"));
    out.kv(arch + ".rope.scaling.factor", float(rs.value("factor", 1.0)));
  } else if (rtype == "llama3") {
    // llama.cpp takes llama3 scaling as per-frequency divisors in rope_freqs.weight.
    auto base = nn::rope_table(
        {.theta = c.rope_theta, .rot_dim = c.head_dim, .max_position = c.max_position_embeddings});
    auto scaled = nn::rope_table(c.rope());
    std::vector<float> factors(base.inv_freq.size());
    for (size_t i = 0; i < factors.size(); ++i) factors[i] = base.inv_freq[i] / scaled.inv_freq[i];
    out.tensor("rope_freqs.weight", {int64_t(factors.size())}, factors, Dtype::f32);
  } else if (rtype != "default") {
    throw ModelError(fmt::format("[gguf] rope_scaling '{}' has no GGUF export here", rtype));
  }
  int64_t d = c.hidden_size, hd = c.head_dim;
  auto put2d = [&](const std::string& gguf, Dtype t, const std::vector<float>& w, int64_t cols) {
    out.tensor(gguf, {int64_t(w.size()) / cols, cols}, w, t);
  };
  auto vec = [&](const std::string& name, const std::string& gguf) {
    auto v = src.read_f32(name);
    out.tensor(gguf, {int64_t(v.size())}, v, Dtype::f32);
  };
  put2d("token_embd.weight", type, src.read_f32("model.embed_tokens.weight"), d);
  vec("model.norm.weight", "output_norm.weight");
  if (!c.tie_word_embeddings && src.has("lm_head.weight")) {
    put2d("output.weight", type, src.read_f32("lm_head.weight"), d);
  }
  for (int i = 0; i < c.num_hidden_layers; ++i) {
    std::string p = fmt::format("model.layers.{}.", i), g = fmt::format("blk.{}.", i);
    vec(p + "input_layernorm.weight", g + "attn_norm.weight");
    vec(p + "post_attention_layernorm.weight", g + "ffn_norm.weight");
    auto q = src.read_f32(p + "self_attn.q_proj.weight");
    auto k = src.read_f32(p + "self_attn.k_proj.weight");
    if (!qwen) {
      q = permute_rows(q, c.num_attention_heads, hd, d);
      k = permute_rows(k, c.num_key_value_heads, hd, d);
    }
    put2d(g + "attn_q.weight", type, q, d);
    put2d(g + "attn_k.weight", type, k, d);
    put2d(g + "attn_v.weight", type, src.read_f32(p + "self_attn.v_proj.weight"), d);
    put2d(g + "attn_output.weight", type, src.read_f32(p + "self_attn.o_proj.weight"),
          int64_t(c.num_attention_heads) * hd);
    if (c.qkv_bias) {
      auto qb = src.read_f32(p + "self_attn.q_proj.bias"),
           kb = src.read_f32(p + "self_attn.k_proj.bias");
      if (!qwen) {
        qb = permute_vec(qb, c.num_attention_heads, hd);
        kb = permute_vec(kb, c.num_key_value_heads, hd);
      }
      out.tensor(g + "attn_q.bias", {int64_t(qb.size())}, qb, Dtype::f32);
      out.tensor(g + "attn_k.bias", {int64_t(kb.size())}, kb, Dtype::f32);
      vec(p + "self_attn.v_proj.bias", g + "attn_v.bias");
    }
    put2d(g + "ffn_gate.weight", type, src.read_f32(p + "mlp.gate_proj.weight"), d);
    put2d(g + "ffn_up.weight", type, src.read_f32(p + "mlp.up_proj.weight"), d);
    put2d(g + "ffn_down.weight", type, src.read_f32(p + "mlp.down_proj.weight"),
          c.intermediate_size);
  }
}

}  // namespace vkllm::llama
