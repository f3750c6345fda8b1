// The llama family plugin: Llama 2/3, Mistral and Qwen2 text models, the SDK's decoder
// (sdk/nn/decoder.h) over token embeddings.
#include "model.h"
#include "sdk/base/error.h"
#include "sdk/nn/decoder_model.h"
#include "sdk/plugin_api/descriptor.h"

namespace vkllm::llama {
namespace {

plugin::ModelInfo describe_config(const Config& c, const nlohmann::json& config) {
  return nn::decoder_model_info(c, "llama", config);
}

class LlamaFamily : public plugin::Family {
 public:
  plugin::ModelInfo describe(const nlohmann::json& config) const override {
    return describe_config(Config::parse(config), config);
  }

  void export_gguf(const nlohmann::json& config, plugin::WeightSource& weights,
                   sdk::GgufWriter& out, Dtype type) const override {
    llama::export_gguf(Config::parse(config), weights, out, type);
  }

  plugin::GgufImport import_gguf(const sdk::GgufFile& file) const override {
    return llama::import_gguf(file);
  }

  std::unique_ptr<plugin::Model> load(const nlohmann::json& config, plugin::WeightSource& weights,
                                      std::shared_ptr<sdk::Device> device) override {
    Config c = Config::parse(config);
    if (!c.mrope_section.empty())
      throw ModelError("config.json: M-RoPE (rope_scaling.mrope_section) needs a vision family");
    auto w = nn::load_decoder_weights(c, weights);
    auto info = describe_config(c, config);
    return std::make_unique<nn::DecoderModel>(
        std::move(info), nn::Decoder(std::move(c), std::move(w), std::move(device)));
  }
};

}  // namespace
}  // namespace vkllm::llama

VKLLM_DEFINE_PLUGIN(vkllm::llama::LlamaFamily, "llama",
                    VKLLM_CAP_TEXT | VKLLM_CAP_KV_QUANT | VKLLM_CAP_PREFIX_CACHE |
                        VKLLM_CAP_SPECULATIVE | VKLLM_CAP_SLIDING_WINDOW,
                    "llama", "mistral", "qwen2")
