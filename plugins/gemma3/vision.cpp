#include "vision.h"

#include <fmt/format.h>

#include <cmath>

#include "sdk/base/error.h"
#include "sdk/base/json_get.h"
#include "sdk/ops/matmul.h"
#include "sdk/ops/norm.h"
#include "sdk/ops/vision.h"

namespace vkllm::gemma3 {

using plugin::WeightUse;
using sdk::Graph;
using sdk::Tensor;

VisionConfig VisionConfig::parse(const nlohmann::json& config) {
  VisionConfig c;
  c.tower = nn::VitConfig::siglip(config["vision_config"]);
  c.mm_tokens_per_image = json::get<int>(config, "mm_tokens_per_image");
  c.boi = json::get<int32_t>(config, "boi_token_index");
  c.eoi = json::get<int32_t>(config, "eoi_token_index");
  c.image_token = json::get<int32_t>(config, "image_token_index");
  const int side = int(std::lround(std::sqrt(double(std::max(c.mm_tokens_per_image, 0)))));
  if (side <= 0 || side * side != c.mm_tokens_per_image || c.tower.grid() % side) {
    throw ModelError(fmt::format(
        "config.json: mm_tokens_per_image {} must be a square whose side divides the {} "
        "patches per side of the {} px image",
        c.mm_tokens_per_image, c.tower.grid(), c.tower.image_size));
  }
  c.pool = c.tower.grid() / side;
  return c;
}

plugin::VisionSpec VisionConfig::spec() const {
  return {.patch_size = tower.patch_size,
          .temporal_patch_size = 1,
          .merge_size = 1,
          .image_token = image_token,
          .vision_start = boi,
          .vision_end = eoi,
          .resize = plugin::ImageResize::fixed,
          .resample = plugin::Resample::bilinear,
          .image_height = tower.image_size,
          .image_width = tower.image_size,
          .image_mean = {0.5f, 0.5f, 0.5f},
          .image_std = {0.5f, 0.5f, 0.5f},
          .token_pool = pool,
          .bidirectional = true,
          .expand_vision_start = true,
          .text_around = "\n\n",
          .pan_and_scan = true,
          .pan_scan_intro = "Here is the original image ",
          .pan_scan_crops = " and here are some crops to help you see better "};
}

Vision::Vision(VisionConfig c, plugin::WeightSource& src, const std::string& prefix,
               int text_hidden)
    : c_(std::move(c)), tower_(c_.tower, src, prefix + "vision_tower.vision_model.") {
  const std::string p = prefix + "multi_modal_projector.";
  soft_norm_ = src.load(p + "mm_soft_emb_norm.weight", WeightUse::vector);
  auto info = src.info(p + "mm_input_projection_weight");
  if (info.shape != std::vector<int64_t>{c_.tower.hidden_size, text_hidden}) {
    throw ModelError(fmt::format("{}mm_input_projection_weight has shape [{}], expected [{}, {}]",
                                 p, fmt::join(info.shape, ", "), c_.tower.hidden_size, text_hidden));
  }
  projection_ = src.load(p + "mm_input_projection_weight", WeightUse::matmul_transposed);
}

Tensor Vision::tower(Graph& g, const plugin::ImagePatches& img) const {
  const int64_t n = int64_t(c_.tower.grid()) * c_.tower.grid(), cols = c_.tower.patch_values();
  if (img.rows != n || img.cols != cols || int64_t(img.pixels.size()) != n * cols) {
    throw InputError(fmt::format("image patches [{}, {}] do not fit the {} px SigLIP tower ({} "
                                 "patches of {} values)",
                                 img.rows, img.cols, c_.tower.image_size, n, cols));
  }
  Tensor pixels = g.alloc(Dtype::f32, {n, cols});
  g.upload(pixels, img.pixels.data(), img.pixels.size() * 4);
  return tower_.encode(g, pixels);
}

Tensor Vision::encode(Graph& g, const plugin::ImagePatches& img) const {
  const int64_t grid = c_.tower.grid(), side = grid / c_.pool, D = c_.tower.hidden_size;
  Tensor x = tower(g, img).reshape({grid, grid, D});
  Tensor pooled = ops::avg_pool2d(g, x, c_.pool).reshape({side * side, D});
  Tensor normed = ops::rms_norm(g, pooled, soft_norm_,
                                {.eps = float(c_.tower.layer_norm_eps), .weight_offset = 1.0f});
  return ops::matmul(g, normed, projection_);
}

}  // namespace vkllm::gemma3
