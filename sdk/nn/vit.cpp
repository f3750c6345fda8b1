#include "sdk/nn/vit.h"

#include <fmt/format.h>

#include <cmath>

#include "sdk/base/error.h"
#include "sdk/base/json_get.h"
#include "sdk/ops/attention.h"
#include "sdk/ops/matmul.h"
#include "sdk/ops/norm.h"

namespace vkllm::nn {

using plugin::WeightUse;
using sdk::Graph;
using sdk::Tensor;

VitConfig VitConfig::read(const nlohmann::json& v, const VitConfig& defaults,
                          const std::string& where) {
  if (!v.is_object()) throw ModelError(where + " is not an object");
  VitConfig c = defaults;
  c.hidden_size = json::get_or(v, "hidden_size", c.hidden_size, where);
  c.intermediate_size = json::get_or(v, "intermediate_size", c.intermediate_size, where);
  c.num_hidden_layers = json::get_or(v, "num_hidden_layers", c.num_hidden_layers, where);
  c.num_attention_heads = json::get_or(v, "num_attention_heads", c.num_attention_heads, where);
  c.num_channels = json::get_or(v, "num_channels", c.num_channels, where);
  c.image_size = json::get_or(v, "image_size", c.image_size, where);
  c.patch_size = json::get_or(v, "patch_size", c.patch_size, where);
  c.hidden_act = json::get_or(v, "hidden_act", c.hidden_act, where);
  c.layer_norm_eps = json::get_or(v, "layer_norm_eps", c.layer_norm_eps, where);
  auto positive = [&](int x, int hi, const char* key) {
    if (x <= 0 || x > hi)
      throw ModelError(fmt::format("{}: \"{}\" = {} is out of range (1 to {})", where, key, x, hi));
  };
  positive(c.hidden_size, 1 << 16, "hidden_size");
  positive(c.intermediate_size, 1 << 18, "intermediate_size");
  positive(c.num_hidden_layers, 1 << 10, "num_hidden_layers");
  positive(c.num_attention_heads, 1 << 10, "num_attention_heads");
  positive(c.num_channels, 4, "num_channels");
  positive(c.image_size, 1 << 14, "image_size");
  positive(c.patch_size, 1 << 10, "patch_size");
  if (c.hidden_size % c.num_attention_heads || c.head_dim() % 4)
    throw ModelError(
        fmt::format("{}: hidden_size {} over {} heads must give a head size "
                    "divisible by 4",
                    where, c.hidden_size, c.num_attention_heads));
  if (!std::isfinite(c.layer_norm_eps) || c.layer_norm_eps < 0)
    throw ModelError(where + ": \"layer_norm_eps\" is invalid");
  c.act();  // validates hidden_act
  return c;
}

VitConfig VitConfig::siglip(const nlohmann::json& v, const std::string& where) {
  VitConfig c = read(v, VitConfig{}, where);
  if (c.image_size % c.patch_size)
    throw ModelError(fmt::format("{}: image_size {} is not a multiple of patch_size {}", where,
                                 c.image_size, c.patch_size));
  return c;
}

ops::Act activation(const std::string& name, const std::string& key) {
  if (name == "gelu_pytorch_tanh") return ops::Act::gelu_tanh;
  if (name == "gelu") return ops::Act::gelu;
  if (name == "quick_gelu") return ops::Act::quick_gelu;
  if (name == "silu") return ops::Act::silu;
  throw ModelError(fmt::format(
      "config.json: {} '{}' is not supported (gelu_pytorch_tanh, gelu, quick_gelu, silu)", key,
      name));
}

ops::Act VitConfig::act() const { return activation(hidden_act, "vision_config.hidden_act"); }

VisionTransformer::VisionTransformer(VitConfig c, plugin::WeightSource& src,
                                     const std::string& prefix)
    : c_(std::move(c)) {
  const std::string e = prefix + "embeddings.";
  patch_w_ = src.load(e + "patch_embedding.weight", WeightUse::matmul);
  patch_b_ = src.load(e + "patch_embedding.bias", WeightUse::vector);
  positions_ = src.load(e + "position_embedding.weight", WeightUse::vector);
  const int64_t n = int64_t(c_.grid()) * c_.grid();
  if (positions_.numel() != n * c_.hidden_size) {
    throw ModelError(
        fmt::format("{}position_embedding.weight has {} values; {} patches of {} "
                    "need {}",
                    e, positions_.numel(), n, c_.hidden_size, n * c_.hidden_size));
  }
  positions_ = positions_.reshape({n, c_.hidden_size});
  for (int i = 0; i < c_.num_hidden_layers; ++i) {
    const std::string p = fmt::format("{}encoder.layers.{}.", prefix, i), a = p + "self_attn.";
    VitLayer l;
    l.layer_norm1_w = src.load(p + "layer_norm1.weight", WeightUse::vector);
    l.layer_norm1_b = src.load(p + "layer_norm1.bias", WeightUse::vector);
    l.layer_norm2_w = src.load(p + "layer_norm2.weight", WeightUse::vector);
    l.layer_norm2_b = src.load(p + "layer_norm2.bias", WeightUse::vector);
    l.qkv = src.load_rows({a + "q_proj.weight", a + "k_proj.weight", a + "v_proj.weight"},
                          WeightUse::matmul);
    l.qkv_b =
        src.load_rows({a + "q_proj.bias", a + "k_proj.bias", a + "v_proj.bias"}, WeightUse::vector);
    l.out_proj = src.load(a + "out_proj.weight", WeightUse::matmul);
    l.out_proj_b = src.load(a + "out_proj.bias", WeightUse::vector);
    l.fc1 = src.load(p + "mlp.fc1.weight", WeightUse::matmul);
    l.fc1_b = src.load(p + "mlp.fc1.bias", WeightUse::vector);
    l.fc2 = src.load(p + "mlp.fc2.weight", WeightUse::matmul);
    l.fc2_b = src.load(p + "mlp.fc2.bias", WeightUse::vector);
    layers_.push_back(std::move(l));
  }
  if (c_.post_layernorm) {
    post_w_ = src.load(prefix + "post_layernorm.weight", WeightUse::vector);
    post_b_ = src.load(prefix + "post_layernorm.bias", WeightUse::vector);
  }
  for (const auto& name : src.names()) {  // the pooling head (vision_use_head)
    if (name.rfind(prefix + "head.", 0) == 0) src.skip(name);
  }
}

Tensor VisionTransformer::encode(Graph& g, const Tensor& patches, int layers) const {
  const int64_t N = int64_t(c_.grid()) * c_.grid(), D = c_.hidden_size;
  const int64_t H = c_.num_attention_heads, hd = c_.head_dim();
  if (patches.rank() != 2 || patches.dim(0) != N || patches.dim(1) != c_.patch_values()) {
    throw InputError(fmt::format("[vit] patches {} do not fit the tower ({} patches of {} values)",
                                 patches.str(), N, c_.patch_values()));
  }
  if (layers < 0 || layers > c_.num_hidden_layers) layers = c_.num_hidden_layers;
  const float eps = float(c_.layer_norm_eps);
  Tensor x = ops::add(g, ops::matmul(g, patches, patch_w_, {.bias = &patch_b_}), positions_);
  std::vector<int32_t> seq(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) seq[size_t(i)] = int32_t(i);
  Tensor qpos = g.alloc(Dtype::i32, {N});
  g.upload(qpos, seq.data(), seq.size() * 4);
  for (int i = 0; i < layers; ++i) {
    const VitLayer& l = layers_[size_t(i)];
    Tensor y = ops::layer_norm(g, x, l.layer_norm1_w, l.layer_norm1_b, {.eps = eps});
    Tensor heads = ops::matmul(g, y, l.qkv, {.bias = &l.qkv_b}).unflatten(1, 3 * H, hd);
    Tensor a = ops::attention_dense(g, heads.slice(1, 0, H), heads.slice(1, H, H),
                                    heads.slice(1, 2 * H, H), qpos,
                                    {.scale = float(1.0 / std::sqrt(double(hd))), .causal = false});
    x = ops::matmul(g, a.reshape({N, D}), l.out_proj, {.bias = &l.out_proj_b, .residual = &x});
    y = ops::layer_norm(g, x, l.layer_norm2_w, l.layer_norm2_b, {.eps = eps});
    Tensor h = ops::act(g, c_.act(), ops::matmul(g, y, l.fc1, {.bias = &l.fc1_b}));
    x = ops::matmul(g, h, l.fc2, {.bias = &l.fc2_b, .residual = &x});
  }
  if (layers == c_.num_hidden_layers && c_.post_layernorm)
    x = ops::layer_norm(g, x, post_w_, post_b_, {.eps = eps});
  return x;
}

}  // namespace vkllm::nn
