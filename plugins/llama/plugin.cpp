// The llama family plugin: Llama 2/3, Mistral and Qwen2 text models.
#include "model.h"
#include "sdk/plugin_api/descriptor.h"

namespace vkllm::llama {
namespace {

class LlamaFamily : public plugin::Family {
 public:
  plugin::ModelInfo describe(const nlohmann::json& config) const override {
    Config c = Config::parse(config);
    plugin::ModelInfo info;
    info.family = "llama";
    info.vocab_size = c.vocab_size;
    info.hidden_size = c.hidden_size;
    info.num_layers = c.num_hidden_layers;
    info.max_context = c.max_position_embeddings;
    for (int i = 0; i < c.num_hidden_layers; ++i) {
      info.kv.push_back({c.num_key_value_heads, c.head_dim, c.sliding_window[size_t(i)]});
    }
    info.parameters = c.parameters();
    info.dtype = config.value("torch_dtype", "");
    return info;
  }

  void export_gguf(const nlohmann::json& config, plugin::WeightSource& weights,
                   sdk::GgufWriter& out, Dtype type) const override {
    llama::export_gguf(Config::parse(config), weights, out, type);
  }

  std::unique_ptr<plugin::Model> load(const nlohmann::json& config, plugin::WeightSource& weights,
                                      std::shared_ptr<sdk::Device> device) override {
    Config c = Config::parse(config);
    Weights w = load_weights(c, weights, *device);
    return std::make_unique<LlamaModel>(std::move(c), std::move(w), std::move(device));
  }
};

}  // namespace
}  // namespace vkllm::llama

VKLLM_DEFINE_PLUGIN(vkllm::llama::LlamaFamily, "llama",
                    VKLLM_CAP_TEXT | VKLLM_CAP_KV_QUANT | VKLLM_CAP_PREFIX_CACHE |
                        VKLLM_CAP_SPECULATIVE | VKLLM_CAP_SLIDING_WINDOW,
                    "llama", "mistral", "qwen2")
