// The vision towers of Qwen2-VL and Qwen2.5-VL against transformers on the references' own
// pixel values: the blocks' output before the merger (window order for Qwen2.5-VL) and the
// merged features, image by image.
#include <gtest/gtest.h>

#include <cmath>
#include <span>

#include "core/model.h"
#include "core/weights/weight_store.h"
#include "reference.h"
#include "registry/registry.h"
#include "sdk/vk/graph.h"
#include "vision.h"

namespace vkllm::test {
namespace {

class Tower : public ::testing::TestWithParam<std::tuple<const char*, const char*>> {};

TEST_P(Tower, BlocksAndMergedFeaturesMatchTransformers) {
  auto [variant, which] = GetParam();
  std::string dir = qwen_vl_dir(variant);
  auto raw = core::read_json_file(dir + "/config.json");
  const auto& reg = registry::Registry::builtin();
  auto config = reg.normalize(raw, reg.route(raw, dir), dir);
  auto device = sdk::Device::create();
  core::WeightStore store(dir, config, device);
  qwen_vl::VisionTower tower(qwen_vl::VisionConfig::parse(config), store, "visual.", *device);

  core::SafetensorsFile ref(dir + "/reference_" + std::string(which) + ".safetensors");
  auto pixels = ref.values<float>("pixel_values");
  auto grids = ref.values<int32_t>("image_grid_thw");
  auto blocks = ref.values<float>("vision_blocks");
  auto merged = ref.values<float>("image_embeds");
  const int64_t cols = 1176, dim = tower.config().dim, out = tower.config().out_dim;
  int64_t row = 0;
  for (size_t i = 0; i < grids.size() / 3; ++i) {
    plugin::ImagePatches img;
    img.grid_thw = {grids[3 * i], grids[3 * i + 1], grids[3 * i + 2]};
    img.rows = int64_t(img.grid_thw[0]) * img.grid_thw[1] * img.grid_thw[2];
    img.cols = cols;
    img.pixels =
        std::span<const float>(pixels).subspan(size_t(row * cols), size_t(img.rows * cols));
    sdk::Graph g(device);
    auto b = g.download(tower.encode(g, img, false));
    auto m = g.download(tower.encode(g, img, true));
    g.run();
    auto got_b = b->as<float>();
    auto got_m = m->as<float>();
    ASSERT_EQ(int64_t(got_b.size()), img.rows * dim);
    ASSERT_EQ(int64_t(got_m.size()), img.rows / 4 * out);
    // f32 throughout; the differences are summation order (~1e-6 of values ~1).
    EXPECT_LT(max_abs_diff(got_b, blocks.data() + row * dim, got_b.size()), 2e-4)
        << variant << " " << which << " image " << i << " blocks";
    // The reference captured the merger's output, which Qwen2.5-VL produces in window order
    // (it restores raster order after the merger, as encode() does).
    std::vector<float> raster(got_m.begin(), got_m.end()), windowed = raster;
    if (tower.config().qwen2_5) {
      auto w = qwen_vl::window_layout(img.grid_thw[0], img.grid_thw[1], img.grid_thw[2], 2, 2);
      for (size_t t = 0; t < w.order.size(); ++t)
        std::copy_n(raster.begin() + w.order[t] * out, out, windowed.begin() + int64_t(t) * out);
    }
    EXPECT_LT(max_abs_diff(windowed, merged.data() + row / 4 * out, got_m.size()), 2e-4)
        << variant << " " << which << " image " << i << " merged";
    row += img.rows;
  }
  EXPECT_EQ(row * cols, int64_t(pixels.size()));
}

INSTANTIATE_TEST_SUITE_P(Cases, Tower,
                         ::testing::Combine(::testing::ValuesIn(kVariants),
                                            ::testing::ValuesIn(kCases)),
                         case_name<::testing::TestParamInfo<Tower::ParamType>>);

// Qwen2.5-VL's window order for one image, against the reference's get_window_index on a 10x14
// patch grid with 2x2-token windows (worked by hand from the reference's padding rule).
TEST(WindowLayout, MatchesTheReferencePadding) {
  auto w = qwen_vl::window_layout(1, 10, 14, 2, 2);  // merged grid 5 x 7
  ASSERT_EQ(w.order.size(), 35u);
  // First window: tokens (0,0) (0,1) (1,0) (1,1) = 0 1 7 8; the last column of windows is one
  // token wide; the last row of windows one token high.
  EXPECT_EQ((std::vector<int32_t>(w.order.begin(), w.order.begin() + 4)),
            (std::vector<int32_t>{0, 1, 7, 8}));
  EXPECT_EQ((std::vector<int32_t>(w.order.begin() + 12, w.order.begin() + 14)),
            (std::vector<int32_t>{6, 13}));
  // 3 x 4 windows of sizes 4,4,4,2 / 4,4,4,2 / 2,2,2,1 tokens, 4 patches each.
  std::vector<int32_t> want_sizes = {4, 4, 4, 2, 4, 4, 4, 2, 2, 2, 2, 1};
  ASSERT_EQ(w.spans.size(), want_sizes.size() * 2);
  for (size_t i = 0; i < want_sizes.size(); ++i)
    EXPECT_EQ(w.spans[2 * i + 1] - w.spans[2 * i], 4 * want_sizes[i]);
  // Even sides: the reference pads a whole empty window, which is dropped.
  auto e = qwen_vl::window_layout(1, 8, 8, 2, 2);
  EXPECT_EQ(e.spans.size(), 8u);
}

}  // namespace
}  // namespace vkllm::test
