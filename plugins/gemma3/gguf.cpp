// GGUF export for llama.cpp's "gemma3" architecture (text model): Gemma's zero-centred norms
// written as 1 + w (llama.cpp multiplies by the stored weight), rotate-half rotary kept (llama.cpp
// runs gemma3 with NeoX rotation: no q/k permutation), the vision tower left out. llama.cpp fixes
// some of Gemma 3's shape in code: every 6th layer global, local rotary base 10000, attention
// scale head_dim^-0.5 (27B: (hidden / heads)^-0.5); a config that differs is refused rather
// than exported to a file llama.cpp would run differently.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "gguf.h"
#include "sdk/base/error.h"
#include "sdk/nn/gguf_import.h"

namespace vkllm::gemma3 {

namespace {
// Each layer's norms: checkpoint name (after "layers.N.") and llama.cpp's (after "blk.N."), all
// stored as 1 + w.
const std::pair<const char*, const char*> kLayerNorms[] = {
    {"input_layernorm.weight", "attn_norm.weight"},
    {"post_attention_layernorm.weight", "post_attention_norm.weight"},
    {"pre_feedforward_layernorm.weight", "ffn_norm.weight"},
    {"post_feedforward_layernorm.weight", "post_ffw_norm.weight"},
    {"self_attn.q_norm.weight", "attn_q_norm.weight"},
    {"self_attn.k_norm.weight", "attn_k_norm.weight"},
};
}  // namespace

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
    refuse(
        fmt::format("query_pre_attn_scalar {} (it scales by head_dim)", c.query_pre_attn_scalar));
  if (c.final_logit_softcapping > 0) refuse("final_logit_softcapping");
  const std::string arch = "gemma3";
  out.kv("general.architecture", arch);
  out.kv("general.name", "vkllm export (" + c.model_type + ")");
  out.kv(arch + ".context_length", uint32_t(c.max_position_embeddings));
  out.kv(arch + ".embedding_length", uint32_t(c.hidden_size));
  out.kv(arch + ".block_count", uint32_t(c.num_hidden_layers));
  out.kv(arch + ".feed_forward_length", uint32_t(c.intermediate_size));
  out.kv(arch + ".attention.head_count", uint32_t(c.num_attention_heads));
  out.kv(arch + ".attention.head_count_kv", uint32_t(c.num_key_value_heads));
  out.kv(arch + ".attention.key_length", uint32_t(c.head_dim));
  out.kv(arch + ".attention.value_length", uint32_t(c.head_dim));
  out.kv(arch + ".attention.layer_norm_rms_epsilon", float(c.rms_norm_eps));
  out.kv(arch + ".attention.sliding_window",
         uint32_t(*std::max_element(c.sliding_window.begin(), c.sliding_window.end())));
  out.kv(arch + ".rope.freq_base", float(c.rope_theta));
  out.kv(arch + ".vocab_size", uint32_t(c.vocab_size));
  const auto& rs = c.rope_scaling;
  std::string rtype =
      rs.is_object() ? rs.value("rope_type", rs.value("type", std::string("default"))) : "default";
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
    for (auto [name, gguf] : kLayerNorms) norm(p + name, g + gguf);
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

plugin::GgufImport import_gguf(const sdk::GgufFile& f) {
  const std::string arch = f.architecture();
  if (arch != "gemma3")
    throw ModelError(
        fmt::format("{}: GGUF architecture '{}' is not supported (gemma3)", f.path(), arch));
  auto key = [&](const char* k) { return arch + "." + k; };
  // llama.cpp always writes these for gemma3 (no defaults taken).
  const int64_t heads = f.integer_in(key("attention.head_count"), 1, 4096);
  (void)f.integer_in(key("attention.head_count_kv"), 1, heads);
  const int64_t head_dim = f.integer_in(key("attention.key_length"), 1, 1 << 16);
  plugin::GgufImport im;
  nlohmann::json& c = im.config;
  c = nn::gguf_decoder_config(f, 131072);
  const int64_t layers = c["num_hidden_layers"];
  // llama.cpp's gemma3: every 6th layer global, local rotary base 10000, scale head_dim^-0.5,
  // no soft-capping, tied output, gelu (tanh) MLP.
  c["model_type"] = "gemma3_text";
  c["architectures"] = {"Gemma3ForCausalLM"};
  c["query_pre_attn_scalar"] = head_dim;
  if (!c.contains("rope_theta")) c["rope_theta"] = 1000000.0;
  c["rope_local_base_freq"] = 10000.0;
  c["sliding_window"] = f.integer_in(key("attention.sliding_window"), 1, 1 << 24);
  c["sliding_window_pattern"] = 6;
  c["final_logit_softcapping"] = nullptr;
  c["attn_logit_softcapping"] = nullptr;
  c["hidden_activation"] = "gelu_pytorch_tanh";
  c["tie_word_embeddings"] = true;
  if (f.has(key("rope.scaling.type"))) {
    const std::string t = f.string(key("rope.scaling.type"));
    if (t == "linear")
      c["rope_scaling"] = {{"rope_type", "linear"},
                           {"factor", f.number(key("rope.scaling.factor"))}};
    else if (t != "none")
      throw ModelError(
          fmt::format("{}: {} '{}' is not supported", f.path(), key("rope.scaling.type"), t));
  }
  c["torch_dtype"] =
      f.find("token_embd.weight")->type == uint32_t(sdk::GgmlType::f32) ? "float32" : "bfloat16";
  auto& m = im.tensors;
  auto norm = [&](const std::string& name, const std::string& gguf) { m[name] = {gguf, 0, -1.0f}; };
  m["model.embed_tokens.weight"] = {"token_embd.weight"};
  norm("model.norm.weight", "output_norm.weight");
  for (int64_t i = 0; i < layers; ++i) {
    const std::string p = fmt::format("model.layers.{}.", i), g = fmt::format("blk.{}.", i);
    for (auto [name, gguf] : kLayerNorms) norm(p + name, g + gguf);
    nn::add_gguf_projections(m, p, g);
  }
  nn::check_gguf_tensors(f, m);
  return im;
}

}  // namespace vkllm::gemma3
