#pragma once
// The image path of LLaVA-style models, from config.json alone (transformers' modeling_llava.py
// and modeling_llava_next.py): a CLIP or SigLIP tower (sdk/nn/vit.h), the hidden states of
// vision_feature_layer (one layer or several side by side), "default" dropping each image's
// first token (CLIP's class token) or "full" keeping all, and the MLP projector. LLaVA-NeXT
// (AnyRes) encodes a base image and the tiles of the best grid resolution in one batch, lays
// the tiles' features out as one map, removes the rows or columns that only saw padding and
// ends each row with the learned image_newline, after the base image's features.
#include <nlohmann/json.hpp>

#include <array>
#include <vector>

#include "sdk/nn/multimodal.h"
#include "sdk/nn/vit.h"
#include "sdk/plugin_api/family.h"

namespace vkllm::generic_vlm {

struct VisionConfig {
  nn::VitConfig tower;
  std::vector<int> layers;                    // transformers' hidden_states indexes (0: embeddings)
  bool keep_first = false;                    // vision_feature_select_strategy "full"
  bool anyres = false;                        // llava_next
  std::vector<std::array<int, 2>> pinpoints;  // image_grid_pinpoints (height, width)
  ops::Act projector_act = ops::Act::gelu;
  bool projector_bias = true;
  int32_t image_token = 32000;
  // Features of one (base) image: the tower's tokens less the dropped first one.
  int64_t tokens() const { return tower.tokens() - (keep_first ? 0 : 1); }
  // The normalised config.json; ModelError naming the key when it is inconsistent.
  static VisionConfig parse(const nlohmann::json& config);
  plugin::VisionSpec spec() const;
};

class Vision {
 public:
  // Weights under `prefix`: vision_tower.vision_model.*, multi_modal_projector.*, image_newline.
  Vision(VisionConfig c, plugin::WeightSource& src, const std::string& prefix, int text_hidden);
  const VisionConfig& config() const { return c_; }
  // Projected features of `images` same-size images (patches [images x grid^2, values]),
  // f32 [images x tokens(), text hidden], before any AnyRes packing.
  sdk::Tensor features(sdk::Graph& g, const sdk::Tensor& patches, int64_t images) const;
  // One image's features in its tokens' order.
  sdk::Tensor encode(sdk::Graph& g, const plugin::ImagePatches& image) const;

 private:
  VisionConfig c_;
  nn::VisionTransformer tower_;
  nn::MlpProjector projector_;
  sdk::Tensor newline_;
};

}  // namespace vkllm::generic_vlm
