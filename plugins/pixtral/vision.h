#pragma once
// Pixtral's image path (transformers' modeling_pixtral.py, llava and mistral3): the Pixtral
// encoder at each image's native resolution (patch convolution without bias, RMSNorm ln_pre,
// pre-norm blocks of RMSNorm -> attention with 2-D rotary positions from each patch's row and
// column -> RMSNorm -> gated MLP, block-diagonal attention over several images), the hidden
// states of vision_feature_layer, then the projector: LLaVA's linear-act-linear (Pixtral-12B),
// or Mistral 3's RMSNorm + 2x2 patch merger before it. Each image's tokens come in rows of
// [IMG], [IMG_BREAK] after every row but the last and [IMG_END] after it; the features returned
// cover the separators (their token embeddings).
#include <nlohmann/json.hpp>

#include <span>
#include <string>
#include <vector>

#include "sdk/nn/multimodal.h"
#include "sdk/nn/vision_attention.h"
#include "sdk/nn/vit.h"
#include "sdk/ops/elementwise.h"
#include "sdk/plugin_api/family.h"

namespace vkllm::pixtral {

struct VisionConfig {
  nn::VitConfig tower;  // PixtralVisionConfig's keys and defaults (no LayerNorm eps: RMSNorm 1e-5)
  double rope_theta = 10000.0;
  bool mistral3 = false;    // Mistral 3's norm + patch merger before the projector
  int merge = 1;            // spatial_merge_size (mistral3)
  std::vector<int> layers;  // hidden states taken (vision_feature_layer), as layer counts
  ops::Act projector_act = ops::Act::gelu;
  bool projector_bias = true;
  double norm_eps = 1e-5;  // the text model's rms_norm_eps (Mistral 3's projector norm)
  int32_t image_token = 10, row_break = 12, image_end = 13;
  // The normalised config.json (vision_config, the multimodal keys, text width); ModelError
  // naming the key when it is inconsistent.
  static VisionConfig parse(const nlohmann::json& config);
  plugin::VisionSpec spec() const;
  // What one patch of an encode holds at the tower's widest point (the gated MLP runs in row
  // blocks, so the attention is).
  int64_t activation_bytes_per_patch() const {
    return nn::rope2d_tower_bytes_per_patch(tower.patch_values(), tower.hidden_size,
                                            3 * int64_t(tower.intermediate_size));
  }
};

// One image's patches and where they sit: the host's rows (merge-window order, raster when
// merge is 1) and the image's patch grid.
struct TowerInput {
  std::span<const float> pixels;
  int grid_h = 0, grid_w = 0;
};

class Vision {
 public:
  // Weights under `prefix`: vision_tower.*, multi_modal_projector.*.
  Vision(VisionConfig c, plugin::WeightSource& src, const std::string& prefix, int text_hidden);
  const VisionConfig& config() const { return c_; }
  // The tower over several images at once (each attends only to itself): f32 [patches, width x
  // feature layers], hidden states of the configured layers concatenated, rows in input order.
  sdk::Tensor tower(sdk::Graph& g, std::span<const TowerInput> images) const;
  // Projected features of one image, f32 [tokens, text hidden] (no separators).
  sdk::Tensor project(sdk::Graph& g, const sdk::Tensor& hidden, int grid_h, int grid_w) const;
  // The image's run: projected features in rows with the separators' embeddings (`embed`, the
  // text model's embedding table) between them, f32 [rows x (columns + 1), text hidden].
  sdk::Tensor encode(sdk::Graph& g, const plugin::ImagePatches& image,
                     const sdk::Tensor& embed) const;
  // Rows per block of the tower's MLP (0: as many as one storage binding holds; tests set it).
  void set_mlp_block_rows(int64_t rows) { mlp_block_rows_ = rows; }

 private:
  struct Layer {
    sdk::Tensor attention_norm, qkv, o_proj, ffn_norm, gate_up, down;
  };
  TowerInput check(const plugin::ImagePatches& image) const;
  VisionConfig c_;
  int64_t mlp_block_rows_ = 0;
  std::vector<float> inv_freq_;  // per rotary pair: rows' frequencies, then columns'
  nn::PatchKernel patch_conv_;
  sdk::Tensor ln_pre_;
  std::vector<Layer> layers_;
  sdk::Tensor norm_, merging_;
  nn::MlpProjector projector_;
};

}  // namespace vkllm::pixtral
