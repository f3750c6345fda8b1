// Writes a random-weight Qwen2-VL checkpoint (config.json, preprocessor_config.json,
// model.safetensors in f16) for benchmarks: the shapes of Qwen2-VL-2B-Instruct (text: 1536 wide,
// 28 layers, 12 heads / 2 KV heads, ffn 8960, vocab 151936, tied embeddings; vision: 32 blocks,
// 1280 wide, 16 heads, mlp 5120, merger to 1536), no training.
//   make_random_qwen_vl OUT_DIR [text_layers vision_depth min_pixels]
// min_pixels (default 448 * 448) upsizes small images so a benchmark image becomes ~256 tokens.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "random_checkpoint.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s OUT_DIR [text_layers vision_depth min_pixels]\n", argv[0]);
    return 2;
  }
  using vkllm::bench::Fill;
  std::string out = argv[1];
  auto arg = [&](int i, int64_t d) { return argc > i ? std::stoll(argv[i]) : d; };
  const int64_t L = arg(2, 28), VD = arg(3, 32), min_pixels = arg(4, 448 * 448);
  const int64_t D = 1536, H = 12, KV = 2, hd = 128, F = 8960, V = 151936;
  const int64_t E = 1280, VH = 16, VF = 5120, P = 14;
  std::filesystem::create_directories(out);
  std::ofstream(out + "/config.json")
      << "{\"architectures\": [\"Qwen2VLForConditionalGeneration\"], \"model_type\": \"qwen2_vl\", "
      << "\"hidden_size\": " << D << ", \"intermediate_size\": " << F
      << ", \"num_hidden_layers\": " << L << ", \"num_attention_heads\": " << H
      << ", \"num_key_value_heads\": " << KV << ", \"vocab_size\": " << V
      << ", \"max_position_embeddings\": 32768, \"rms_norm_eps\": 1e-6, \"rope_theta\": 1000000.0, "
      << "\"rope_scaling\": {\"type\": \"mrope\", \"mrope_section\": [16, 24, 24]}, "
      << "\"tie_word_embeddings\": true, \"torch_dtype\": \"float16\", \"image_token_id\": 151655, "
      << "\"vision_start_token_id\": 151652, \"vision_end_token_id\": 151653, \"vision_config\": "
      << "{\"depth\": " << VD << ", \"embed_dim\": " << E << ", \"hidden_size\": " << D
      << ", \"hidden_act\": \"quick_gelu\", \"mlp_ratio\": 4, \"num_heads\": " << VH
      << ", \"in_channels\": 3, \"patch_size\": 14, \"spatial_merge_size\": 2, "
      << "\"temporal_patch_size\": 2}}\n";
  std::ofstream(out + "/preprocessor_config.json")
      << "{\"min_pixels\": " << min_pixels << ", \"max_pixels\": 12845056, \"patch_size\": 14, "
      << "\"merge_size\": 2, \"temporal_patch_size\": 2, "
      << "\"image_mean\": [0.48145466, 0.4578275, 0.40821073], "
      << "\"image_std\": [0.26862954, 0.26130258, 0.27577711]}\n";
  std::vector<vkllm::bench::RandomTensor> ts;
  vkllm::bench::add_llama_text(ts, "model.", "", L, D, H, KV, hd, F, V, /*qkv_bias=*/true);
  ts.push_back({"visual.patch_embed.proj.weight", {E, 3, 2, P, P}});
  for (int64_t l = 0; l < VD; ++l) {
    std::string p = "visual.blocks." + std::to_string(l) + ".";
    for (const char* n : {"norm1", "norm2"}) {
      ts.push_back({p + n + ".weight", {E}, Fill::ones});
      ts.push_back({p + n + ".bias", {E}, Fill::zeros});
    }
    ts.push_back({p + "attn.qkv.weight", {3 * E, E}});
    ts.push_back({p + "attn.qkv.bias", {3 * E}, Fill::zeros});
    ts.push_back({p + "attn.proj.weight", {E, E}});
    ts.push_back({p + "attn.proj.bias", {E}, Fill::zeros});
    ts.push_back({p + "mlp.fc1.weight", {VF, E}});
    ts.push_back({p + "mlp.fc1.bias", {VF}, Fill::zeros});
    ts.push_back({p + "mlp.fc2.weight", {E, VF}});
    ts.push_back({p + "mlp.fc2.bias", {E}, Fill::zeros});
  }
  ts.push_back({"visual.merger.ln_q.weight", {E}, Fill::ones});
  ts.push_back({"visual.merger.ln_q.bias", {E}, Fill::zeros});
  ts.push_back({"visual.merger.mlp.0.weight", {4 * E, 4 * E}});
  ts.push_back({"visual.merger.mlp.0.bias", {4 * E}, Fill::zeros});
  ts.push_back({"visual.merger.mlp.2.weight", {D, 4 * E}});
  ts.push_back({"visual.merger.mlp.2.bias", {D}, Fill::zeros});
  uint64_t params = vkllm::bench::write_random_safetensors(out + "/model.safetensors", ts);
  std::printf("%s: %.1fM parameters\n", out.c_str(), double(params) / 1e6);
  return 0;
}
