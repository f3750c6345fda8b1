#pragma once
// The Qwen2-VL / Qwen2.5-VL vision tower: a ViT over 14x14 (x2 frames) patches with 2-D rotary
// positions, and the patch merger that maps each 2x2 group of patches to one text-width token.
// Qwen2-VL: LayerNorm, fc1 -> quick_gelu -> fc2, full attention over the image.
// Qwen2.5-VL: RMSNorm, SwiGLU with biases, attention within 112x112-pixel windows except in the
// fullatt_block_indexes layers; the tower runs in window order and the merger's output is put
// back in raster (merge-window) order.
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "sdk/ops/elementwise.h"
#include "sdk/plugin_api/family.h"

namespace vkllm::qwen_vl {

struct VisionConfig {
  bool qwen2_5 = false;  // RMSNorm, SwiGLU, windowed attention
  int depth = 0, dim = 0, heads = 0, mlp_hidden = 0, out_dim = 0;
  int patch = 14, temporal = 2, merge = 2, in_channels = 3;
  ops::Act act = ops::Act::quick_gelu;
  int window_size = 0;           // pixels (Qwen2.5-VL)
  std::vector<int> full_layers;  // layers with full attention (Qwen2.5-VL)
  static VisionConfig parse(const nlohmann::json& config);  // the normalised config.json
  int head_dim() const { return dim / heads; }
};

struct VisionBlock {
  sdk::Tensor norm1_w, norm1_b, norm2_w, norm2_b;
  sdk::Tensor qkv, qkv_b, proj, proj_b;
  sdk::Tensor fc1, fc1_b, fc2, fc2_b;  // fc1 = gate|up for the SwiGLU variant
};

class VisionTower {
 public:
  VisionTower(VisionConfig c, plugin::WeightSource& src, const std::string& prefix,
              sdk::Device& device);
  const VisionConfig& config() const { return c_; }
  // Features of one image, f32 [rows / merge^2, out_dim] in the image's merge-window order; with
  // merged = false the blocks' output before the merger, [rows, dim], in the tower's order
  // (window order for Qwen2.5-VL).
  sdk::Tensor encode(sdk::Graph& g, const plugin::ImagePatches& image, bool merged = true) const;

 private:
  sdk::Tensor norm(sdk::Graph& g, const sdk::Tensor& x, const sdk::Tensor& w,
                   const sdk::Tensor& b) const;

  VisionConfig c_;
  sdk::Tensor patch_embed_, inv_freq_;
  std::vector<VisionBlock> blocks_;
  sdk::Tensor ln_q_w_, ln_q_b_, mlp0_, mlp0_b_, mlp2_, mlp2_b_;
};

// Window order of an image's merged tokens (Qwen2.5-VL's get_window_index for one image):
// `order[i]` is the raster index of the i-th token in window order; `spans` are the windows as
// [start, end) ranges of patch rows in that order.
struct WindowLayout {
  std::vector<int32_t> order;
  std::vector<int32_t> spans;  // [windows, 2]
};
WindowLayout window_layout(int grid_t, int grid_h, int grid_w, int merge, int window_tokens);

}  // namespace vkllm::qwen_vl
