// The gemma3 family plugin: Gemma 3 text models (gemma3_text) and the vision-language models
// (gemma3): the SDK's decoder configured as Gemma 3 by the registry's data (four (1 + w) norms
// per layer, q/k norms, scaled embeddings, local/global layers with two rotary bases), and the
// SigLIP tower with Gemma's projector (vision.h). A gemma3 checkpoint without a vision tower
// (text-only extractions) loads as a text model and refuses images.
#include <fmt/format.h>

#include "gguf.h"
#include "sdk/base/error.h"
#include "sdk/nn/decoder_model.h"
#include "sdk/plugin_api/descriptor.h"
#include "vision.h"

namespace vkllm::gemma3 {
namespace {

// Checkpoint layouts: gemma3_text "model.*"; gemma3 "language_model.model.*" (Hub) or
// "model.language_model.*" (transformers >= 4.52), the tower and projector beside them, and
// lm_head only where a converter wrote one (mlx-vlm).
struct Layout {
  std::string text, lm_head, vision;
  bool has_vision = false;
};

Layout layout_of(const plugin::WeightSource& w) {
  if (w.has("model.language_model.embed_tokens.weight"))
    return {"model.language_model.", "lm_head.weight", "model.",
            w.has("model.vision_tower.vision_model.embeddings.patch_embedding.weight")};
  if (w.has("language_model.model.embed_tokens.weight"))
    return {"language_model.model.", "language_model.lm_head.weight", "",
            w.has("vision_tower.vision_model.embeddings.patch_embedding.weight")};
  return {"model.", "lm_head.weight", "", false};
}

class Gemma3Family : public plugin::Family {
 public:
  plugin::ModelInfo describe(const nlohmann::json& config) const override {
    nn::DecoderConfig c = nn::DecoderConfig::parse(config);
    plugin::ModelInfo info = nn::decoder_model_info(c, "gemma3", config);
    if (config.contains("vision_config") && config["vision_config"].is_object()) {
      const VisionConfig vc = VisionConfig::parse(config);  // validated here for inspect
      info.vision_activation_bytes_per_patch = vc.tower.activation_bytes_per_patch();
      info.vision = vc.spec();
      info.vision = vc.spec();
    }
    return info;
  }

  void export_gguf(const nlohmann::json& config, plugin::WeightSource& weights,
                   sdk::GgufWriter& out, Dtype type) const override {
    gemma3::export_gguf(nn::DecoderConfig::parse(config), weights, layout_of(weights).text, out,
                        type);
  }

  plugin::GgufImport import_gguf(const sdk::GgufFile& file) const override {
    return gemma3::import_gguf(file);
  }

  std::unique_ptr<plugin::Model> load(const nlohmann::json& config, plugin::WeightSource& weights,
                                      std::shared_ptr<sdk::Device> device) override {
    nn::DecoderConfig c = nn::DecoderConfig::parse(config);
    plugin::ModelInfo info = nn::decoder_model_info(c, "gemma3", config);
    Layout at = layout_of(weights);
    auto w = nn::load_decoder_weights(c, weights, at.text, at.lm_head);
    nn::Decoder decoder(std::move(c), std::move(w), std::move(device));
    if (!at.has_vision || !config.contains("vision_config") || !config["vision_config"].is_object())
      return std::make_unique<nn::DecoderModel>(std::move(info), std::move(decoder));
    VisionConfig vc = VisionConfig::parse(config);
    info.vision_activation_bytes_per_patch = vc.tower.activation_bytes_per_patch();
    auto vision =
        std::make_shared<Vision>(std::move(vc), weights, at.vision, decoder.config().hidden_size);
    return std::make_unique<nn::DecoderModel>(
        std::move(info), std::move(decoder), vision->config().spec(),
        [vision](sdk::Graph& g, const plugin::ImagePatches& image, const nn::Decoder&) {
          return vision->encode(g, image);
        });
  }
};

}  // namespace
}  // namespace vkllm::gemma3

VKLLM_DEFINE_PLUGIN(vkllm::gemma3::Gemma3Family, "gemma3",
                    VKLLM_CAP_TEXT | VKLLM_CAP_VISION | VKLLM_CAP_MULTI_IMAGE |
                        VKLLM_CAP_SLIDING_WINDOW | VKLLM_CAP_KV_QUANT | VKLLM_CAP_PREFIX_CACHE |
                        VKLLM_CAP_SPECULATIVE,
                    "gemma3", "gemma3_text")
