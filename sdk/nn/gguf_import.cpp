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

void add_gguf_token_ids(const sdk::GgufFile& f, int64_t vocab, nlohmann::json& config) {
  for (const char* id : {"bos", "eos"}) {
    const std::string k = fmt::format("tokenizer.ggml.{}_token_id", id);
    if (f.has(k)) config[fmt::format("{}_token_id", id)] = f.integer_in(k, 0, vocab - 1);
  }
}

void check_gguf_tensors(const sdk::GgufFile& f, const GgufTensorMap& m) {
  for (const auto& [name, ref] : m)
    if (!f.find(ref.gguf_name))
      throw ModelError(
          fmt::format("{}: tensor '{}' ({}) is missing", f.path(), ref.gguf_name, name));
}

}  // namespace vkllm::nn
