// Writes a random-weight Llama checkpoint (config.json + model.safetensors, f16) for
// benchmarks: same shapes as a real model, no training.
//   make_random_llama OUT_DIR [hidden layers heads kv_heads ffn vocab]
// Default: the 134M model of the speed issue (768, 12, 12, 12, 2048, 32000).
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "random_checkpoint.h"

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
  std::vector<vkllm::bench::RandomTensor> ts;
  vkllm::bench::add_llama_text(ts, "model.", "lm_head.weight", L, D, H, KV, hd, F, V);
  uint64_t params = vkllm::bench::write_random_safetensors(out + "/model.safetensors", ts);
  std::printf("%s: %.1fM parameters\n", out.c_str(), double(params) / 1e6);
  return 0;
}
