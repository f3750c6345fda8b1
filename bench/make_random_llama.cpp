// Writes a random-weight Llama checkpoint (config.json + model.safetensors, f16) for
// benchmarks: same shapes as a real model, no training.
//   make_random_llama OUT_DIR [hidden layers heads kv_heads ffn vocab]
// Default: the 134M model of the speed issue (768, 12, 12, 12, 2048, 32000).
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "sdk/base/dtype.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR [hidden layers heads kv_heads ffn vocab]\n", argv[0]);
    return 2;
  }
  std::string out = argv[1];
  auto arg = [&](int i, int64_t d) { return argc > i ? std::stoll(argv[i]) : d; };
  int64_t D = arg(2, 768), L = arg(3, 12), H = arg(4, 12), KV = arg(5, H), F = arg(6, 2048),
          V = arg(7, 32000);
  int64_t hd = D / H;
  std::filesystem::create_directories(out);
  std::ofstream(out + "/config.json")
      << "{\"architectures\": [\"LlamaForCausalLM\"], \"model_type\": \"llama\", "
      << "\"hidden_size\": " << D << ", \"intermediate_size\": " << F
      << ", \"num_hidden_layers\": " << L << ", \"num_attention_heads\": " << H
      << ", \"num_key_value_heads\": " << KV << ", \"vocab_size\": " << V
      << ", \"max_position_embeddings\": 4096, \"rms_norm_eps\": 1e-5, \"rope_theta\": 10000.0, "
      << "\"tie_word_embeddings\": false, \"torch_dtype\": \"float16\"}\n";
  struct T {
    std::string name;
    std::vector<int64_t> shape;
    bool norm;
  };
  std::vector<T> ts = {{"model.embed_tokens.weight", {V, D}, false},
                       {"model.norm.weight", {D}, true},
                       {"lm_head.weight", {V, D}, false}};
  for (int64_t l = 0; l < L; ++l) {
    std::string p = "model.layers." + std::to_string(l) + ".";
    ts.push_back({p + "input_layernorm.weight", {D}, true});
    ts.push_back({p + "post_attention_layernorm.weight", {D}, true});
    ts.push_back({p + "self_attn.q_proj.weight", {H * hd, D}, false});
    ts.push_back({p + "self_attn.k_proj.weight", {KV * hd, D}, false});
    ts.push_back({p + "self_attn.v_proj.weight", {KV * hd, D}, false});
    ts.push_back({p + "self_attn.o_proj.weight", {D, H * hd}, false});
    ts.push_back({p + "mlp.gate_proj.weight", {F, D}, false});
    ts.push_back({p + "mlp.up_proj.weight", {F, D}, false});
    ts.push_back({p + "mlp.down_proj.weight", {D, F}, false});
  }
  std::string header = "{";
  uint64_t off = 0;
  for (size_t i = 0; i < ts.size(); ++i) {
    int64_t n = 1;
    for (int64_t d : ts[i].shape) n *= d;
    std::string shape = "[";
    for (size_t k = 0; k < ts[i].shape.size(); ++k)
      shape += (k ? "," : "") + std::to_string(ts[i].shape[k]);
    header += (i ? "," : "") + std::string("\"") + ts[i].name +
              "\":{\"dtype\":\"F16\",\"shape\":" + shape + "],\"data_offsets\":[" +
              std::to_string(off) + "," + std::to_string(off + uint64_t(n) * 2) + "]}";
    off += uint64_t(n) * 2;
  }
  header += "}";
  while (header.size() % 8) header += ' ';
  std::ofstream f(out + "/model.safetensors", std::ios::binary);
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
    for (auto& x : buf) x = vkllm::f32_to_f16(t.norm ? 1.0f : dist(rng));
    f.write(reinterpret_cast<const char*>(buf.data()), long(buf.size() * 2));
  }
  std::printf("%s: %.1fM parameters\n", out.c_str(), double(params) / 1e6);
  return 0;
}
