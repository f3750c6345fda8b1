// The pixtral family plugin: LLaVA checkpoints with a Pixtral vision tower (Pixtral-12B; the
// registry routes llava here on vision_config.model_type) and Mistral 3 (Mistral Small 3.x,
// mistral3): the SDK's decoder as the Mistral text model and Pixtral's image path (vision.h).
#include "sdk/nn/decoder_model.h"
#include "sdk/nn/multimodal.h"
#include "sdk/plugin_api/descriptor.h"
#include "vision.h"

namespace vkllm::pixtral {
namespace {

class PixtralFamily : public plugin::Family {
 public:
  plugin::ModelInfo describe(const nlohmann::json& config) const override {
    nn::DecoderConfig c = nn::DecoderConfig::parse(config);
    plugin::ModelInfo info = nn::decoder_model_info(c, "pixtral", config);
    const VisionConfig vc = VisionConfig::parse(config);  // validated here for inspect
    info.vision_activation_bytes_per_patch = vc.activation_bytes_per_patch();
    info.vision = vc.spec();
    return info;
  }

  std::unique_ptr<plugin::Model> load(const nlohmann::json& config, plugin::WeightSource& weights,
                                      std::shared_ptr<sdk::Device> device) override {
    VisionConfig vc = VisionConfig::parse(config);
    const nn::MultimodalLayout at = nn::multimodal_layout(weights);
    nn::Decoder text = nn::load_multimodal_text(config, weights, at, std::move(device));
    plugin::ModelInfo info = nn::decoder_model_info(text.config(), "pixtral", config);
    info.vision_activation_bytes_per_patch = vc.activation_bytes_per_patch();
    info.vision = vc.spec();
    auto vision =
        std::make_shared<Vision>(std::move(vc), weights, at.vision, text.config().hidden_size);
    return std::make_unique<nn::DecoderModel>(
        std::move(info), std::move(text), vision->config().spec(),
        [vision](sdk::Graph& g, const plugin::ImagePatches& image, const nn::Decoder& decoder) {
          return vision->encode(g, image, decoder.weights().embed_tokens);
        });
  }
};

}  // namespace
}  // namespace vkllm::pixtral

VKLLM_DEFINE_PLUGIN(vkllm::pixtral::PixtralFamily, "pixtral",
                    VKLLM_CAP_TEXT | VKLLM_CAP_VISION | VKLLM_CAP_MULTI_IMAGE |
                        VKLLM_CAP_SLIDING_WINDOW | VKLLM_CAP_KV_QUANT | VKLLM_CAP_PREFIX_CACHE |
                        VKLLM_CAP_SPECULATIVE,
                    "mistral3")
