#pragma once
// Gemma 3's image path: the SigLIP tower (sdk/nn/vit.h) at its fixed resolution, then the
// multimodal projector: average pooling of the patch grid to mm_tokens_per_image tokens, a
// (1 + w) RMSNorm (mm_soft_emb_norm) and mm_input_projection_weight into the text width.
#include <nlohmann/json.hpp>

#include <string>

#include "sdk/nn/vit.h"
#include "sdk/plugin_api/family.h"

namespace vkllm::gemma3 {

struct VisionConfig {
  nn::VitConfig tower;
  int mm_tokens_per_image = 256;
  int32_t boi = -1, eoi = -1, image_token = -1;
  int pool = 1;  // patches per side averaged into one token
  // The normalised config.json; ModelError naming the key when it is inconsistent.
  static VisionConfig parse(const nlohmann::json& config);
  // What the host needs: a fixed-size SigLIP image, bilinear (Gemma3ImageProcessor), raster
  // patches pooled `pool` per side into tokens attending to each other, the chat template's
  // <start_of_image> expanded with "\n\n" around the run.
  plugin::VisionSpec spec() const;
};

class Vision {
 public:
  Vision(VisionConfig c, plugin::WeightSource& src, const std::string& prefix, int text_hidden);
  const VisionConfig& config() const { return c_; }
  // One image's tokens, f32 [mm_tokens_per_image, text hidden], from its raster patches.
  sdk::Tensor encode(sdk::Graph& g, const plugin::ImagePatches& image) const;
  // The tower's output (post-layernorm), f32 [patches, vision hidden] (parity tests).
  sdk::Tensor tower(sdk::Graph& g, const plugin::ImagePatches& image) const;

 private:
  VisionConfig c_;
  nn::VisionTransformer tower_;
  sdk::Tensor soft_norm_, projection_;
};

}  // namespace vkllm::gemma3
