#pragma once
// The pre-norm ViT encoders of CLIP ("Learning Transferable Visual Models From Natural Language
// Supervision", 2021) and SigLIP, after transformers' modeling_clip.py and modeling_siglip.py:
// patch embedding (a convolution whose stride is its kernel, as one matmul over raster-order
// patches; CLIP's without bias), CLIP's class token before the patches, learned position
// embeddings, CLIP's pre_layrnorm, N x [LayerNorm -> multi-head attention over the whole image
// -> residual, LayerNorm -> fc1 -> activation -> fc2 -> residual], then SigLIP's post_layernorm.
// Vision families (Gemma 3, LLaVA-style models) build it from their vision_config, take the
// last or any layer's hidden states and put their own projector on top.
#include <nlohmann/json.hpp>

#include <memory>
#include <span>
#include <string>
#include <vector>

#include "sdk/ops/elementwise.h"
#include "sdk/plugin_api/family.h"

namespace vkllm::nn {

// Hugging Face activation names (ACT2FN) the vision towers and projectors use; ModelError naming
// `key` ("vision_config.hidden_act") for others.
ops::Act activation(const std::string& name, const std::string& key);

// A patch-embedding convolution as a matmul weight: stored [out, C, P, P] (PyTorch) or, in MLX
// conversions, [out, P, P, C] (channels last), whose columns run over (y, x, channel).
struct PatchKernel {
  sdk::Tensor w;
  bool channels_last = false;
  int channels = 3;
};
PatchKernel load_patch_kernel(plugin::WeightSource& src, const std::string& name, int channels,
                              int patch);
// patches f32 [N, C x P x P], columns (channel, y, x) as the host cuts them, times the kernel
// (plus `bias`): f32 [N, out].
sdk::Tensor patch_embed(sdk::Graph& g, const sdk::Tensor& patches, const PatchKernel& k,
                        const sdk::Tensor* bias = nullptr);

// Device bytes one patch of VisionTransformer's encode holds in f32 temporaries at its widest
// point (see encoder_layer).
int64_t vit_activation_bytes_per_patch(int64_t patch_values, int64_t hidden, int64_t ffn);

struct VitConfig {
  int hidden_size = 768;
  int intermediate_size = 3072;
  int num_hidden_layers = 12;
  int num_attention_heads = 12;
  int num_channels = 3;
  int image_size = 224;
  int patch_size = 16;
  std::string hidden_act = "gelu_pytorch_tanh";
  double layer_norm_eps = 1e-6;
  bool post_layernorm = true;  // SigLIP's last_hidden_state is post-normed
  bool class_token = false;    // CLIP: a learned token before the patches
  bool pre_layernorm = false;  // CLIP: pre_layrnorm after the embeddings
  bool patch_bias = true;      // SigLIP's patch convolution has a bias, CLIP's none
  int64_t activation_bytes_per_patch() const {
    return vit_activation_bytes_per_patch(patch_values(), hidden_size, intermediate_size);
  }

  // The keys every ViT-style vision_config shares, over `defaults` (its config class's) for
  // absent keys, range-checked; ModelError naming `where` and the key.
  static VitConfig read(const nlohmann::json& vision_config, const VitConfig& defaults,
                        const std::string& where = "config.json: vision_config");
  // vision_config of a SiglipVisionConfig (its defaults for absent keys).
  static VitConfig siglip(const nlohmann::json& vision_config,
                          const std::string& where = "config.json: vision_config");
  // vision_config of a CLIPVisionConfig (its defaults for absent keys).
  static VitConfig clip(const nlohmann::json& vision_config,
                        const std::string& where = "config.json: vision_config");
  // By vision_config.model_type: clip_vision_model or siglip_vision_model; ModelError for
  // others.
  static VitConfig any(const nlohmann::json& vision_config,
                       const std::string& where = "config.json: vision_config");
  int grid() const { return image_size / patch_size; }  // patches per side
  int64_t tokens() const { return int64_t(grid()) * grid() + (class_token ? 1 : 0); }
  int head_dim() const { return hidden_size / num_attention_heads; }
  int patch_values() const { return num_channels * patch_size * patch_size; }
  ops::Act act() const;
};

struct VitLayer {
  sdk::Tensor layer_norm1_w, layer_norm1_b, layer_norm2_w, layer_norm2_b;
  sdk::Tensor qkv, qkv_b, out_proj, out_proj_b;
  sdk::Tensor fc1, fc1_b, fc2, fc2_b;
};

class VisionTransformer {
 public:
  // Weights under `prefix` ("vision_tower.vision_model."): embeddings.*, pre_layrnorm.*,
  // encoder.layers.N.*, post_layernorm.*; a pooling head (head.*) is not used and is skipped.
  // With `layers` >= 0 only that many encoder layers are loaded (the rest and post_layernorm
  // are skipped): enough for hidden_states(..., {k <= layers}).
  VisionTransformer(VitConfig c, plugin::WeightSource& src, const std::string& prefix,
                    int layers = -1);
  const VitConfig& config() const { return c_; }
  // Hidden states of one image, f32 [tokens, hidden_size], from patches f32 [grid^2,
  // channels * patch^2] in raster order (columns (channel, y, x) as the conv kernel), after
  // `layers` encoder layers (all when < 0) and, when all ran and the config has it,
  // post_layernorm.
  sdk::Tensor encode(sdk::Graph& g, const sdk::Tensor& patches, int layers = -1) const;
  // transformers' hidden_states[k] for each k of `layers` (0: the embeddings, k: after k
  // encoder layers; never post-normed) of `images` images of the same size at once (patches
  // [images x grid^2, ...], each image attending only to itself): f32 [images x tokens,
  // hidden_size] each, an image's class token first.
  std::vector<sdk::Tensor> hidden_states(sdk::Graph& g, const sdk::Tensor& patches,
                                         std::span<const int> layers, int64_t images = 1) const;

 private:
  VitConfig c_;
  PatchKernel patch_w_;
  sdk::Tensor patch_b_, class_, positions_, pre_w_, pre_b_;
  std::vector<VitLayer> layers_;
  sdk::Tensor post_w_, post_b_;
};

}  // namespace vkllm::nn
