#pragma once
// The pieces LLaVA-style models ("Visual Instruction Tuning", 2023) share: the multimodal
// projector (1.5's MLP: linear -> activation -> linear from the vision features, several
// layers' side by side, to the text model's width, with or without biases), where a checkpoint
// keeps its parts, and its text model as the SDK decoder.
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "sdk/nn/decoder.h"
#include "sdk/ops/elementwise.h"
#include "sdk/plugin_api/family.h"

namespace vkllm::nn {

class MlpProjector {
 public:
  MlpProjector() = default;
  // linear_1.* and linear_2.* under `prefix`; ModelError naming the tensor when linear_1 is not
  // [out, in].
  MlpProjector(plugin::WeightSource& src, const std::string& prefix, int64_t in, int64_t out,
               ops::Act act, bool bias);
  // f32 [n, in] -> f32 [n, out]
  sdk::Tensor forward(sdk::Graph& g, const sdk::Tensor& x) const;

 private:
  ops::Act act_ = ops::Act::gelu;
  sdk::Tensor linear_1_, linear_1_b_, linear_2_, linear_2_b_;
};

// vision_feature_layer as transformers' hidden_states indexes (0: the embeddings, k: after k of
// the tower's `num_layers` layers; k < 0 counts from the end of the num_layers + 1 states): one
// int, or with `several` a non-empty list (hidden states side by side). ModelError naming `key`.
std::vector<int> feature_layers(const nlohmann::json& value, int num_layers, bool several,
                                const std::string& key = "config.json: vision_feature_layer");

// Where a LLaVA-style checkpoint keeps its parts: the Hub's "language_model.model.*" +
// "language_model.lm_head.weight" with vision_tower.*, multi_modal_projector.* beside them, or
// transformers >= 4.52's "model.language_model.*", "model.vision_tower.*", ..., "lm_head.*".
struct MultimodalLayout {
  std::string text, lm_head, vision;  // prefixes (vision: of vision_tower.*, the projector, ...)
};
MultimodalLayout multimodal_layout(const plugin::WeightSource& w);

// The text model at `at` as the SDK decoder of the normalised config; ModelError when the
// checkpoint has no text model there.
Decoder load_multimodal_text(const nlohmann::json& config, plugin::WeightSource& w,
                             const MultimodalLayout& at, std::shared_ptr<sdk::Device> device);

}  // namespace vkllm::nn
