// Pixtral (llava + pixtral tower) and Mistral 3 against transformers (tests/data/pixtral,
// make_pixtral.py): PixtralImageProcessor's preprocessing (longest edge 64, sides rounded up to
// the patch (x merge), bicubic, transparency over white), the tower over two images of
// different sizes in one batch (block-diagonal attention, 2-D rotary positions), the projected
// features, then logits of every prompt position and the greedy continuation through the host:
// processor-expanded ids, collapsed placeholders, chunked prefill, the chat template, caches.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <span>

#include "core/json_file.h"
#include "core/tests/family_testing.h"
#include "core/vision/image.h"
#include "core/vision/preprocess.h"
#include "core/vision/prompt.h"
#include "core/weights/safetensors.h"
#include "core/weights/weight_store.h"
#include "registry/registry.h"
#include "sdk/base/error.h"
#include "sdk/vk/graph.h"
#include "vision.h"
#include "vkllm/engine.h"

namespace vkllm::test {
namespace {
namespace fs = std::filesystem;

constexpr int32_t kImg = 10, kBreak = 12, kEnd = 13;

std::string dir(const std::string& model) {
  return std::string(VKLLM_TEST_DATA) + "/pixtral/" + model;
}

std::vector<std::string> case_images(const std::string& c) {
  std::string d = std::string(VKLLM_TEST_DATA) + "/images/";
  if (c == "one_image") return {d + "rgba_150x100.png"};
  return {d + "rgb_61x47.png", d + "rgb_33x120.bmp"};
}

nlohmann::json normalized_config(const std::string& model) {
  auto raw = core::read_json_file(dir(model) + "/config.json");
  const auto& reg = registry::Registry::builtin();
  return reg.normalize(raw, reg.route(raw, dir(model)), dir(model));
}

using Param = std::tuple<const char*, const char*>;  // model, case
class Case : public ::testing::TestWithParam<Param> {};

TEST_P(Case, PixelsTowerAndFeaturesMatchTransformers) {
  const auto [model, which] = GetParam();
  auto config = normalized_config(model);
  auto device = sdk::Device::create();
  core::WeightStore store(dir(model), config, device);
  pixtral::Vision vision(pixtral::VisionConfig::parse(config), store, "", 64);
  const auto spec = vision.config().spec();
  auto opt = core::patch_options(spec, dir(model));
  const int64_t P = 8, M = vision.config().merge, cols = 3 * P * P, D = 32;

  core::SafetensorsFile ref(dir(model) + "/reference_" + which + ".safetensors");
  auto files = case_images(which);
  // Each image's patches in the host's order (merge windows) from the reference's pixels, and
  // where each lands in the reference's raster order.
  std::vector<std::vector<float>> patches;
  std::vector<pixtral::TowerInput> inputs;
  std::vector<int64_t> raster_row;
  int64_t base = 0;
  for (size_t i = 0; i < files.size(); ++i) {
    SCOPED_TRACE(files[i]);
    const std::string key = "pixel_values_" + std::to_string(i);
    auto shape = ref.tensors().at(key).shape;  // [3, h, w]
    const int64_t h = shape[1], w = shape[2], gh = h / P, gw = w / P;
    auto px = ref.values<float>(key);
    std::vector<float> want(size_t(gh * gw * cols));
    int64_t row = 0;
    for (int64_t by = 0; by < gh / M; ++by)
      for (int64_t bx = 0; bx < gw / M; ++bx)
        for (int64_t my = 0; my < M; ++my)
          for (int64_t mx = 0; mx < M; ++mx, ++row) {
            const int64_t gy = by * M + my, gx = bx * M + mx;
            raster_row.push_back(base + gy * gw + gx);
            for (int64_t c = 0; c < 3; ++c)
              for (int64_t y = 0; y < P; ++y)
                for (int64_t x = 0; x < P; ++x)
                  want[size_t((row * 3 + c) * P * P + y * P + x)] =
                      px[size_t((c * h + gy * P + y) * w + gx * P + x)];
          }
    base += gh * gw;
    // Preprocessing: the host's patches against the processor's (PIL's integer resampling is
    // reproduced exactly).
    auto got = core::merge_window_patches(core::load_image(files[i]), opt);
    ASSERT_EQ(got.grid_thw[1], gh);
    ASSERT_EQ(got.grid_thw[2], gw);
    EXPECT_LT(max_abs_diff(got.values, want), 1e-5);
    patches.push_back(std::move(want));
  }
  for (size_t i = 0; i < patches.size(); ++i) {
    auto shape = ref.tensors().at("pixel_values_" + std::to_string(i)).shape;
    inputs.push_back({patches[i], int(shape[1] / P), int(shape[2] / P)});
  }
  // The tower over all images in one batch, rows compared in the reference's raster order.
  auto tower_out = ref.values<float>("vision_out");     // [patches, 32]
  auto features = ref.values<float>("image_features");  // [tokens, 64]
  sdk::Graph g(device);
  sdk::Tensor all = vision.tower(g, inputs);
  auto t = g.download(all);
  // The MLP in blocks of 7 rows (as a device with a small binding limit runs large images).
  vision.set_mlp_block_rows(7);
  auto blocked = g.download(vision.tower(g, inputs));
  vision.set_mlp_block_rows(0);
  std::vector<std::shared_ptr<sdk::Readback>> f;
  int64_t at = 0;
  for (const auto& in : inputs) {
    const int64_t n = int64_t(in.grid_h) * in.grid_w;
    f.push_back(g.download(vision.project(g, all.slice(0, at, n), in.grid_h, in.grid_w)));
    at += n;
  }
  g.run();
  auto tv = t->as<float>();
  ASSERT_EQ(int64_t(tv.size()), int64_t(raster_row.size()) * D);
  double worst = 0;
  for (size_t r = 0; r < raster_row.size(); ++r)
    worst = std::max(worst, max_abs_diff(tv.subspan(r * D, D), std::span(tower_out).subspan(
                                                                   size_t(raster_row[r] * D), D)));
  EXPECT_LT(worst, 2e-4) << "tower";
  EXPECT_LT(max_abs_diff(blocked->as<float>(), tv), 1e-6) << "MLP in row blocks";
  std::vector<float> got_features;
  for (auto& d : f) {
    auto v = d->as<float>();
    got_features.insert(got_features.end(), v.begin(), v.end());
  }
  ASSERT_EQ(got_features.size(), features.size());
  EXPECT_LT(max_abs_diff(got_features, features), 2e-4) << "features";
}

// f16 KV cache against transformers' f32. These checkpoints' logits span about +-7 (std 1.6:
// weights of std 0.2 keep the greedy continuations varied); f16 rounding of keys and values
// moves them by up to ~1e-3 of that.
constexpr double kLogitTolerance = 1e-2;

TEST_P(Case, LogitsAndGreedyMatchTransformers) {
  const auto [model, which] = GetParam();
  expect_matches_reference(dir(model), std::string("reference_") + which + ".safetensors",
                           case_images(which), kLogitTolerance);
}

TEST_P(Case, CollapsedPlaceholdersAreExpanded) {
  // One [IMG] per image (the chat template's form) expands to the rows, [IMG_BREAK]s and
  // [IMG_END] the processor writes.
  const auto [model, which] = GetParam();
  core::SafetensorsFile ref(dir(model) + "/reference_" + which + ".safetensors");
  auto ids = ref.values<int32_t>("input_ids");
  auto want = ref.values<float>("logits");
  std::vector<int32_t> collapsed;
  bool in_run = false;
  for (int32_t id : ids) {
    if (id == kImg || id == kBreak) {
      if (!in_run) collapsed.push_back(kImg);
      in_run = true;
    } else if (id == kEnd) {
      in_run = false;
    } else {
      collapsed.push_back(id);
    }
  }
  Outcome got = run_with_images(dir(model), case_images(which), collapsed, {}, 0);
  EXPECT_EQ(got.res.prompt_tokens, int64_t(ids.size()));
  EXPECT_LE(max_abs_diff(got.logits, want), kLogitTolerance);
}

INSTANTIATE_TEST_SUITE_P(Pixtral, Case,
                         ::testing::Combine(::testing::Values("llava_pixtral", "mistral3"),
                                            ::testing::Values("one_image", "two_images")));

class Model : public ::testing::TestWithParam<const char*> {};

TEST_P(Model, ChatWithImagesThroughTheTemplate) {
  // Mistral's [INST] format with image parts: the template writes [IMG] per image, the host
  // expands them as PixtralProcessor does; transformers ran the same text.
  expect_chat_matches_reference(dir(GetParam()), case_images("two_images"), "Answer briefly.",
                                "Compare the two pictures.", kLogitTolerance);
}

TEST_P(Model, FeatureAndPrefixCachesReuseImages) {
  expect_caches_reuse_images(dir(GetParam()), case_images("two_images"));
}

INSTANTIATE_TEST_SUITE_P(Pixtral, Model, ::testing::Values("llava_pixtral", "mistral3"));

TEST(PixtralErrors, LlavaWithAnotherTowerNamesTheRoutes) {
  auto d = with_config(dir("llava_pixtral"),
                       [](nlohmann::json& c) { c["vision_config"]["model_type"] = "dinov2"; });
  try {
    Engine::load(d.string());
    FAIL() << "loaded";
  } catch (const Error& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("vision_config.model_type=dinov2"), std::string::npos) << m;
    EXPECT_NE(m.find("vision_config.model_type=pixtral -> pixtral"), std::string::npos) << m;
  }
  fs::remove_all(d);
}

TEST(PixtralErrors, DefaultFeatureStrategyIsRefused) {
  auto d = with_config(dir("llava_pixtral"),
                       [](nlohmann::json& c) { c["vision_feature_select_strategy"] = "default"; });
  try {
    Engine::load(d.string());
    FAIL() << "loaded";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("vision_feature_select_strategy"), std::string::npos)
        << e.what();
  }
  fs::remove_all(d);
}

