#include "sdk/nn/vit.h"

#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <cmath>

#include "sdk/base/error.h"
#include "sdk/base/json_get.h"
#include "sdk/ops/attention.h"
#include "sdk/ops/gather.h"
#include "sdk/ops/matmul.h"
#include "sdk/ops/norm.h"

namespace vkllm::nn {

int64_t vit_activation_bytes_per_patch(int64_t patch_values, int64_t hidden, int64_t ffn) {
  // encoder_layer at its widest: the layer's input, the fused QKV (3 h), the attention output,
  // the residual sum, the second norm and the MLP (fc1 and its activation, or the activation
  // and fc2's output); plus the patches' pixel values and one kept hidden state.
  return 4 * (patch_values + std::max(7 * hidden + 2 * ffn, 8 * hidden + ffn) + hidden);
}

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

namespace {

// A tower that takes one square size: whole patches across it.
VitConfig square(VitConfig c, const std::string& where) {
  if (c.image_size % c.patch_size)
    throw ModelError(fmt::format("{}: image_size {} is not a multiple of patch_size {}", where,
                                 c.image_size, c.patch_size));
  return c;
}

}  // namespace

VitConfig VitConfig::siglip(const nlohmann::json& v, const std::string& where) {
  return square(read(v, VitConfig{}, where), where);
}

VitConfig VitConfig::clip(const nlohmann::json& v, const std::string& where) {
  VitConfig d;  // CLIPVisionConfig's
  d.patch_size = 32;
  d.hidden_act = "quick_gelu";
  d.layer_norm_eps = 1e-5;
  d.class_token = d.pre_layernorm = true;
  d.patch_bias = false;
  return square(read(v, d, where), where);
}

VitConfig VitConfig::any(const nlohmann::json& v, const std::string& where) {
  const std::string type = json::get_or<std::string>(v, "model_type", "", where);
  if (type == "clip_vision_model") return clip(v, where);
  if (type == "siglip_vision_model") return siglip(v, where);
  throw ModelError(
      fmt::format("{}: model_type '{}' is not a vision tower the SDK builds (clip_vision_model, "
                  "siglip_vision_model)",
                  where, type));
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

PatchKernel load_patch_kernel(plugin::WeightSource& src, const std::string& name, int channels,
                              int patch) {
  const auto shape = src.info(name).shape;
  PatchKernel k;
  k.channels = channels;
  k.channels_last = shape.size() == 4 && channels != patch && shape[1] == patch &&
                    shape[2] == patch && shape[3] == channels;
  if (!k.channels_last &&
      (shape.size() != 4 || shape[1] != channels || shape[2] != patch || shape[3] != patch))
    throw ModelError(
        fmt::format("{} has shape [{}], expected [out, {}, {}, {}] (or MLX's [out, "
                    "{}, {}, {}])",
                    name, fmt::join(shape, ", "), channels, patch, patch, patch, patch, channels));
  k.w = src.load(name, WeightUse::matmul);
  return k;
}

Tensor patch_embed(Graph& g, const Tensor& patches, const PatchKernel& k, const Tensor* bias) {
  Tensor x = patches;
  if (k.channels_last) {  // columns (channel, y, x) -> (y, x, channel)
    const int64_t n = patches.dim(0), c = k.channels, pp = patches.dim(1) / c;
    x = ops::contiguous(g, patches.reshape({n, c, pp}).transpose(1, 2)).reshape({n, pp * c});
  }
  return ops::matmul(g, x, k.w, {.bias = bias});
}

ops::Act VitConfig::act() const { return activation(hidden_act, "vision_config.hidden_act"); }

VisionTransformer::VisionTransformer(VitConfig c, plugin::WeightSource& src,
                                     const std::string& prefix, int layers)
    : c_(std::move(c)) {
  const bool all = layers < 0 || layers >= c_.num_hidden_layers;
  if (all) layers = c_.num_hidden_layers;
  const std::string e = prefix + "embeddings.";
  patch_w_ = load_patch_kernel(src, e + "patch_embedding.weight", c_.num_channels, c_.patch_size);
  if (c_.patch_bias) patch_b_ = src.load(e + "patch_embedding.bias", WeightUse::vector);
  if (c_.class_token) class_ = src.load(e + "class_embedding", WeightUse::vector);
  positions_ = src.load(e + "position_embedding.weight", WeightUse::vector);
  const int64_t n = c_.tokens();
  if (positions_.numel() != n * c_.hidden_size) {
    throw ModelError(
        fmt::format("{}position_embedding.weight has {} values; {} positions of {} "
                    "need {}",
                    e, positions_.numel(), n, c_.hidden_size, n * c_.hidden_size));
  }
  positions_ = positions_.reshape({n, c_.hidden_size});
  if (c_.class_token) class_ = class_.reshape({1, c_.hidden_size});
  if (c_.pre_layernorm) {
    pre_w_ = src.load(prefix + "pre_layrnorm.weight", WeightUse::vector);
    pre_b_ = src.load(prefix + "pre_layrnorm.bias", WeightUse::vector);
  }
  if (src.has(e + "position_ids")) src.skip(e + "position_ids");  // older checkpoints' buffer
  for (int i = 0; i < c_.num_hidden_layers; ++i) {
    const std::string p = fmt::format("{}encoder.layers.{}.", prefix, i), a = p + "self_attn.";
    if (i >= layers) {  // past the last hidden state wanted: never used
      for (const auto& name : src.names())
        if (name.rfind(p, 0) == 0) src.skip(name);
      continue;
    }
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
  if (c_.post_layernorm && all) {
    post_w_ = src.load(prefix + "post_layernorm.weight", WeightUse::vector);
    post_b_ = src.load(prefix + "post_layernorm.bias", WeightUse::vector);
  }
  for (const auto& name : src.names()) {  // the pooling head (vision_use_head), unused norms
    if (name.rfind(prefix + "head.", 0) == 0) src.skip(name);
    if (!post_w_.defined() && name.rfind(prefix + "post_layernorm.", 0) == 0) src.skip(name);
  }
}

namespace {

// One pre-norm encoder layer over x [N, D]; attention within each span when `spans` is given.
Tensor encoder_layer(Graph& g, const VitConfig& c, const VitLayer& l, const Tensor& x,
                     const Tensor& qpos, const Tensor* spans) {
  const int64_t N = x.dim(0), D = c.hidden_size, H = c.num_attention_heads, hd = c.head_dim();
  const float eps = float(c.layer_norm_eps);
  Tensor y = ops::layer_norm(g, x, l.layer_norm1_w, l.layer_norm1_b, {.eps = eps});
  Tensor heads = ops::matmul(g, y, l.qkv, {.bias = &l.qkv_b}).unflatten(1, 3 * H, hd);
  Tensor a = ops::attention_dense(g, heads.slice(1, 0, H), heads.slice(1, H, H),
                                  heads.slice(1, 2 * H, H), qpos,
                                  {.scale = float(1.0 / std::sqrt(double(hd))),
                                   .causal = false,
                                   .spans = spans,
                                   .restrict_to_spans = spans != nullptr});
  Tensor h = ops::matmul(g, a.reshape({N, D}), l.out_proj, {.bias = &l.out_proj_b, .residual = &x});
  y = ops::layer_norm(g, h, l.layer_norm2_w, l.layer_norm2_b, {.eps = eps});
  Tensor m = ops::act(g, c.act(), ops::matmul(g, y, l.fc1, {.bias = &l.fc1_b}));
  return ops::matmul(g, m, l.fc2, {.bias = &l.fc2_b, .residual = &h});
}

}  // namespace

std::vector<Tensor> VisionTransformer::hidden_states(Graph& g, const Tensor& patches,
                                                     std::span<const int> wanted,
                                                     int64_t images) const {
  const int64_t P = int64_t(c_.grid()) * c_.grid(), S = c_.tokens(), D = c_.hidden_size;
  if (images <= 0 || patches.rank() != 2 || patches.dim(0) != images * P ||
      patches.dim(1) != c_.patch_values()) {
    throw InputError(
        fmt::format("[vit] patches {} do not fit the tower ({} image(s) of {} patches of {} "
                    "values)",
                    patches.str(), images, P, c_.patch_values()));
  }
  int deepest = 0;
  for (int k : wanted) {
    if (k < 0 || k > int(layers_.size()))
      throw InputError(fmt::format("[vit] hidden state {} of {} loaded layers", k, layers_.size()));
    deepest = std::max(deepest, k);
  }
  Tensor x = patch_embed(g, patches, patch_w_, patch_b_.defined() ? &patch_b_ : nullptr);
  if (c_.class_token) {  // [class, patches...] per image
    std::vector<Tensor> parts;
    for (int64_t i = 0; i < images; ++i) {
      parts.push_back(class_);
      parts.push_back(x.slice(0, i * P, P));
    }
    x = ops::concat(g, parts, 0);
  }
  x = ops::add(g, x.reshape({images, S, D}), positions_).reshape({images * S, D});
  if (c_.pre_layernorm)
    x = ops::layer_norm(g, x, pre_w_, pre_b_, {.eps = float(c_.layer_norm_eps)});
  std::vector<int32_t> seq(size_t(images * S)), spans;
  for (size_t i = 0; i < seq.size(); ++i) seq[i] = int32_t(i);
  for (int64_t i = 0; i < images; ++i)
    spans.insert(spans.end(), {int32_t(i * S), int32_t((i + 1) * S)});
  const Tensor qpos = g.upload_i32(seq, {images * S});
  const Tensor span_t = g.upload_i32(spans, {images, 2});
  // Only the wanted hidden states are kept (each is [patches, hidden]).
  std::vector<Tensor> out(wanted.size());
  auto keep = [&](int layer) {
    for (size_t j = 0; j < wanted.size(); ++j)
      if (wanted[j] == layer) out[j] = x;
  };
  keep(0);
  for (int i = 0; i < deepest; ++i) {
    x = encoder_layer(g, c_, layers_[size_t(i)], x, qpos, images > 1 ? &span_t : nullptr);
    keep(i + 1);
  }
  return out;
}

Tensor VisionTransformer::encode(Graph& g, const Tensor& patches, int layers) const {
  if (layers < 0 || layers > int(layers_.size())) layers = int(layers_.size());
  const int k[] = {layers};
  Tensor x = hidden_states(g, patches, k)[0];
  if (layers == c_.num_hidden_layers && post_w_.defined())
    x = ops::layer_norm(g, x, post_w_, post_b_, {.eps = float(c_.layer_norm_eps)});
  return x;
}

}  // namespace vkllm::nn
