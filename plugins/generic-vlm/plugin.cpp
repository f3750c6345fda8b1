// The generic-vlm family plugin: LLaVA-style vision-language models built from config.json
// alone — a CLIP or SigLIP tower and an MLP projector (vision.h) in front of any text model the
// SDK decoder builds (text_config.model_type: llama, mistral, qwen2, gemma3_text; the registry
// fills that type's defaults). llava with those towers, llava_next (AnyRes), and unknown model
// types whose vision_config and text_config the registry recognises (its fallback).
#include "sdk/nn/decoder_model.h"
#include "sdk/nn/multimodal.h"
#include "sdk/plugin_api/descriptor.h"
#include "vision.h"

namespace vkllm::generic_vlm {
namespace {

class GenericVlmFamily : public plugin::Family {
 public:
  plugin::ModelInfo describe(const nlohmann::json& config) const override {
    nn::DecoderConfig c = nn::DecoderConfig::parse(config);
    plugin::ModelInfo info = nn::decoder_model_info(c, "generic-vlm", config);
    const VisionConfig vc = VisionConfig::parse(config);  // validated here for inspect
    info.vision_activation_bytes_per_patch = vc.tower.activation_bytes_per_patch();
    info.vision = vc.spec();
    return info;
  }

  std::unique_ptr<plugin::Model> load(const nlohmann::json& config, plugin::WeightSource& weights,
                                      std::shared_ptr<sdk::Device> device) override {
    VisionConfig vc = VisionConfig::parse(config);
    const nn::MultimodalLayout at = nn::multimodal_layout(weights);
    nn::Decoder text = nn::load_multimodal_text(config, weights, at, std::move(device));
    plugin::ModelInfo info = nn::decoder_model_info(text.config(), "generic-vlm", config);
    info.vision_activation_bytes_per_patch = vc.tower.activation_bytes_per_patch();
    info.vision = vc.spec();
    auto vision =
        std::make_shared<Vision>(std::move(vc), weights, at.vision, text.config().hidden_size);
    return std::make_unique<nn::DecoderModel>(
        std::move(info), std::move(text), vision->config().spec(),
        [vision](sdk::Graph& g, const plugin::ImagePatches& image, const nn::Decoder&) {
          return vision->encode(g, image);
        });
  }
};

}  // namespace
}  // namespace vkllm::generic_vlm

VKLLM_DEFINE_PLUGIN(vkllm::generic_vlm::GenericVlmFamily, "generic-vlm",
                    VKLLM_CAP_TEXT | VKLLM_CAP_VISION | VKLLM_CAP_MULTI_IMAGE |
                        VKLLM_CAP_SLIDING_WINDOW | VKLLM_CAP_KV_QUANT | VKLLM_CAP_PREFIX_CACHE |
                        VKLLM_CAP_SPECULATIVE,
                    "llava_next")