TEST(PixtralErrors, FeatureLayerOutsideTheTower) {
  auto d = with_config(dir("mistral3"), [](nlohmann::json& c) { c["vision_feature_layer"] = -4; });
  try {
    Engine::load(d.string());
    FAIL() << "loaded";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("vision_feature_layer -4"), std::string::npos) << e.what();
  }
  fs::remove_all(d);
}

TEST(PixtralErrors, SeveralFeatureLayersNeedAWiderProjector) {
  // LLaVA concatenates the hidden states of a list of layers: the checkpoint's projector takes
  // one layer's width, and the error says which shape it expected.
  auto d = with_config(dir("llava_pixtral"), [](nlohmann::json& c) {
    c["vision_feature_layer"] = {-2, -1};
  });
  try {
    Engine::load(d.string());
    FAIL() << "loaded";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("linear_1.weight has shape [64, 32], expected [64, 64]"),
              std::string::npos)
        << e.what();
  }
  fs::remove_all(d);
}

TEST(PixtralErrors, BrokenImageRunsAndCountsAreInputErrors) {
  core::SafetensorsFile ref(dir("mistral3") + "/reference_one_image.safetensors");
  auto ids = ref.values<int32_t>("input_ids");
  auto engine = Engine::load(dir("mistral3"));
  Request r;
  r.images.push_back({.source = case_images("one_image")[0]});
  r.max_tokens = 1;
  // A row short by one [IMG]: neither the full layout nor one placeholder.
  r.prompt_ids = ids;
  r.prompt_ids.erase(std::find(r.prompt_ids.begin(), r.prompt_ids.end(), kImg));
  EXPECT_THROW(engine->generate(r), InputError);
  // Two placeholders for one image.
  r.prompt_ids = {1, 20, kImg, 21, kImg, 22};
  EXPECT_THROW(engine->generate(r), InputError);
  // An undecodable image names itself.
  r.prompt_ids = {1, kImg, 20};
  r.images = {{.source = "", .bytes = {'n', 'o', 't', 'a', 'n', 'i', 'm', 'a', 'g', 'e'}}};
  try {
    engine->generate(r);
    FAIL() << "generated";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("image 1"), std::string::npos) << e.what();
  }
  // The engine still works afterwards.
  r.prompt_ids = ids;
  r.images = {{.source = case_images("one_image")[0]}};
  EXPECT_NO_THROW(engine->generate(r));
}

TEST(PixtralPreprocess, LongestEdgeResizeAsTheProcessor) {
  // get_resize_output_image_size: floor when shrinking, then up to multiples of the patch.
  EXPECT_EQ(core::longest_edge_resize(100, 150, 64, 8), std::make_pair(48, 64));
  EXPECT_EQ(core::longest_edge_resize(47, 61, 64, 16), std::make_pair(48, 64));
  EXPECT_EQ(core::longest_edge_resize(120, 33, 64, 16), std::make_pair(64, 32));
  EXPECT_EQ(core::longest_edge_resize(768, 1024, 1024, 16), std::make_pair(768, 1024));
  EXPECT_EQ(core::longest_edge_resize(768, 1024, 1540, 28), std::make_pair(784, 1036));
  EXPECT_EQ(core::longest_edge_resize(3000, 10, 1024, 16), std::make_pair(1024, 16));
}

}  // namespace
}  // namespace vkllm::test
