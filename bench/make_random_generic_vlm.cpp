// Writes a random-weight LLaVA checkpoint (config.json, model.safetensors in f16,
// preprocessor_config.json) for benchmarks, with the shapes of
//   1.5-7b: llava-1.5-7b (llava: CLIP ViT-L/14 at 336 px, 24 layers, 1024 wide, 16 heads, MLP
//           4096, quick_gelu, feature layer -2, "default"; linear-GELU-linear projector with
//           biases; Llama-2-7B text 4096 wide, 32 layers, 32 heads of 128, ffn 11008, vocab 32064),
//   1.6-mistral-7b: llava-v1.6-mistral-7b (llava_next: the same tower over AnyRes tiles of 336 px
//           with image_newline; Mistral-7B text 4096 wide, 32 layers, 32 / 8 heads of 128, ffn
//           14336, vocab 32064).
// The text model can be cut to fewer layers (the tower keeps its real shape).
//   make_random_generic_vlm OUT_DIR 1.5-7b|1.6-mistral-7b [text_layers]
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "random_checkpoint.h"

int main(int argc, char** argv) {
  const std::string kind = argc >= 3 ? argv[2] : "";
  if (kind != "1.5-7b" && kind != "1.6-mistral-7b") {
    std::fprintf(stderr, "usage: %s OUT_DIR 1.5-7b|1.6-mistral-7b [text_layers]\n", argv[0]);
    return 2;
  }
  using vkllm::bench::Fill;
  const std::string out = argv[1];
  const bool next = kind == "1.6-mistral-7b";
  const int64_t L = argc > 3 ? std::stoll(argv[3]) : 32;
  const int64_t D = 4096, H = 32, KV = next ? 8 : 32, hd = 128, F = next ? 14336 : 11008, V = 32064;
  const int64_t E = 1024, VH = 16, VF = 4096, VL = 24, P = 14, S = 336, T = (S / P) * (S / P) + 1;
  std::filesystem::create_directories(out);
  std::ofstream(out + "/config.json")
      << "{\"architectures\": [\"" << (next ? "LlavaNext" : "Llava")
      << "ForConditionalGeneration\"], \"model_type\": \"" << (next ? "llava_next" : "llava")
      << "\", \"torch_dtype\": \"float16\", \"image_token_index\": 32000, "
      << "\"projector_hidden_act\": \"gelu\", \"vision_feature_layer\": -2, "
      << "\"vision_feature_select_strategy\": \"default\", "
      << (next ? "\"image_grid_pinpoints\": [[336, 672], [672, 336], [672, 672], [1008, 336], "
                 "[336, 1008]], "
               : "")
      << "\"text_config\": {\"model_type\": \"" << (next ? "mistral" : "llama")
      << "\", \"hidden_size\": " << D << ", \"intermediate_size\": " << F
      << ", \"num_hidden_layers\": " << L << ", \"num_attention_heads\": " << H
      << ", \"num_key_value_heads\": " << KV << ", \"vocab_size\": " << V
      << ", \"rms_norm_eps\": 1e-05, \"max_position_embeddings\": 4096"
      << (next ? ", \"rope_theta\": 1000000.0, \"sliding_window\": null" : "") << "}, "
      << "\"vision_config\": {\"model_type\": \"clip_vision_model\", \"hidden_size\": " << E
      << ", \"intermediate_size\": " << VF << ", \"num_hidden_layers\": " << VL
      << ", \"num_attention_heads\": " << VH << ", \"image_size\": " << S
      << ", \"patch_size\": " << P << ", \"projection_dim\": 768}}\n";
  std::ofstream(out + "/preprocessor_config.json")
      << "{\"image_processor_type\": \""
      << (next ? "LlavaNextImageProcessor" : "CLIPImageProcessor")
      << "\", \"size\": {\"shortest_edge\": " << S << "}, \"crop_size\": {\"height\": " << S
      << ", \"width\": " << S << "}, \"do_center_crop\": true, \"resample\": 3, "
      << (next ? "\"image_grid_pinpoints\": [[336, 672], [672, 336], [672, 672], [1008, 336], "
                 "[336, 1008]], "
               : "")
      << "\"rescale_factor\": 0.00392156862745098, \"image_mean\": "
         "[0.48145466, 0.4578275, 0.40821073], \"image_std\": [0.26862954, 0.26130258, "
         "0.27577711]}\n";
  std::vector<vkllm::bench::RandomTensor> ts;
  vkllm::bench::add_llama_text(ts, "language_model.model.", "language_model.lm_head.weight", L, D,
                               H, KV, hd, F, V);
  const std::string v = "vision_tower.vision_model.";
  auto norm = [&](const std::string& n, int64_t w) {
    ts.push_back({n + ".weight", {w}, Fill::ones});
    ts.push_back({n + ".bias", {w}, Fill::zeros});
  };
  auto linear = [&](const std::string& n, int64_t rows, int64_t cols) {
    ts.push_back({n + ".weight", {rows, cols}});
    ts.push_back({n + ".bias", {rows}, Fill::zeros});
  };
  ts.push_back({v + "embeddings.class_embedding", {E}});
  ts.push_back({v + "embeddings.patch_embedding.weight", {E, 3, P, P}});
  ts.push_back({v + "embeddings.position_embedding.weight", {T, E}});
  norm(v + "pre_layrnorm", E);
  for (int64_t l = 0; l < VL; ++l) {
    std::string p = v + "encoder.layers." + std::to_string(l) + ".";
    norm(p + "layer_norm1", E);
    norm(p + "layer_norm2", E);
    for (const char* n : {"q_proj", "k_proj", "v_proj", "out_proj"})
      linear(p + "self_attn." + n, E, E);
    linear(p + "mlp.fc1", VF, E);
    linear(p + "mlp.fc2", E, VF);
  }
  norm(v + "post_layernorm", E);
  linear("multi_modal_projector.linear_1", D, E);
  linear("multi_modal_projector.linear_2", D, D);
  if (next) ts.push_back({"image_newline", {D}});
  uint64_t params = vkllm::bench::write_random_safetensors(out + "/model.safetensors", ts);
  std::printf("wrote %s: %.2fB parameters\n", out.c_str(), double(params) / 1e9);
  return 0;
}
