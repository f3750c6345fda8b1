#include "vision.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>

#include "sdk/base/error.h"
#include "sdk/base/json_get.h"
#include "sdk/io.h"
#include "sdk/nn/vision_attention.h"
#include "sdk/nn/vit.h"
#include "sdk/ops/gather.h"
#include "sdk/ops/matmul.h"
#include "sdk/ops/norm.h"
#include "sdk/ops/rope.h"

namespace vkllm::qwen_vl {

using plugin::WeightUse;
using sdk::Graph;
using sdk::Tensor;

namespace {

int get_int(const nlohmann::json& j, const char* key) {
  int v = json::get<int>(j, key, "config.json: vision_config");
  if (v <= 0 || v > (1 << 20))
    throw ModelError(fmt::format("config.json: vision_config.{} = {} is out of range", key, v));
  return v;
}

}  // namespace

VisionConfig VisionConfig::parse(const nlohmann::json& config) {
  if (!config.contains("vision_config") || !config["vision_config"].is_object())
    throw ModelError("config.json: \"vision_config\" is missing");
  const auto& v = config["vision_config"];
  VisionConfig c;
  c.qwen2_5 = json::get_or<std::string>(config, "model_type", "") == "qwen2_5_vl";
  c.depth = get_int(v, "depth");
  c.heads = get_int(v, "num_heads");
  c.patch = get_int(v, "patch_size");
  c.temporal = get_int(v, "temporal_patch_size");
  c.merge = get_int(v, "spatial_merge_size");
  c.in_channels = v.contains("in_channels") ? get_int(v, "in_channels") : 3;
  c.act =
      nn::activation(json::get_or<std::string>(v, "hidden_act", c.qwen2_5 ? "silu" : "quick_gelu",
                                               "config.json: vision_config"),
                     "vision_config.hidden_act");
  if (c.qwen2_5) {
    c.dim = get_int(v, "hidden_size");
    c.mlp_hidden = get_int(v, "intermediate_size");
    c.out_dim = get_int(v, "out_hidden_size");
    c.window_size = get_int(v, "window_size");
    c.full_layers = json::get_or<std::vector<int>>(v, "fullatt_block_indexes", {},
                                                   "config.json: vision_config");
    if (c.window_size % (c.patch * c.merge))
      throw ModelError(
          fmt::format("config.json: vision_config.window_size {} is not a multiple of "
                      "patch_size x spatial_merge_size",
                      c.window_size));
  } else {
    c.dim = get_int(v, "embed_dim");
    double ratio = json::get_or<double>(v, "mlp_ratio", 4.0, "config.json: vision_config");
    if (!(ratio > 0 && ratio <= 64))
      throw ModelError(
          fmt::format("config.json: vision_config.mlp_ratio {} is out of range", ratio));
    c.mlp_hidden = int(std::lround(double(c.dim) * ratio));
    c.out_dim = get_int(v, "hidden_size");
  }
  if (c.dim % c.heads || (c.dim / c.heads) % 4)
    throw ModelError(
        fmt::format("config.json: vision width {} over {} heads must give a head size "
                    "divisible by 4",
                    c.dim, c.heads));
  return c;
}

WindowLayout window_layout(int grid_t, int grid_h, int grid_w, int merge, int window_tokens) {
  const int H = grid_h / merge, W = grid_w / merge, ws = window_tokens, unit = merge * merge;
  // As the reference pads: a full extra window when the side is a multiple (it stays empty).
  const int nh = (H + ws - H % ws) / ws, nw = (W + ws - W % ws) / ws;
  WindowLayout out;
  int32_t at = 0;
  for (int t = 0; t < grid_t; ++t) {
    for (int wy = 0; wy < nh; ++wy) {
      for (int wx = 0; wx < nw; ++wx) {
        int32_t start = at;
        for (int y = wy * ws; y < std::min(H, (wy + 1) * ws); ++y)
          for (int x = wx * ws; x < std::min(W, (wx + 1) * ws); ++x)
            out.order.push_back(int32_t((t * H + y) * W + x)), at += int32_t(unit);
        if (at > start) out.spans.insert(out.spans.end(), {start, at});
      }
    }
  }
  return out;
}

VisionTower::VisionTower(VisionConfig c, plugin::WeightSource& src, const std::string& p,
                         sdk::Device& device)
    : c_(std::move(c)) {
  patch_embed_ = src.load(p + "patch_embed.proj.weight", WeightUse::matmul);
  for (int i = 0; i < c_.depth; ++i) {
    std::string b = fmt::format("{}blocks.{}.", p, i);
    VisionBlock l;
    l.norm1_w = src.load(b + "norm1.weight", WeightUse::vector);
    l.norm2_w = src.load(b + "norm2.weight", WeightUse::vector);
    if (!c_.qwen2_5) {
      l.norm1_b = src.load(b + "norm1.bias", WeightUse::vector);
      l.norm2_b = src.load(b + "norm2.bias", WeightUse::vector);
    }
    l.qkv = src.load(b + "attn.qkv.weight", WeightUse::matmul);
    l.qkv_b = src.load(b + "attn.qkv.bias", WeightUse::vector);
    l.proj = src.load(b + "attn.proj.weight", WeightUse::matmul);
    l.proj_b = src.load(b + "attn.proj.bias", WeightUse::vector);
    if (c_.qwen2_5) {
      std::string m = b + "mlp.";
      l.fc1 = src.load_rows({m + "gate_proj.weight", m + "up_proj.weight"}, WeightUse::matmul);
      l.fc1_b = src.load_rows({m + "gate_proj.bias", m + "up_proj.bias"}, WeightUse::vector);
      l.fc2 = src.load(m + "down_proj.weight", WeightUse::matmul);
      l.fc2_b = src.load(m + "down_proj.bias", WeightUse::vector);
    } else {
      l.fc1 = src.load(b + "mlp.fc1.weight", WeightUse::matmul);
      l.fc1_b = src.load(b + "mlp.fc1.bias", WeightUse::vector);
      l.fc2 = src.load(b + "mlp.fc2.weight", WeightUse::matmul);
      l.fc2_b = src.load(b + "mlp.fc2.bias", WeightUse::vector);
    }
    blocks_.push_back(std::move(l));
  }
  ln_q_w_ = src.load(p + "merger.ln_q.weight", WeightUse::vector);
  if (!c_.qwen2_5) ln_q_b_ = src.load(p + "merger.ln_q.bias", WeightUse::vector);
  mlp0_ = src.load(p + "merger.mlp.0.weight", WeightUse::matmul);
  mlp0_b_ = src.load(p + "merger.mlp.0.bias", WeightUse::vector);
  mlp2_ = src.load(p + "merger.mlp.2.weight", WeightUse::matmul);
  mlp2_b_ = src.load(p + "merger.mlp.2.bias", WeightUse::vector);
  // 2-D rotary positions: the first quarter of each head's pairs turn with the patch row, the
  // second with the column, at frequencies theta^(-4i/head_dim) (the same table for both).
  auto f = ops::rope_inv_freq(10000.0, c_.head_dim() / 2);
  std::vector<float> table(f);
  table.insert(table.end(), f.begin(), f.end());
  inv_freq_ = Tensor::allocate(device.weights(), Dtype::f32, {int64_t(table.size())});
  sdk::upload_f32(inv_freq_, table);
}

Tensor VisionTower::norm(Graph& g, const Tensor& x, const Tensor& w, const Tensor& b) const {
  if (c_.qwen2_5) return ops::rms_norm(g, x, w, {.eps = 1e-6f});
  return ops::layer_norm(g, x, w, b, {.eps = 1e-6f});
}

Tensor VisionTower::encode(Graph& g, const plugin::ImagePatches& img, bool merged) const {
  const auto [gt, gh, gw] = img.grid_thw;
  const int64_t N = img.rows, unit = int64_t(c_.merge) * c_.merge;
  const int64_t cols = int64_t(c_.in_channels) * c_.temporal * c_.patch * c_.patch;
  if (img.cols != cols || N != int64_t(gt) * gh * gw || gh % c_.merge || gw % c_.merge ||
      int64_t(img.pixels.size()) != N * cols) {
    throw InputError(
        fmt::format("image patches [{}, {}] with grid {}x{}x{} do not fit the vision "
                    "tower ({} values per patch, merge {})",
                    N, img.cols, gt, gh, gw, cols, c_.merge));
  }
  // The widest activation ([N, mlp] f32, twice that for SwiGLU) must fit one storage binding.
  const int64_t widest =
      std::max<int64_t>({cols, 3 * c_.dim, (c_.qwen2_5 ? 2 : 1) * c_.mlp_hidden});
  const uint64_t limit = g.device().features().max_storage_buffer_range;
  if (uint64_t(N * widest * 4) > limit) {
    const int64_t max_patches = int64_t(limit / uint64_t(widest * 4));
    throw InputError(fmt::format(
        "an image of {}x{} patches ({} pixels after resizing) needs {} MiB activations; this "
        "device binds at most {} MiB: limit images to about {} pixels (--max-pixels, or max_pixels "
        "in preprocessor_config.json)",
        gh, gw, N * c_.patch * c_.patch, N * widest * 4 >> 20, limit >> 20,
        max_patches / (c_.merge * c_.merge) * (c_.merge * c_.merge) * c_.patch * c_.patch));
  }
  // Token order: raster (merge-window) order, or windows for Qwen2.5-VL.
  WindowLayout win;
  if (c_.qwen2_5) {
    win = window_layout(gt, gh, gw, c_.merge, c_.window_size / c_.patch / c_.merge);
  } else {
    for (int32_t i = 0; i < int32_t(N / unit); ++i) win.order.push_back(i);
  }
  // Pixels and (row, column) positions of each patch, rows grouped by merged token in `order`.
  std::vector<float> px(size_t(N * cols));
  std::vector<int32_t> pos(size_t(2 * N));
  const int M = c_.merge, mw = gw / M;
  for (int64_t i = 0; i < N / unit; ++i) {
    const int64_t src = win.order[size_t(i)];
    for (int64_t k = 0; k < unit; ++k) {
      const int64_t from = src * unit + k, to = i * unit + k;
      std::copy_n(img.pixels.begin() + from * cols, cols, px.begin() + to * cols);
      const int64_t cell = src % (int64_t(gh / M) * mw);  // same positions in every frame
      pos[size_t(to)] = int32_t(cell / mw * M + k / M);
      pos[size_t(N + to)] = int32_t(cell % mw * M + k % M);
    }
  }
  Tensor pixels = g.alloc(Dtype::f32, {N, cols});
  g.upload(pixels, px.data(), px.size() * 4);
  Tensor positions = g.alloc(Dtype::i32, {2, N});
  g.upload(positions, pos.data(), pos.size() * 4);
  std::vector<int32_t> seq(static_cast<size_t>(N));
  for (int64_t i = 0; i < N; ++i) seq[size_t(i)] = int32_t(i);
  Tensor qpos = g.alloc(Dtype::i32, {N});
  g.upload(qpos, seq.data(), seq.size() * 4);
  Tensor spans;
  if (c_.qwen2_5) {
    spans = g.alloc(Dtype::i32, {int64_t(win.spans.size() / 2), 2});
    g.upload(spans, win.spans.data(), win.spans.size() * 4);
  }

  const int64_t H = c_.heads, F = c_.mlp_hidden;
  Tensor x = ops::matmul(g, pixels, patch_embed_);
  for (int i = 0; i < c_.depth; ++i) {
    const VisionBlock& l = blocks_[size_t(i)];
    const bool windowed = c_.qwen2_5 && std::find(c_.full_layers.begin(), c_.full_layers.end(),
                                                  i) == c_.full_layers.end();
    Tensor y = norm(g, x, l.norm1_w, l.norm1_b);
    x = nn::rope2d_attention(
        g, y,
        {.qkv = l.qkv, .out = l.proj, .qkv_bias = &l.qkv_b, .out_bias = &l.proj_b, .heads = int(H)},
        positions, inv_freq_, qpos, windowed ? &spans : nullptr, x);
    y = norm(g, x, l.norm2_w, l.norm2_b);
    Tensor h = ops::matmul(g, y, l.fc1, {.bias = &l.fc1_b});
    h = c_.qwen2_5 ? ops::gated(g, c_.act, h.slice(1, 0, F), h.slice(1, F, F))
                   : ops::act(g, c_.act, h);
    x = ops::matmul(g, h, l.fc2, {.bias = &l.fc2_b, .residual = &x});
  }
  if (!merged) return x;
  Tensor y = norm(g, x, ln_q_w_, ln_q_b_).reshape({N / unit, unit * c_.dim});
  y = ops::act(g, ops::Act::gelu, ops::matmul(g, y, mlp0_, {.bias = &mlp0_b_}));
  y = ops::matmul(g, y, mlp2_, {.bias = &mlp2_b_});
  if (!c_.qwen2_5) return y;
  Tensor out = g.alloc(Dtype::f32, {N / unit, c_.out_dim});
  Tensor idx = g.alloc(Dtype::i32, {N / unit});
  g.upload(idx, win.order.data(), win.order.size() * 4);
  ops::scatter_rows(g, y, idx, out);
  return out;
}

}  // namespace vkllm::qwen_vl
