#pragma once
// The plugin::Model of a family whose text model is the SDK decoder: forward() embeds the batch
// (image features over their rows) and runs the layers. Vision families add their image path:
// the VisionSpec the host follows and the function that records one image's encoding (given
// the decoder, for families whose image runs include text tokens' embeddings).
#include <functional>
#include <optional>

#include "sdk/nn/decoder.h"
#include "sdk/plugin_api/family.h"

namespace vkllm::nn {

using EncodeImage =
    std::function<sdk::Tensor(sdk::Graph&, const plugin::ImagePatches&, const Decoder&)>;

class DecoderModel : public plugin::Model {
 public:
  DecoderModel(plugin::ModelInfo info, Decoder decoder,
               std::optional<plugin::VisionSpec> vision = std::nullopt, EncodeImage encode = {})
      : info_(std::move(info)),
        decoder_(std::move(decoder)),
        vision_(std::move(vision)),
        encode_(std::move(encode)) {}
  const plugin::ModelInfo& info() const override { return info_; }
  const plugin::VisionSpec* vision() const override { return vision_ ? &*vision_ : nullptr; }
  sdk::Tensor forward(sdk::Graph& g, const plugin::Batch& b) override {
    return decoder_.forward(g, decoder_.embed(g, b), b);
  }
  sdk::Tensor encode_image(sdk::Graph& g, const plugin::ImagePatches& image) override {
    if (!vision_ || !encode_) return plugin::Model::encode_image(g, image);
    return encode_(g, image, decoder_);
  }

 private:
  plugin::ModelInfo info_;
  Decoder decoder_;
  std::optional<plugin::VisionSpec> vision_;
  EncodeImage encode_;
};

}  // namespace vkllm::nn
