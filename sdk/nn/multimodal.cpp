#include "sdk/nn/multimodal.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "sdk/base/error.h"
#include "sdk/base/json_get.h"
#include "sdk/ops/matmul.h"

namespace vkllm::nn {

using plugin::WeightUse;

MlpProjector::MlpProjector(plugin::WeightSource& src, const std::string& prefix, int64_t in,
                           int64_t out, ops::Act act, bool bias)
    : act_(act) {
  auto info = src.info(prefix + "linear_1.weight");
  if (info.shape != std::vector<int64_t>{out, in}) {
    throw ModelError(
        fmt::format("{}linear_1.weight has shape [{}], expected [{}, {}] (text "
                    "width, vision width x feature layers)",
                    prefix, fmt::join(info.shape, ", "), out, in));
  }
  linear_1_ = src.load(prefix + "linear_1.weight", WeightUse::matmul);
  linear_2_ = src.load(prefix + "linear_2.weight", WeightUse::matmul);
  if (bias) {
    linear_1_b_ = src.load(prefix + "linear_1.bias", WeightUse::vector);
    linear_2_b_ = src.load(prefix + "linear_2.bias", WeightUse::vector);
  }
}

sdk::Tensor MlpProjector::forward(sdk::Graph& g, const sdk::Tensor& x) const {
  const sdk::Tensor* b1 = linear_1_b_.defined() ? &linear_1_b_ : nullptr;
  const sdk::Tensor* b2 = linear_2_b_.defined() ? &linear_2_b_ : nullptr;
  sdk::Tensor h = ops::act(g, act_, ops::matmul(g, x, linear_1_, {.bias = b1}));
  return ops::matmul(g, h, linear_2_, {.bias = b2});
}

std::vector<int> feature_layers(const nlohmann::json& value, int num_layers, bool several,
                                const std::string& key) {
  std::vector<int> wanted;
  if (value.is_array() && several) {
    for (const auto& x : value)
      wanted.push_back(json::as<int>(x, "config.json: vision_feature_layer"));
  } else {
    wanted.push_back(json::as<int>(value, key));
  }
  if (wanted.empty()) throw ModelError("config.json: vision_feature_layer is an empty list");
  std::vector<int> counts;
  for (int k : wanted) {
    const int n = k >= 0 ? k : num_layers + 1 + k;
    if (n < 0 || n > num_layers)
      throw ModelError(fmt::format(
          "config.json: vision_feature_layer {} is outside the tower's {} layers", k, num_layers));
    counts.push_back(n);
  }
  return counts;
}

MultimodalLayout multimodal_layout(const plugin::WeightSource& w) {
  if (w.has("model.language_model.embed_tokens.weight"))
    return {"model.language_model.", "lm_head.weight", "model."};
  return {"language_model.model.", "language_model.lm_head.weight", ""};
}

Decoder load_multimodal_text(const nlohmann::json& config, plugin::WeightSource& w,
                             const MultimodalLayout& at, std::shared_ptr<sdk::Device> device) {
  DecoderConfig c = DecoderConfig::parse(config);
  if (!w.has(at.text + "embed_tokens.weight"))
    throw ModelError(
        fmt::format("the checkpoint has no {}embed_tokens.weight (a LLaVA-style checkpoint names "
                    "its text model language_model)",
                    at.text));
  auto weights = load_decoder_weights(c, w, at.text, at.lm_head);
  return Decoder(std::move(c), std::move(weights), std::move(device));
}

}  // namespace vkllm::nn
