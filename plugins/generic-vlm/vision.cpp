#include "vision.h"

#include <fmt/format.h>

#include <algorithm>

#include "sdk/base/error.h"
#include "sdk/base/json_get.h"
#include "sdk/nn/anyres.h"
#include "sdk/ops/gather.h"

namespace vkllm::generic_vlm {

using plugin::WeightUse;
using sdk::Graph;
using sdk::Tensor;

VisionConfig VisionConfig::parse(const nlohmann::json& config) {
  if (!config.contains("vision_config") || !config["vision_config"].is_object())
    throw ModelError("config.json: \"vision_config\" is missing");
  VisionConfig c;
  c.tower = nn::VitConfig::any(config["vision_config"]);
  const std::string strategy = json::get<std::string>(config, "vision_feature_select_strategy");
  if (strategy != "default" && strategy != "full")
    throw ModelError(fmt::format(
        "config.json: vision_feature_select_strategy '{}' is not \"default\" or \"full\"",
        strategy));
  c.keep_first = strategy == "full";
  if (!config.contains("vision_feature_layer"))
    throw ModelError("config.json: \"vision_feature_layer\" is missing");
  c.layers = nn::feature_layers(config["vision_feature_layer"], c.tower.num_hidden_layers, true);
  c.projector_act = nn::activation(json::get<std::string>(config, "projector_hidden_act"),
                                   "projector_hidden_act");
  c.projector_bias = json::get<bool>(config, "multimodal_projector_bias");
  c.image_token = json::get_or<int32_t>(config, "image_token_index",
                                        json::get_or<int32_t>(config, "image_token_id", -1));
  if (c.image_token < 0) throw ModelError("config.json: \"image_token_index\" is missing");
  if (config.contains("image_grid_pinpoints") && !config["image_grid_pinpoints"].is_null()) {
    c.anyres = true;
    const std::string where = "config.json: image_grid_pinpoints";
    const auto& list = config["image_grid_pinpoints"];
    if (!list.is_array() || list.empty()) throw ModelError(where + " is not a list of [h, w]");
    for (const auto& r : list) {
      if (!r.is_array() || r.size() != 2)
        throw ModelError(where + " has an entry that is not [h, w]");
      const int h = json::as<int>(r[0], where), w = json::as<int>(r[1], where);
      if (h <= 0 || w <= 0 || h % c.tower.image_size || w % c.tower.image_size || h > 1 << 14 ||
          w > 1 << 14)
        throw ModelError(fmt::format("{}: {}x{} is not a multiple of the tower's {} px", where, w,
                                     h, c.tower.image_size));
      c.pinpoints.push_back({h, w});
    }
    // The tiles' features form a map of whole patch grids: nothing dropped or added per tile.
    if (c.tokens() != int64_t(c.tower.grid()) * c.tower.grid())
      throw ModelError(fmt::format(
          "config.json: vision_feature_select_strategy \"{}\" with a {} tower leaves {} "
          "features per tile, not its {}x{} patches (AnyRes needs \"{}\")",
          strategy, json::get_or<std::string>(config["vision_config"], "model_type", ""),
          c.tokens(), c.tower.grid(), c.tower.grid(), c.tower.class_token ? "default" : "full"));
  }
  return c;
}

plugin::VisionSpec VisionConfig::spec() const {
  plugin::VisionSpec s{.patch_size = tower.patch_size,
                       .temporal_patch_size = 1,
                       .merge_size = 1,
                       .image_token = image_token,
                       .resample = plugin::Resample::bicubic,
                       .image_height = tower.image_size,
                       .image_width = tower.image_size,
                       .shortest_edge = tower.image_size,
                       .grid_pinpoints = pinpoints,
                       .extra_tokens = int(tokens() - int64_t(tower.grid()) * tower.grid()),
                       .image_newline = anyres};
  // The processors these towers come with: CLIPImageProcessor (shorter side, centre crop,
  // OpenAI's mean/std), SiglipImageProcessor (a square resize, mean/std 0.5), LLaVA-NeXT's AnyRes.
  s.resize = anyres              ? plugin::ImageResize::anyres
             : tower.class_token ? plugin::ImageResize::shortest_edge_crop
                                 : plugin::ImageResize::fixed;
  if (!tower.class_token) s.image_mean = s.image_std = {0.5f, 0.5f, 0.5f};
  return s;
}

Vision::Vision(VisionConfig c, plugin::WeightSource& src, const std::string& prefix,
               int text_hidden)
    : c_(std::move(c)),
      tower_(c_.tower, src, prefix + "vision_tower.vision_model.",
             *std::max_element(c_.layers.begin(), c_.layers.end())),
      projector_(src, prefix + "multi_modal_projector.",
                 int64_t(c_.tower.hidden_size) * int64_t(c_.layers.size()), text_hidden,
                 c_.projector_act, c_.projector_bias) {
  if (c_.anyres) {
    const std::string name = prefix + "image_newline";
    if (src.info(name).shape != std::vector<int64_t>{text_hidden})
      throw ModelError(fmt::format("{} must have shape [{}]", name, text_hidden));
    newline_ = src.load(name, WeightUse::vector);
  }
}

Tensor Vision::features(Graph& g, const Tensor& patches, int64_t images) const {
  const int64_t S = c_.tower.tokens(), D = c_.tower.hidden_size;
  std::vector<Tensor> hs = tower_.hidden_states(g, patches, c_.layers, images);
  for (Tensor& h : hs) {
    if (c_.keep_first) continue;
    h = ops::contiguous(g, h.reshape({images, S, D}).slice(1, 1, S - 1))
            .reshape({images * (S - 1), D});
  }
  return projector_.forward(g, hs.size() == 1 ? hs[0] : ops::concat(g, hs, 1));
}

Tensor Vision::encode(Graph& g, const plugin::ImagePatches& img) const {
  const auto [t, gh, gw] = img.grid_thw;
  const int side = c_.tower.grid();
  const int64_t n = int64_t(side) * side, cols = c_.tower.patch_values();
  const int64_t subs = c_.anyres ? 1 + int64_t(img.tiles[0]) * img.tiles[1] : 1;
  if (gh != side || gw != side || t != subs || img.cols != cols || img.rows != subs * n ||
      int64_t(img.pixels.size()) != img.rows * cols ||
      (c_.anyres && (img.tiles[0] <= 0 || img.tiles[1] <= 0 || img.original_size[0] <= 0 ||
                     img.original_size[1] <= 0))) {
    throw InputError(fmt::format(
        "image patches [{}, {}] with grid {}x{}x{} do not fit the {} px tower ({} image(s) of "
        "{} patches of {} values)",
        img.rows, img.cols, t, gh, gw, c_.tower.image_size, subs, n, cols));
  }
  Tensor pixels = g.alloc(Dtype::f32, {img.rows, cols});
  g.upload(pixels, img.pixels.data(), img.pixels.size() * 4);
  Tensor f = features(g, pixels, subs);
  if (!c_.anyres) return f;

  // The base image's features, then the tiles' as one map (tile rows of patch rows), its
  // padding's rows or columns removed, each row ended by image_newline.
  const auto [tiles_h, tiles_w] = img.tiles;
  const nn::AnyresRegion r =
      nn::anyres_unpad(img.original_size[0], img.original_size[1], tiles_h * side, tiles_w * side);
  const int64_t width = r.cols + 1, total = n + int64_t(r.rows) * width;
  std::vector<int32_t> dest(size_t(subs * n), -1), at_newline;
  for (int64_t i = 0; i < n; ++i) dest[size_t(i)] = int32_t(i);
  for (int64_t k = 0; k + 1 < subs; ++k)
    for (int64_t p = 0; p < n; ++p) {
      const int64_t row = k / tiles_w * side + p / side - r.top;
      const int64_t col = k % tiles_w * side + p % side - r.left;
      if (row >= 0 && row < r.rows && col >= 0 && col < r.cols)
        dest[size_t(n + k * n + p)] = int32_t(n + row * width + col);
    }
  for (int64_t row = 0; row < r.rows; ++row)
    at_newline.push_back(int32_t(n + row * width + r.cols));
  const int64_t hidden = f.dim(1);
  Tensor out = g.alloc(Dtype::f32, {total, hidden});
  ops::scatter_rows(g, f, g.upload_i32(dest, {int64_t(dest.size())}), out);
  Tensor zeros = g.alloc(Dtype::f32, {int64_t(r.rows), hidden});
  g.fill(zeros, 0);  // + image_newline, broadcast: one newline row per feature row
  ops::scatter_rows(g, ops::add(g, zeros, newline_),
                    g.upload_i32(at_newline, {int64_t(at_newline.size())}), out);
  return out;
}

}  // namespace vkllm::generic_vlm
