// Writes a random-weight Gemma 3 checkpoint (config.json, model.safetensors in f16 and, for the
// vision model, preprocessor_config.json) for benchmarks, with the shapes of
//   1b: Gemma 3 1B (gemma3_text: 1152 wide, 26 layers, 4 heads / 1 KV head of 256, ffn 6912,
//       vocab 262144, window 512),
//   4b: Gemma 3 4B (gemma3: text 2560 wide, 34 layers, 8 heads / 4 KV heads of 256, ffn 10240,
//       vocab 262208, window 1024, linear rope x8 on global layers; SigLIP-400M tower at 896 px:
//       27 layers, 1152 wide, 16 heads, mlp 4304; 256 tokens per image).
// Norm weights are zero (Gemma's (1 + w) norms at scale 1); no training.
//   make_random_gemma3 OUT_DIR 1b|4b [text_layers vision_layers]
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "random_checkpoint.h"

int main(int argc, char** argv) {
  if (argc < 3 || (std::string(argv[2]) != "1b" && std::string(argv[2]) != "4b")) {
    std::fprintf(stderr, "usage: %s OUT_DIR 1b|4b [text_layers vision_layers]\n", argv[0]);
    return 2;
  }
  using vkllm::bench::Fill;
  const std::string out = argv[1];
  const bool vlm = std::string(argv[2]) == "4b";
  auto arg = [&](int i, int64_t d) { return argc > i ? std::stoll(argv[i]) : d; };
  const int64_t L = arg(3, vlm ? 34 : 26), VL = arg(4, 27);
  const int64_t D = vlm ? 2560 : 1152, H = vlm ? 8 : 4, KV = vlm ? 4 : 1, hd = 256;
  const int64_t F = vlm ? 10240 : 6912, V = vlm ? 262208 : 262144, W = vlm ? 1024 : 512;
  const int64_t E = 1152, VH = 16, VF = 4304, P = 14, S = 896;
  std::filesystem::create_directories(out);
  std::string text =
      "\"hidden_size\": " + std::to_string(D) + ", \"intermediate_size\": " + std::to_string(F) +
      ", \"num_hidden_layers\": " + std::to_string(L) +
      ", \"num_attention_heads\": " + std::to_string(H) +
      ", \"num_key_value_heads\": " + std::to_string(KV) +
      ", \"head_dim\": 256, \"query_pre_attn_scalar\": 256, \"vocab_size\": " + std::to_string(V) +
      ", \"sliding_window\": " + std::to_string(W) +
      ", \"sliding_window_pattern\": 6, \"rope_theta\": 1000000.0, "
      "\"rope_local_base_freq\": 10000.0, \"max_position_embeddings\": " +
      (vlm ? "131072, \"rope_scaling\": {\"rope_type\": \"linear\", \"factor\": 8.0}" : "32768");
  std::ofstream cfg(out + "/config.json");
  if (vlm) {
    cfg << "{\"architectures\": [\"Gemma3ForConditionalGeneration\"], \"model_type\": \"gemma3\", "
        << "\"torch_dtype\": \"bfloat16\", \"mm_tokens_per_image\": 256, \"boi_token_index\": "
           "255999, \"eoi_token_index\": 256000, \"image_token_index\": 262144, "
        << "\"text_config\": {\"model_type\": \"gemma3_text\", " << text << "}, "
        << "\"vision_config\": {\"model_type\": \"siglip_vision_model\", \"hidden_size\": " << E
        << ", \"intermediate_size\": " << VF << ", \"num_hidden_layers\": " << VL
        << ", \"num_attention_heads\": " << VH << ", \"image_size\": " << S
        << ", \"patch_size\": " << P << ", \"vision_use_head\": false}}\n";
    std::ofstream(out + "/preprocessor_config.json")
        << "{\"image_processor_type\": \"Gemma3ImageProcessor\", \"size\": {\"height\": 896, "
           "\"width\": 896}, \"resample\": 2, \"rescale_factor\": 0.00392156862745098, "
           "\"image_mean\": [0.5, 0.5, 0.5], \"image_std\": [0.5, 0.5, 0.5]}\n";
  } else {
    cfg << "{\"architectures\": [\"Gemma3ForCausalLM\"], \"model_type\": \"gemma3_text\", "
        << "\"torch_dtype\": \"bfloat16\", " << text << "}\n";
  }
  const std::string t = vlm ? "language_model.model." : "model.";
  std::vector<vkllm::bench::RandomTensor> ts = {{t + "embed_tokens.weight", {V, D}},
                                                {t + "norm.weight", {D}, Fill::zeros}};
  for (int64_t l = 0; l < L; ++l) {
    std::string p = t + "layers." + std::to_string(l) + ".";
    for (const char* n : {"input_layernorm", "post_attention_layernorm",
                          "pre_feedforward_layernorm", "post_feedforward_layernorm"})
      ts.push_back({p + n + ".weight", {D}, Fill::zeros});
    ts.push_back({p + "self_attn.q_norm.weight", {hd}, Fill::zeros});
    ts.push_back({p + "self_attn.k_norm.weight", {hd}, Fill::zeros});
    vkllm::bench::add_decoder_projections(ts, p, D, H, KV, hd, F);
  }
  if (vlm) {
    const std::string v = "vision_tower.vision_model.";
    ts.push_back({v + "embeddings.patch_embedding.weight", {E, 3, P, P}});
    ts.push_back({v + "embeddings.patch_embedding.bias", {E}, Fill::zeros});
    ts.push_back({v + "embeddings.position_embedding.weight", {(S / P) * (S / P), E}});
    for (int64_t l = 0; l < VL; ++l) {
      std::string p = v + "encoder.layers." + std::to_string(l) + ".";
      for (const char* n : {"layer_norm1", "layer_norm2"}) {
        ts.push_back({p + n + ".weight", {E}, Fill::ones});
        ts.push_back({p + n + ".bias", {E}, Fill::zeros});
      }
      for (const char* n : {"q_proj", "k_proj", "v_proj", "out_proj"}) {
        ts.push_back({p + "self_attn." + n + ".weight", {E, E}});
        ts.push_back({p + "self_attn." + n + ".bias", {E}, Fill::zeros});
      }
      ts.push_back({p + "mlp.fc1.weight", {VF, E}});
      ts.push_back({p + "mlp.fc1.bias", {VF}, Fill::zeros});
      ts.push_back({p + "mlp.fc2.weight", {E, VF}});
      ts.push_back({p + "mlp.fc2.bias", {E}, Fill::zeros});
    }
    ts.push_back({v + "post_layernorm.weight", {E}, Fill::ones});
    ts.push_back({v + "post_layernorm.bias", {E}, Fill::zeros});
    ts.push_back({"multi_modal_projector.mm_soft_emb_norm.weight", {E}, Fill::zeros});
    ts.push_back({"multi_modal_projector.mm_input_projection_weight", {E, D}});
  }
  uint64_t params = vkllm::bench::write_random_safetensors(out + "/model.safetensors", ts);
  std::printf("wrote %s: %.2fB parameters\n", out.c_str(), double(params) / 1e9);
  return 0;
}
