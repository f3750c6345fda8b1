#pragma once
// Writing random-weight checkpoints for benchmarks: one f16 model.safetensors whose tensors are
// N(0, 0.02) (matrices), ones (norm weights) or zeros (biases).
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "sdk/base/dtype.h"

namespace vkllm::bench {

enum class Fill { normal, ones, zeros };

struct RandomTensor {
  std::string name;
  std::vector<int64_t> shape;
  Fill fill = Fill::normal;
};

// The projections of one decoder layer under `p` ("model.layers.3."), Hugging Face names:
// q/k/v (with zero biases for Qwen2's qkv_bias), o, and the gated MLP. Norms differ by family.
inline void add_decoder_projections(std::vector<RandomTensor>& ts, const std::string& p, int64_t D,
                                    int64_t H, int64_t KV, int64_t hd, int64_t F,
                                    bool qkv_bias = false) {
  for (auto [n, rows] : {std::pair{"q", H * hd}, {"k", KV * hd}, {"v", KV * hd}}) {
    ts.push_back({p + "self_attn." + n + "_proj.weight", {rows, D}});
    if (qkv_bias) ts.push_back({p + "self_attn." + n + "_proj.bias", {rows}, Fill::zeros});
  }
  ts.push_back({p + "self_attn.o_proj.weight", {D, H * hd}});
  ts.push_back({p + "mlp.gate_proj.weight", {F, D}});
  ts.push_back({p + "mlp.up_proj.weight", {F, D}});
  ts.push_back({p + "mlp.down_proj.weight", {D, F}});
}

// A Llama-structured text model under `prefix` ("model.", "language_model.model."):
// embeddings, final norm, `lm_head` (none when empty: tied), then L layers of two RMSNorms and
// the projections.
inline void add_llama_text(std::vector<RandomTensor>& ts, const std::string& prefix,
                           const std::string& lm_head, int64_t L, int64_t D, int64_t H, int64_t KV,
                           int64_t hd, int64_t F, int64_t V, bool qkv_bias = false) {
  ts.push_back({prefix + "embed_tokens.weight", {V, D}});
  ts.push_back({prefix + "norm.weight", {D}, Fill::ones});
  if (!lm_head.empty()) ts.push_back({lm_head, {V, D}});
  for (int64_t l = 0; l < L; ++l) {
    const std::string p = prefix + "layers." + std::to_string(l) + ".";
    ts.push_back({p + "input_layernorm.weight", {D}, Fill::ones});
    ts.push_back({p + "post_attention_layernorm.weight", {D}, Fill::ones});
    add_decoder_projections(ts, p, D, H, KV, hd, F, qkv_bias);
  }
}

// Returns the parameter count.
inline uint64_t write_random_safetensors(const std::string& path,
                                         const std::vector<RandomTensor>& ts) {
  std::string header = "{";
  uint64_t off = 0;
  for (size_t i = 0; i < ts.size(); ++i) {
    int64_t n = 1;
    std::string shape = "[";
    for (size_t k = 0; k < ts[i].shape.size(); ++k) {
      n *= ts[i].shape[k];
      if (k) shape += ",";
      shape += std::to_string(ts[i].shape[k]);
    }
    header += i ? ",\"" : "\"";
    header += ts[i].name + "\":{\"dtype\":\"F16\",\"shape\":" + shape + "],\"data_offsets\":[" +
              std::to_string(off) + "," + std::to_string(off + uint64_t(n) * 2) + "]}";
    off += uint64_t(n) * 2;
  }
  header += "}";
  while (header.size() % 8) header += ' ';
  std::ofstream f(path, std::ios::binary);
  uint64_t hn = header.size();
  f.write(reinterpret_cast<const char*>(&hn), 8);
  f.write(header.data(), long(header.size()));
  std::mt19937 rng(1);
  std::normal_distribution<float> dist(0.0f, 0.02f);
  uint64_t params = 0;
  for (const auto& t : ts) {
    int64_t n = 1;
    for (int64_t d : t.shape) n *= d;
    params += uint64_t(n);
    std::vector<uint16_t> buf(static_cast<size_t>(n));
    for (auto& x : buf)
      x = f32_to_f16(t.fill == Fill::ones ? 1.0f : t.fill == Fill::zeros ? 0.0f : dist(rng));
    f.write(reinterpret_cast<const char*>(buf.data()), long(buf.size() * 2));
  }
  if (!f) std::fprintf(stderr, "error: could not write %s\n", path.c_str());
  return params;
}

}  // namespace vkllm::bench
