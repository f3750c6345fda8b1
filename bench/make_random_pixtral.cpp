// Writes a random-weight Pixtral checkpoint (config.json, model.safetensors in f16,
// preprocessor_config.json) for benchmarks, with the shapes of
//   12b: Pixtral-12B (llava: Pixtral tower 24 layers, 1024 wide, 16 heads, mlp 4096, patch 16,
//        up to 1024 px, silu; linear-GELU-linear projector with biases; Mistral NeMo text 5120
//        wide, 40 layers, 32 heads / 8 KV heads of 128, ffn 14336, vocab 131072),
//   small3.1: Mistral Small 3.1 (mistral3: tower as above with patch 14 up to 1540 px, gelu;
//        RMSNorm + 2x2 patch merger, projector without biases; text 5120 wide, 40 layers,
//        32 / 8 heads of 128, ffn 32768, vocab 131072).
// The text model can be cut to fewer layers (the tower keeps its real shape): prefill and
// decode then scale with the layer count.
//   make_random_pixtral OUT_DIR 12b|small3.1 [text_layers vision_layers]
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>

#include "random_checkpoint.h"

int main(int argc, char** argv) {
  const std::string kind = argc >= 3 ? argv[2] : "";
  if (kind != "12b" && kind != "small3.1") {
    std::fprintf(stderr, "usage: %s OUT_DIR 12b|small3.1 [text_layers vision_layers]\n", argv[0]);
    return 2;
  }
  using vkllm::bench::Fill;
  const std::string out = argv[1];
  const bool m3 = kind == "small3.1";
  auto arg = [&](int i, int64_t d) { return argc > i ? std::stoll(argv[i]) : d; };
  const int64_t L = arg(3, 40), VL = arg(4, 24);
  const int64_t D = 5120, H = 32, KV = 8, hd = 128, F = m3 ? 32768 : 14336, V = 131072;
  const int64_t E = 1024, VH = 16, VF = 4096, P = m3 ? 14 : 16, S = m3 ? 1540 : 1024;
  std::filesystem::create_directories(out);
  std::ofstream(out + "/config.json")
      << "{\"architectures\": [\"" << (m3 ? "Mistral3" : "Llava")
      << "ForConditionalGeneration\"], \"model_type\": \"" << (m3 ? "mistral3" : "llava")
      << "\", \"torch_dtype\": \"bfloat16\", \"image_token_index\": 10, "
      << "\"projector_hidden_act\": \"gelu\", \"vision_feature_layer\": -1, "
      << (m3 ? "\"spatial_merge_size\": 2, \"multimodal_projector_bias\": false, "
             : "\"vision_feature_select_strategy\": \"full\", \"multimodal_projector_bias\": "
               "true, ")
      << "\"text_config\": {\"model_type\": \"mistral\", \"hidden_size\": " << D
      << ", \"intermediate_size\": " << F << ", \"num_hidden_layers\": " << L
      << ", \"num_attention_heads\": " << H << ", \"num_key_value_heads\": " << KV
      << ", \"head_dim\": " << hd << ", \"vocab_size\": " << V
      << ", \"rms_norm_eps\": 1e-05, \"rope_theta\": "
      << "1000000000.0"
      << ", \"max_position_embeddings\": 131072, \"sliding_window\": null}, "
      << "\"vision_config\": {\"model_type\": \"pixtral\", \"hidden_size\": " << E
      << ", \"intermediate_size\": " << VF << ", \"num_hidden_layers\": " << VL
      << ", \"num_attention_heads\": " << VH << ", \"image_size\": " << S
      << ", \"patch_size\": " << P << ", \"rope_theta\": 10000.0, \"hidden_act\": \""
      << (m3 ? "gelu" : "silu") << "\"}}\n";
  std::ofstream(out + "/preprocessor_config.json")
      << "{\"image_processor_type\": \"PixtralImageProcessor\", \"size\": {\"longest_edge\": " << S
      << "}, \"patch_size\": {\"height\": " << P << ", \"width\": " << P
      << "}, \"resample\": 3, \"rescale_factor\": 0.00392156862745098, \"image_mean\": "
         "[0.48145466, 0.4578275, 0.40821073], \"image_std\": [0.26862954, 0.26130258, "
         "0.27577711]}\n";
  std::vector<vkllm::bench::RandomTensor> ts;
  vkllm::bench::add_llama_text(ts, "language_model.model.", "language_model.lm_head.weight", L, D,
                               H, KV, hd, F, V);
  const std::string v = "vision_tower.";
  ts.push_back({v + "patch_conv.weight", {E, 3, P, P}});
  ts.push_back({v + "ln_pre.weight", {E}, Fill::ones});
  for (int64_t l = 0; l < VL; ++l) {
    std::string p = v + "transformer.layers." + std::to_string(l) + ".";
    ts.push_back({p + "attention_norm.weight", {E}, Fill::ones});
    ts.push_back({p + "ffn_norm.weight", {E}, Fill::ones});
    for (const char* n : {"q_proj", "k_proj", "v_proj", "o_proj"})
      ts.push_back({p + "attention." + n + ".weight", {E, E}});
    ts.push_back({p + "feed_forward.gate_proj.weight", {VF, E}});
    ts.push_back({p + "feed_forward.up_proj.weight", {VF, E}});
    ts.push_back({p + "feed_forward.down_proj.weight", {E, VF}});
  }
  const std::string m = "multi_modal_projector.";
  if (m3) {
    ts.push_back({m + "norm.weight", {E}, Fill::ones});
    ts.push_back({m + "patch_merger.merging_layer.weight", {E, 4 * E}});
  }
  ts.push_back({m + "linear_1.weight", {D, E}});
  ts.push_back({m + "linear_2.weight", {D, D}});
  if (!m3) {
    ts.push_back({m + "linear_1.bias", {D}, Fill::zeros});
    ts.push_back({m + "linear_2.bias", {D}, Fill::zeros});
  }
  uint64_t params = vkllm::bench::write_random_safetensors(out + "/model.safetensors", ts);
  std::printf("wrote %s: %.2fB parameters\n", out.c_str(), double(params) / 1e9);
  return 0;
}
