#include "vision.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "sdk/base/error.h"
#include "sdk/base/json_get.h"
#include "sdk/nn/vision_attention.h"
#include "sdk/ops/gather.h"
#include "sdk/ops/matmul.h"
#include "sdk/ops/norm.h"

namespace vkllm::pixtral {

using plugin::WeightUse;
using sdk::Graph;
using sdk::Tensor;

namespace {

void check_range(int v, int hi, const std::string& key) {
  if (v <= 0 || v > hi)
    throw ModelError(fmt::format("config.json: {} = {} is out of range (1 to {})", key, v, hi));
}

}  // namespace

VisionConfig VisionConfig::parse(const nlohmann::json& config) {
  if (!config.contains("vision_config") || !config["vision_config"].is_object())
    throw ModelError("config.json: \"vision_config\" is missing");
  const auto& v = config["vision_config"];
  const std::string vw = "config.json: vision_config";
  VisionConfig c;
  nn::VitConfig defaults;  // PixtralVisionConfig's
  defaults.hidden_size = 1024;
  defaults.intermediate_size = 4096;
  defaults.num_hidden_layers = 24;
  defaults.num_attention_heads = 16;
  defaults.image_size = 1024;
  defaults.patch_size = 16;
  defaults.hidden_act = "gelu";
  defaults.post_layernorm = false;
  c.tower = nn::VitConfig::read(v, defaults, vw);
  const nn::VitConfig& t = c.tower;
  c.rope_theta = json::get_or(v, "rope_theta", c.rope_theta, vw);
  if (!(c.rope_theta > 1.0) || !std::isfinite(c.rope_theta))
    throw ModelError(vw + ": \"rope_theta\" is invalid");

  c.mistral3 = json::get_or<std::string>(config, "model_type", "") == "mistral3";
  if (c.mistral3) {
    c.merge = json::get<int>(config, "spatial_merge_size");
    check_range(c.merge, 8, "spatial_merge_size");
  } else if (json::get_or<std::string>(config, "vision_feature_select_strategy", "default") !=
             "full") {
    // "default" drops the first token, a CLIP class token Pixtral does not have: transformers
    // then has one feature too few for the image's tokens.
    throw ModelError(
        "config.json: vision_feature_select_strategy must be \"full\" for a Pixtral tower "
        "(\"default\" drops a class token Pixtral does not have)");
  }
  // vision_feature_layer: hidden_states[k] is the output of k layers (0: after ln_pre).
  c.layers = nn::feature_layers(
      config.contains("vision_feature_layer") ? config["vision_feature_layer"] : nlohmann::json(-1),
      t.num_hidden_layers, !c.mistral3,
      "config.json: vision_feature_layer (one layer for mistral3)");
  c.projector_act = nn::activation(json::get<std::string>(config, "projector_hidden_act"),
                                   "projector_hidden_act");
  c.projector_bias = json::get<bool>(config, "multimodal_projector_bias");
  c.norm_eps = json::get_or<double>(config, "rms_norm_eps", 1e-5);
  c.image_token = json::get<int32_t>(config, "image_token_index");
  // [IMG_BREAK] and [IMG_END] are 12 and 13 in every Mistral tokenizer (v3, tekken; Mistral's
  // own params.json says so in vision_encoder.image_break_token_id / image_end_token_id, which
  // some converted configs keep in vision_config); configs may name others.
  c.row_break = json::get_or<int32_t>(config, "image_break_token_index",
                                      json::get_or<int32_t>(v, "image_break_token_id", 12, vw),
                                      "config.json");
  c.image_end =
      json::get_or<int32_t>(config, "image_end_token_index",
                            json::get_or<int32_t>(v, "image_end_token_id", 13, vw), "config.json");
  return c;
}

plugin::VisionSpec VisionConfig::spec() const {
  return {.patch_size = tower.patch_size,
          .temporal_patch_size = 1,
          .merge_size = merge,
          .image_token = image_token,
          .vision_start = -1,
          .vision_end = image_end,
          .resize = plugin::ImageResize::longest_edge,
          .resample = plugin::Resample::bicubic,
          .longest_edge = tower.image_size,
          .alpha_on_white = true,
          .row_break = row_break};
}

Vision::Vision(VisionConfig c, plugin::WeightSource& src, const std::string& prefix,
               int text_hidden)
    : c_(std::move(c)) {
  const std::string t = prefix + "vision_tower.";
  const nn::VitConfig& tc = c_.tower;
  patch_conv_ = nn::load_patch_kernel(src, t + "patch_conv.weight", tc.num_channels, tc.patch_size);
  ln_pre_ = src.load(t + "ln_pre.weight", WeightUse::vector);
  const int needed = *std::max_element(c_.layers.begin(), c_.layers.end());
  for (int i = 0; i < tc.num_hidden_layers; ++i) {
    const std::string p = fmt::format("{}transformer.layers.{}.", t, i);
    const std::string a = p + "attention.", f = p + "feed_forward.";
    const std::vector<std::string> names = {
        p + "attention_norm.weight", a + "q_proj.weight",  a + "k_proj.weight",
        a + "v_proj.weight",         a + "o_proj.weight",  p + "ffn_norm.weight",
        f + "gate_proj.weight",      f + "up_proj.weight", f + "down_proj.weight"};
    if (i >= needed) {  // past vision_feature_layer: never used
      for (const auto& n : names)
        if (src.has(n)) src.skip(n);
      continue;
    }
    Layer l;
    l.attention_norm = src.load(names[0], WeightUse::vector);
    l.qkv = src.load_rows({names[1], names[2], names[3]}, WeightUse::matmul);
    l.o_proj = src.load(names[4], WeightUse::matmul);
    l.ffn_norm = src.load(names[5], WeightUse::vector);
    l.gate_up = src.load_rows({names[6], names[7]}, WeightUse::matmul);
    l.down = src.load(names[8], WeightUse::matmul);
    layers_.push_back(std::move(l));
  }
  // 2-D rotary frequencies: theta^(-2k/head_dim) for k < head_dim/2; rows turn the pairs of the
  // even k, columns those of the odd k (PixtralRotaryEmbedding).
  const int hd = tc.head_dim();
  for (int parity = 0; parity < 2; ++parity)
    for (int k = parity; k < hd / 2; k += 2)
      inv_freq_.push_back(float(1.0 / std::pow(c_.rope_theta, 2.0 * k / hd)));

  const std::string m = prefix + "multi_modal_projector.";
  const int64_t in = int64_t(tc.hidden_size) * int64_t(c_.layers.size());
  if (c_.mistral3) {
    norm_ = src.load(m + "norm.weight", WeightUse::vector);
    merging_ = src.load(m + "patch_merger.merging_layer.weight", WeightUse::matmul);
  }
  projector_ = nn::MlpProjector(src, m, in, text_hidden, c_.projector_act, c_.projector_bias);
}

Tensor Vision::tower(Graph& g, std::span<const TowerInput> images) const {
  const nn::VitConfig& tc = c_.tower;
  const int64_t cols = tc.patch_values(), D = tc.hidden_size, H = tc.num_attention_heads;
  const int64_t F = tc.intermediate_size, M = c_.merge;
  int64_t N = 0;
  for (const auto& im : images) N += int64_t(im.grid_h) * im.grid_w;
  // Activations must fit one storage binding: [N, 3 x width] whole, the gated MLP's [N, 2 x
  // intermediate] in row blocks.
  const int64_t widest = std::max<int64_t>(cols, 3 * D);
  const uint64_t limit = g.device().features().max_storage_buffer_range;
  const int64_t block = mlp_block_rows_ > 0
                            ? mlp_block_rows_
                            : std::max<int64_t>(1, int64_t(limit / uint64_t(2 * F * 4)));
  if (uint64_t(N * widest * 4) > limit) {
    throw InputError(fmt::format(
        "{} patches need {} MiB activations in the vision tower; this device binds at most {} "
        "MiB: use smaller images (size.longest_edge in preprocessor_config.json)",
        N, N * widest * 4 >> 20, limit >> 20));
  }
  // Pixels, (row, column) of each patch, and each image's span of rows.
  std::vector<float> px;
  px.reserve(size_t(N * cols));
  std::vector<int32_t> pos(size_t(2 * N)), spans;
  std::vector<int32_t> seq(static_cast<size_t>(N));
  int64_t at = 0;
  for (const auto& im : images) {
    px.insert(px.end(), im.pixels.begin(), im.pixels.end());
    const int64_t n = int64_t(im.grid_h) * im.grid_w, windows_w = im.grid_w / M;
    for (int64_t i = 0; i < n; ++i) {  // merge-window order: (h/M, w/M, M, M)
      const int64_t w = i / (M * M), k = i % (M * M);
      pos[size_t(at + i)] = int32_t(w / windows_w * M + k / M);
      pos[size_t(N + at + i)] = int32_t(w % windows_w * M + k % M);
    }
    spans.insert(spans.end(), {int32_t(at), int32_t(at + n)});
    at += n;
  }
  for (int64_t i = 0; i < N; ++i) seq[size_t(i)] = int32_t(i);
  Tensor pixels = g.alloc(Dtype::f32, {N, cols});
  g.upload(pixels, px.data(), px.size() * 4);
  const Tensor positions = g.upload_i32(pos, {2, N});
  const Tensor qpos = g.upload_i32(seq, {N});
  const Tensor span_t = g.upload_i32(spans, {int64_t(images.size()), 2});
  Tensor inv_freq = g.alloc(Dtype::f32, {int64_t(inv_freq_.size())});
  g.upload(inv_freq, inv_freq_.data(), inv_freq_.size() * 4);

  const float eps = 1e-5f;
  const bool several = images.size() > 1;
  Tensor x = ops::rms_norm(g, nn::patch_embed(g, pixels, patch_conv_), ln_pre_, {.eps = eps});
  std::vector<Tensor> after(layers_.size() + 1);  // hidden states after i layers, where wanted
  for (size_t i = 0;; ++i) {
    if (std::find(c_.layers.begin(), c_.layers.end(), int(i)) != c_.layers.end()) after[i] = x;
    if (i == layers_.size()) break;
    const Layer& l = layers_[i];
    Tensor y = ops::rms_norm(g, x, l.attention_norm, {.eps = eps});
    x = nn::rope2d_attention(g, y, {.qkv = l.qkv, .out = l.o_proj, .heads = int(H)}, positions,
                             inv_freq, qpos, several ? &span_t : nullptr, x);
    y = ops::rms_norm(g, x, l.ffn_norm, {.eps = eps});
    std::vector<Tensor> rows;
    for (int64_t r = 0; r < N; r += block) {
      const int64_t n = std::min(block, N - r);
      const Tensor xr = x.slice(0, r, n);
      Tensor gu = ops::matmul(g, y.slice(0, r, n), l.gate_up);
      rows.push_back(ops::matmul(g, ops::gated(g, tc.act(), gu.slice(1, 0, F), gu.slice(1, F, F)),
                                 l.down, {.residual = &xr}));
    }
    x = rows.size() == 1 ? rows[0] : ops::concat(g, rows, 0);
  }
  std::vector<Tensor> ordered;  // in vision_feature_layer's order
  for (int k : c_.layers) ordered.push_back(after[size_t(k)]);
  return ordered.size() == 1 ? ordered[0] : ops::concat(g, ordered, 1);
}

Tensor Vision::project(Graph& g, const Tensor& hidden, int grid_h, int grid_w) const {
  Tensor x = hidden;
  if (c_.mistral3) {  // RMSNorm, then each MxM window's patches side by side as unfold lays them
    const int64_t M = c_.merge, D = c_.tower.hidden_size, n = int64_t(grid_h) * grid_w;
    x = ops::rms_norm(g, x, norm_, {.eps = float(c_.norm_eps)});
    x = ops::contiguous(g, x.reshape({n / (M * M), M * M, D}).transpose(1, 2));
    x = ops::matmul(g, x.reshape({n / (M * M), D * M * M}), merging_);
  }
  return projector_.forward(g, x);
}

TowerInput Vision::check(const plugin::ImagePatches& img) const {
  const auto [gt, gh, gw] = img.grid_thw;
  const int64_t cols = c_.tower.patch_values();
  if (gt != 1 || gh <= 0 || gw <= 0 || gh % c_.merge || gw % c_.merge || img.cols != cols ||
      img.rows != int64_t(gh) * gw || int64_t(img.pixels.size()) != img.rows * cols) {
    throw InputError(
        fmt::format("image patches [{}, {}] with grid {}x{}x{} do not fit the Pixtral "
                    "tower ({} values per patch, merge {})",
                    img.rows, img.cols, gt, gh, gw, cols, c_.merge));
  }
  return {img.pixels, gh, gw};
}

Tensor Vision::encode(Graph& g, const plugin::ImagePatches& img, const Tensor& embed) const {
  const TowerInput in = check(img);
  Tensor f = project(g, tower(g, std::span(&in, 1)), in.grid_h, in.grid_w);
  const int64_t rows = in.grid_h / c_.merge, cols = in.grid_w / c_.merge, n = rows * (cols + 1);
  std::vector<int32_t> at_image, at_sep, sep_ids;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) at_image.push_back(int32_t(r * (cols + 1) + c));
    at_sep.push_back(int32_t(r * (cols + 1) + cols));
    sep_ids.push_back(r + 1 < rows ? c_.row_break : c_.image_end);
  }
  auto upload = [&](const std::vector<int32_t>& v) { return g.upload_i32(v, {int64_t(v.size())}); };
  Tensor out = g.alloc(Dtype::f32, {n, f.dim(1)});
  ops::scatter_rows(g, f, upload(at_image), out);
  ops::scatter_rows(g, ops::embedding(g, upload(sep_ids), embed), upload(at_sep), out);
  return out;
}

}  // namespace vkllm::pixtral
