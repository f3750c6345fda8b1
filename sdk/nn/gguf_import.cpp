#include "sdk/nn/gguf_import.h"

#include <fmt/format.h>

#include "sdk/base/error.h"

namespace vkllm::nn {

void add_gguf_projections(GgufTensorMap& m, const std::string& p, const std::string& g,
                          int unpermute_q, int unpermute_k) {
  m[p + "self_attn.q_proj.weight"] = {g + "attn_q.weight", unpermute_q};
  m[p + "self_attn.k_proj.weight"] = {g + "attn_k.weight", unpermute_k};
  m[p + "self_attn.v_proj.weight"] = {g + "attn_v.weight"};
  m[p + "self_attn.o_proj.weight"] = {g + "attn_output.weight"};
  m[p + "mlp.gate_proj.weight"] = {g + "ffn_gate.weight"};
  m[p + "mlp.up_proj.weight"] = {g + "ffn_up.weight"};
  m[p + "mlp.down_proj.weight"] = {g + "ffn_down.weight"};
}

nlohmann::json gguf_decoder_config(const sdk::GgufFile& f, int64_t default_context) {
  const std::string arch = f.architecture();
  auto key = [&](const char* k) { return arch + "." + k; };
  const sdk::GgufTensorInfo* embd = f.find("token_embd.weight");
  if (!embd || embd->ne.size() != 2)
    throw ModelError(fmt::format("{}: tensor 'token_embd.weight' is missing or not 2-D", f.path()));
  const int64_t hidden = f.integer_in(key("embedding_length"), 1, 1 << 20);
  const int64_t heads = f.integer_in(key("attention.head_count"), 1, 4096);
  const int64_t vocab = embd->ne[1];
  nlohmann::json c;
  c["hidden_size"] = hidden;
  c["num_hidden_layers"] = f.integer_in(key("block_count"), 1, 1024);
  c["num_attention_heads"] = heads;
  c["num_key_value_heads"] = f.has(key("attention.head_count_kv"))
                                 ? f.integer_in(key("attention.head_count_kv"), 1, heads)
                                 : heads;
  c["head_dim"] = f.has(key("attention.key_length"))
                      ? f.integer_in(key("attention.key_length"), 1, 1 << 16)
                      : hidden / heads;
  c["intermediate_size"] = f.integer_in(key("feed_forward_length"), 1, 1 << 22);
  c["vocab_size"] = vocab;
  c["max_position_embeddings"] = f.has(key("context_length"))
                                     ? f.integer_in(key("context_length"), 1, 1 << 24)
                                     : default_context;
  c["rms_norm_eps"] = f.number(key("attention.layer_norm_rms_epsilon"));
  if (f.has(key("rope.freq_base"))) c["rope_theta"] = f.number(key("rope.freq_base"));
  for (const char* id : {"bos", "eos"}) {
    const std::string k = fmt::format("tokenizer.ggml.{}_token_id", id);
    if (f.has(k)) c[fmt::format("{}_token_id", id)] = f.integer_in(k, 0, vocab - 1);
  }
  return c;
}

void check_gguf_tensors(const sdk::GgufFile& f, const GgufTensorMap& m) {
  for (const auto& [name, ref] : m)
    if (!f.find(ref.gguf_name))
      throw ModelError(
          fmt::format("{}: tensor '{}' ({}) is missing", f.path(), ref.gguf_name, name));
}

}  // namespace vkllm::nn
