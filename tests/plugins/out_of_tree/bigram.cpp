// A toy family: next-token logits = out_proj(embed(token)), no attention. It shows the whole
// plugin contract in a few lines: descriptor, describe(), load() and forward() over SDK ops.
#include <nlohmann/json.hpp>

#include "sdk/ops/gather.h"
#include "sdk/ops/matmul.h"
#include "sdk/plugin_api/descriptor.h"
#include "sdk/plugin_api/family.h"

namespace {

using namespace vkllm;

class BigramModel : public plugin::Model {
 public:
  BigramModel(plugin::ModelInfo info, sdk::Tensor embed, sdk::Tensor out)
      : info_(std::move(info)), embed_(std::move(embed)), out_(std::move(out)) {}
  const plugin::ModelInfo& info() const override { return info_; }
  sdk::Tensor forward(sdk::Graph& g, const plugin::Batch& b) override {
    sdk::Tensor x = ops::embedding(g, b.tokens, embed_);
    x = b.logits_rows.defined() ? ops::embedding(g, b.logits_rows, x)
                                : x.slice(0, b.logits_begin, x.dim(0) - b.logits_begin);
    return ops::matmul(g, x, out_);
  }

 private:
  plugin::ModelInfo info_;
  sdk::Tensor embed_, out_;
};

class BigramFamily : public plugin::Family {
 public:
  plugin::ModelInfo describe(const nlohmann::json& c) const override {
    plugin::ModelInfo i;
    i.family = "toy_bigram";
    i.vocab_size = c.at("vocab_size").get<int64_t>();
    i.hidden_size = c.at("hidden_size").get<int>();
    i.max_context = 64;
    i.parameters = 2 * i.vocab_size * i.hidden_size;
    return i;
  }
  std::unique_ptr<plugin::Model> load(const nlohmann::json& c, plugin::WeightSource& w,
                                      std::shared_ptr<sdk::Device>) override {
    return std::make_unique<BigramModel>(describe(c),
                                         w.load("embed.weight", plugin::WeightUse::embedding),
                                         w.load("out.weight", plugin::WeightUse::matmul));
  }
};

}  // namespace

VKLLM_DEFINE_PLUGIN(BigramFamily, "toy_bigram", VKLLM_CAP_TEXT, "toy_bigram")
