// The pixtral family plugin: LLaVA checkpoints with a Pixtral vision tower (Pixtral-12B; the
// registry routes llava here on vision_config.model_type) and Mistral 3 (Mistral Small 3.x,
// mistral3): the SDK's decoder as the Mistral text model and Pixtral's image path (vision.h).
#include <fmt/format.h>

#include "sdk/base/error.h"
#include "sdk/nn/decoder.h"
#include "sdk/plugin_api/descriptor.h"
#include "vision.h"

namespace vkllm::pixtral {
namespace {

class PixtralModel : public plugin::Model {
 public:
  PixtralModel(plugin::ModelInfo info, nn::Decoder decoder, std::unique_ptr<Vision> vision)
      : info_(std::move(info)), decoder_(std::move(decoder)), vision_(std::move(vision)) {
    if (vision_) spec_ = vision_->config().spec();
  }
  const plugin::ModelInfo& info() const override { return info_; }
  const plugin::VisionSpec* vision() const override { return vision_ ? &spec_ : nullptr; }
  sdk::Tensor forward(sdk::Graph& g, const plugin::Batch& b) override {
    return decoder_.forward(g, decoder_.embed(g, b), b);
  }
  sdk::Tensor encode_image(sdk::Graph& g, const plugin::ImagePatches& image) override {
    if (!vision_) return plugin::Model::encode_image(g, image);
    return vision_->encode(g, image, decoder_.weights().embed_tokens);
  }

 private:
  plugin::ModelInfo info_;
  nn::Decoder decoder_;
  std::unique_ptr<Vision> vision_;
  plugin::VisionSpec spec_;
};

// Checkpoint layouts: the Hub's "language_model.model.*" + "language_model.lm_head.weight" with
// vision_tower.* and multi_modal_projector.* beside them, or transformers >= 4.52's
// "model.language_model.*", "model.vision_tower.*", "model.multi_modal_projector.*", "lm_head.*".
struct Layout {
  std::string text, lm_head, vision;
};

Layout layout_of(const plugin::WeightSource& w) {
  if (w.has("model.language_model.embed_tokens.weight"))
    return {"model.language_model.", "lm_head.weight", "model."};
  return {"language_model.model.", "language_model.lm_head.weight", ""};
}

class PixtralFamily : public plugin::Family {
 public:
  plugin::ModelInfo describe(const nlohmann::json& config) const override {
    nn::DecoderConfig c = nn::DecoderConfig::parse(config);
    VisionConfig::parse(config);  // validated here so that inspect reports it
    return nn::decoder_model_info(c, "pixtral", config);
  }

  std::unique_ptr<plugin::Model> load(const nlohmann::json& config, plugin::WeightSource& weights,
                                      std::shared_ptr<sdk::Device> device) override {
    nn::DecoderConfig c = nn::DecoderConfig::parse(config);
    VisionConfig vc = VisionConfig::parse(config);
    plugin::ModelInfo info = nn::decoder_model_info(c, "pixtral", config);
    Layout at = layout_of(weights);
    if (!weights.has(at.text + "embed_tokens.weight"))
      throw ModelError(fmt::format("the checkpoint has no {}embed_tokens.weight (a LLaVA / Mistral "
                                   "3 checkpoint names its text model language_model)",
                                   at.text));
    auto w = nn::load_decoder_weights(c, weights, at.text, at.lm_head);
    auto vision = std::make_unique<Vision>(std::move(vc), weights, at.vision, c.hidden_size);
    return std::make_unique<PixtralModel>(
        std::move(info), nn::Decoder(std::move(c), std::move(w), std::move(device)),
        std::move(vision));
  }
};

}  // namespace
}  // namespace vkllm::pixtral

VKLLM_DEFINE_PLUGIN(vkllm::pixtral::PixtralFamily, "pixtral",
                    VKLLM_CAP_TEXT | VKLLM_CAP_VISION | VKLLM_CAP_MULTI_IMAGE |
                        VKLLM_CAP_SLIDING_WINDOW | VKLLM_CAP_KV_QUANT | VKLLM_CAP_PREFIX_CACHE |
                        VKLLM_CAP_SPECULATIVE,
                    "mistral3")
