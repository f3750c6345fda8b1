// The qwen-vl family plugin: Qwen2-VL and Qwen2.5-VL, after transformers' modeling_qwen2_vl.py
// and modeling_qwen2_5_vl.py. The vision tower (vision.h) encodes each image; its features
// replace the embeddings of the image's <|image_pad|> tokens; the text model is the SDK's
// decoder with M-RoPE positions (temporal, height, width sections of the rotary pairs).
#include <fmt/format.h>

#include "sdk/base/error.h"
#include "sdk/base/json_get.h"
#include "sdk/nn/decoder_model.h"
#include "sdk/nn/vision_attention.h"
#include "sdk/plugin_api/descriptor.h"
#include "vision.h"

namespace vkllm::qwen_vl {
namespace {

int32_t token_id(const nlohmann::json& c, const char* key) { return json::get<int32_t>(c, key); }

plugin::ModelInfo describe_config(const nn::DecoderConfig& c, const VisionConfig& vc,
                                  const nlohmann::json& config) {
  if (c.mrope_section.empty())
    throw ModelError("config.json: rope_scaling.mrope_section is missing (M-RoPE sections)");
  plugin::ModelInfo info = nn::decoder_model_info(c, "qwen-vl", config);
  info.vision_activation_bytes_per_patch =
      nn::rope2d_tower_bytes_per_patch(int64_t(vc.in_channels) * vc.temporal * vc.patch * vc.patch,
                                       vc.dim, (vc.qwen2_5 ? 3 : 2) * int64_t(vc.mlp_hidden));
  info.vision = plugin::VisionSpec{.patch_size = vc.patch,
                                   .temporal_patch_size = vc.temporal,
                                   .merge_size = vc.merge,
                                   .image_token = token_id(config, "image_token_id"),
                                   .vision_start = token_id(config, "vision_start_token_id"),
                                   .vision_end = token_id(config, "vision_end_token_id"),
                                   .mrope = true};
  return info;
}

class QwenVlFamily : public plugin::Family {
 public:
  plugin::ModelInfo describe(const nlohmann::json& config) const override {
    return describe_config(nn::DecoderConfig::parse(config), VisionConfig::parse(config), config);
  }

  std::unique_ptr<plugin::Model> load(const nlohmann::json& config, plugin::WeightSource& weights,
                                      std::shared_ptr<sdk::Device> device) override {
    nn::DecoderConfig c = nn::DecoderConfig::parse(config);
    VisionConfig vc = VisionConfig::parse(config);
    plugin::ModelInfo info = describe_config(c, vc, config);
    if (vc.out_dim != c.hidden_size) {
      throw ModelError(
          fmt::format("config.json: the vision merger's width {} differs from the "
                      "text model's hidden_size {}",
                      vc.out_dim, c.hidden_size));
    }
    const plugin::VisionSpec spec = *info.vision;
    // Hub checkpoints name the parts model.* / visual.*; newer transformers saves
    // model.language_model.* / model.visual.*.
    bool nested = weights.has("model.language_model.embed_tokens.weight");
    auto w = nn::load_decoder_weights(c, weights, nested ? "model.language_model." : "model.");
    auto tower =
        std::make_shared<VisionTower>(vc, weights, nested ? "model.visual." : "visual.", *device);
    return std::make_unique<nn::DecoderModel>(
        std::move(info), nn::Decoder(std::move(c), std::move(w), std::move(device)), spec,
        [tower](sdk::Graph& g, const plugin::ImagePatches& image, const nn::Decoder&) {
          return tower->encode(g, image);
        });
  }
};

}  // namespace
}  // namespace vkllm::qwen_vl

VKLLM_DEFINE_PLUGIN(vkllm::qwen_vl::QwenVlFamily, "qwen-vl",
                    VKLLM_CAP_TEXT | VKLLM_CAP_VISION | VKLLM_CAP_MULTI_IMAGE | VKLLM_CAP_MROPE |
                        VKLLM_CAP_KV_QUANT | VKLLM_CAP_PREFIX_CACHE | VKLLM_CAP_SPECULATIVE,
                    "qwen2_vl", "qwen2_5_vl")
