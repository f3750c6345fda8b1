#pragma once
#include <memory>
#include <vector>

#include "config.h"
#include "sdk/nn/rope_scaling.h"
#include "sdk/plugin_api/family.h"

namespace vkllm::llama {

struct Layer {
  sdk::Tensor input_layernorm, post_attention_layernorm;
  sdk::Tensor qkv_proj, qkv_bias, o_proj, o_bias;
  sdk::Tensor gate_up_proj, gate_up_bias, down_proj, down_bias;
};

struct Weights {
  sdk::Tensor embed_tokens, norm, lm_head;
  std::vector<Layer> layers;
};

// Maps checkpoint names to Weights (fusing Q/K/V and gate/up).
Weights load_weights(const Config& c, plugin::WeightSource& src, sdk::Device& device);
// Writes c's weights as a llama.cpp GGUF (architecture llama or qwen2).
void export_gguf(const Config& c, plugin::WeightSource& src, sdk::GgufWriter& out, Dtype type);

class LlamaModel : public plugin::Model {
 public:
  LlamaModel(Config config, Weights weights, std::shared_ptr<sdk::Device> device);
  const plugin::ModelInfo& info() const override { return info_; }
  sdk::Tensor forward(sdk::Graph& g, const plugin::Batch& b) override;

 private:
  sdk::Tensor attention(sdk::Graph& g, const Layer& l, int i, const sdk::Tensor& x,
                        const sdk::Tensor& residual, const plugin::Batch& b);
  sdk::Tensor mlp(sdk::Graph& g, const Layer& l, const sdk::Tensor& x, const sdk::Tensor& residual);
  void set_rope(const nn::RopeTable& t);

  Config config_;
  Weights w_;
  std::shared_ptr<sdk::Device> device_;
  plugin::ModelInfo info_;
  sdk::Tensor inv_freq_;
  float mscale_ = 1.0f;
  bool rope_dynamic_ = false;
};

}  // namespace vkllm::llama
