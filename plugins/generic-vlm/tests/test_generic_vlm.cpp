// generic-vlm against transformers (tests/data/generic_vlm, make_generic_vlm.py): llava with a
// CLIP tower (feature layer -2, "default"), llava with SigLIP ("full", two feature layers, a
// Qwen2 text model whose q/k/v biases come from the registry's defaults), llava_next (AnyRes
// tiles, unpadding, image_newline) and llava around a Gemma 3 text model (gemma3_text's
// structure from the registry): the processors' pixels, each image's features, then logits
// of every prompt position and the greedy continuation through the host (processor-expanded
// ids, collapsed placeholders, chunked prefill, the chat template, caches); the registry's
// fallback for unknown model types and its errors.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
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
#include "sdk/nn/anyres.h"
#include "sdk/vk/graph.h"
#include "vision.h"
#include "vkllm/engine.h"

namespace vkllm::test {
namespace {
namespace fs = std::filesystem;

constexpr int32_t kImage = 10;

std::string dir(const std::string& model) {
  return std::string(VKLLM_TEST_DATA) + "/generic_vlm/" + model;
}

std::vector<std::string> case_images(const std::string& c) {
  std::string d = std::string(VKLLM_TEST_DATA) + "/images/";
  if (c == "one_image") return {d + "rgba_150x100.png"};
  return {d + "rgb_61x47.png", d + "rgb_33x120.bmp"};
}

nlohmann::json normalized_config(const std::string& folder) {
  auto raw = core::read_json_file(folder + "/config.json");
  const auto& reg = registry::Registry::builtin();
  return reg.normalize(raw, reg.route(raw, folder), folder);
}

using Param = std::tuple<const char*, const char*>;  // model, case
class Case : public ::testing::TestWithParam<Param> {};

TEST_P(Case, PixelsAndFeaturesMatchTransformers) {
  const auto [model, which] = GetParam();
  auto config = normalized_config(dir(model));
  auto device = sdk::Device::create();
  core::WeightStore store(dir(model), config, device);
  generic_vlm::Vision vision(generic_vlm::VisionConfig::parse(config), store, "", 64);
  const auto spec = vision.config().spec();
  auto opt = core::patch_options(spec, dir(model));
  const int64_t P = spec.patch_size, cols = 3 * P * P;

  core::SafetensorsFile ref(dir(model) + "/reference_" + which + ".safetensors");
  auto features = ref.values<float>("image_features");  // [tokens of all images, 64]
  auto files = case_images(which);
  std::vector<float> got_features;
  sdk::Graph g(device);
  std::vector<std::shared_ptr<sdk::Readback>> out;
  std::vector<core::Patches> kept;
  for (size_t i = 0; i < files.size(); ++i) {
    SCOPED_TRACE(files[i]);
    // The processor's sub-images [n, 3, h, w] as raster-order patches, sub-image by sub-image.
    const std::string key = "pixel_values_" + std::to_string(i);
    auto shape = ref.tensors().at(key).shape;
    const int64_t n = shape[0], h = shape[2], w = shape[3], gh = h / P, gw = w / P;
    auto px = ref.values<float>(key);
    std::vector<float> want;
    for (int64_t s = 0; s < n; ++s)
      for (int64_t gy = 0; gy < gh; ++gy)
        for (int64_t gx = 0; gx < gw; ++gx)
          for (int64_t c = 0; c < 3; ++c)
            for (int64_t y = 0; y < P; ++y)
              for (int64_t x = 0; x < P; ++x)
                want.push_back(px[size_t(((s * 3 + c) * h + gy * P + y) * w + gx * P + x)]);
    auto got = core::merge_window_patches(core::load_image(files[i]), opt);
    ASSERT_EQ(got.grid_thw[0], n);
    ASSERT_EQ(got.rows * cols, int64_t(want.size()));
    EXPECT_LT(max_abs_diff(got.values, want), 1e-5) << "preprocessing";
    kept.push_back(std::move(got));
    out.push_back(g.download(vision.encode(g, kept.back().view())));
  }
  g.run();
  for (auto& d : out) {
    auto v = d->as<float>();
    got_features.insert(got_features.end(), v.begin(), v.end());
  }
  ASSERT_EQ(got_features.size(), features.size());
  EXPECT_LT(max_abs_diff(got_features, features), 2e-4) << "features";
}

// f16 KV cache against transformers' f32 (logits within about +-7 for these checkpoints).
constexpr double kLogitTolerance = 1e-2;

TEST_P(Case, LogitsAndGreedyMatchTransformers) {
  const auto [model, which] = GetParam();
  expect_matches_reference(dir(model), std::string("reference_") + which + ".safetensors",
                           case_images(which), kLogitTolerance);
}

TEST_P(Case, CollapsedPlaceholdersAreExpanded) {
  // One <image> per image (the chat template's form) expands to the processor's count.
  const auto [model, which] = GetParam();
  core::SafetensorsFile ref(dir(model) + "/reference_" + which + ".safetensors");
  auto ids = ref.values<int32_t>("input_ids");
  auto want = ref.values<float>("logits");
  std::vector<int32_t> collapsed;
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] != kImage || i == 0 || ids[i - 1] != kImage) collapsed.push_back(ids[i]);
  ASSERT_LT(collapsed.size(), ids.size());
  Outcome got = run_with_images(dir(model), case_images(which), collapsed, {}, 0);
  EXPECT_EQ(got.res.prompt_tokens, int64_t(ids.size()));
  EXPECT_LE(max_abs_diff(got.logits, want), kLogitTolerance);
}

INSTANTIATE_TEST_SUITE_P(GenericVlm, Case,
                         ::testing::Combine(::testing::Values("llava_clip", "llava_siglip",
                                                              "llava_next", "llava_gemma3"),
                                            ::testing::Values("one_image", "two_images")));

class Model : public ::testing::TestWithParam<const char*> {};

TEST_P(Model, ChatWithImagesThroughTheTemplate) {
  // llava-1.5's "USER: <image>\n... ASSISTANT:" format: the template writes <image> per image,
  // the host expands them as the processor does; transformers ran the same text.
  expect_chat_matches_reference(dir(GetParam()), case_images("two_images"), "Answer briefly.",
                                "Compare the two pictures.", kLogitTolerance);
}

TEST_P(Model, FeatureAndPrefixCachesReuseImages) {
  expect_caches_reuse_images(dir(GetParam()), case_images("two_images"));
}

INSTANTIATE_TEST_SUITE_P(GenericVlm, Model,
                         ::testing::Values("llava_clip", "llava_siglip", "llava_next",
                                           "llava_gemma3"));

TEST(GenericVlmWeights, ChannelsLastPatchKernelOfMlxConversions) {
  // mlx-vlm stores the patch convolution [out, P, P, C]; the same weights give the same logits.
  fs::path d = with_config(dir("llava_clip"), [](nlohmann::json&) {});
  const std::string file = (d / "model.safetensors").string();
  std::vector<std::vector<float>> data;
  std::vector<core::StWrite> out;
  {
    core::SafetensorsFile st(dir("llava_clip") + "/model.safetensors");
    for (const auto& [name, t] : st.tensors()) {
      ASSERT_EQ(t.dtype, core::StDtype::F32) << name;
      data.push_back(st.values<float>(name));
      std::vector<int64_t> shape = t.shape;
      if (name.find("patch_embedding.weight") != std::string::npos) {
        const int64_t o = shape[0], c = shape[1], p = shape[2];
        std::vector<float> moved(data.back().size());
        for (int64_t i = 0; i < o; ++i)
          for (int64_t ch = 0; ch < c; ++ch)
            for (int64_t y = 0; y < p; ++y)
              for (int64_t x = 0; x < p; ++x)
                moved[size_t(((i * p + y) * p + x) * c + ch)] =
                    data.back()[size_t(((i * c + ch) * p + y) * p + x)];
        data.back() = std::move(moved);
        shape = {o, p, p, c};
      }
      out.push_back({name, core::StDtype::F32, shape, nullptr, 0});
    }
  }
  for (size_t i = 0; i < out.size(); ++i) {
    out[i].data = data[i].data();
    out[i].bytes = data[i].size() * 4;
  }
  core::write_safetensors(file, out);
  core::SafetensorsFile ref(dir("llava_clip") + "/reference_one_image.safetensors");
  Outcome got = run_with_images(d.string(), case_images("one_image"),
                                ref.values<int32_t>("input_ids"), {}, 0);
  EXPECT_LE(max_abs_diff(got.logits, ref.values<float>("logits")), kLogitTolerance);
  fs::remove_all(d);
}

TEST(GenericVlmFallback, UnknownTypeWithKnownTowerAndTextLoadsAsGenericVlm) {
  // A fine-tune that renamed its model_type: the registry guesses generic-vlm from its towers,
  // with LLaVA's defaults, and the answer is the same as llava's.
  auto d =
      with_config(dir("llava_clip"), [](nlohmann::json& c) { c["model_type"] = "my_llava_tune"; });
  const auto& reg = registry::Registry::builtin();
  auto raw = core::read_json_file((d / "config.json").string());
  auto e = reg.route(raw, "config.json");
  EXPECT_TRUE(e.guessed);
  EXPECT_EQ(e.family, "generic-vlm");
  EXPECT_EQ(e.rule, "vision_config.model_type=clip_vision_model, text_config.model_type=llama");
  core::SafetensorsFile ref(dir("llava_clip") + "/reference_one_image.safetensors");
  auto want = ref.values<float>("logits");
  Outcome got = run_with_images(d.string(), case_images("one_image"),
                                ref.values<int32_t>("input_ids"), {}, 0);
  EXPECT_LE(max_abs_diff(got.logits, want), kLogitTolerance);
  fs::remove_all(d);
}

TEST(GenericVlmFallback, UnknownTowerOrTextIsAnErrorListingTheKnownTypes) {
  auto d = with_config(dir("llava_clip"), [](nlohmann::json& c) {
    c["model_type"] = "my_vlm";
    c["vision_config"]["model_type"] = "dinov2";
  });
  std::string m = load_error(d);
  EXPECT_NE(m.find("unknown model_type 'my_vlm'; known model types:"), std::string::npos) << m;
  EXPECT_NE(m.find("llava_next"), std::string::npos) << m;
  EXPECT_NE(m.find("vision_config.model_type of clip_vision_model, siglip_vision_model (it is "
                   "dinov2)"),
            std::string::npos)
      << m;
  fs::remove_all(d);
  d = with_config(dir("llava_clip"), [](nlohmann::json& c) {
    c["model_type"] = "my_vlm";
    c["text_config"]["model_type"] = "phi3";
  });
  m = load_error(d);
  EXPECT_NE(
      m.find("text_config.model_type of gemma3_text, llama, mistral, qwen2, qwen3 (it is phi3)"),
      std::string::npos)
      << m;
  fs::remove_all(d);
  // A config without a vision_config is plainly unknown.
  d = with_config(dir("llava_clip"), [](nlohmann::json& c) {
    c["model_type"] = "my_vlm";
    c.erase("vision_config");
  });
  m = load_error(d);
  EXPECT_NE(m.find("unknown model_type 'my_vlm'"), std::string::npos) << m;
  fs::remove_all(d);
}

TEST(GenericVlmErrors, LlavaWithAnUnbuildableTextModel) {
  auto d = with_config(dir("llava_clip"),
                       [](nlohmann::json& c) { c["text_config"]["model_type"] = "qwen2_vl"; });
  std::string m = load_error(d);
  EXPECT_NE(m.find("text_config.model_type 'qwen2_vl' is not a text model the generic-vlm family "
                   "can build"),
            std::string::npos)
      << m;
  fs::remove_all(d);
}

TEST(GenericVlmErrors, AnyresNeedsWholeTileGrids) {
  // "full" keeps CLIP's class token: each tile would have one feature more than its patch grid.
  auto d = with_config(dir("llava_next"),
                       [](nlohmann::json& c) { c["vision_feature_select_strategy"] = "full"; });
  std::string m = load_error(d);
  EXPECT_NE(m.find("AnyRes needs \"default\""), std::string::npos) << m;
  fs::remove_all(d);
  d = with_config(dir("llava_next"), [](nlohmann::json& c) {
    c["image_grid_pinpoints"] = {{32, 48}};
  });
  m = load_error(d);
  EXPECT_NE(m.find("image_grid_pinpoints: 48x32 is not a multiple of the tower's 32 px"),
            std::string::npos)
      << m;
  fs::remove_all(d);
}

TEST(GenericVlmErrors, FeatureLayerOutsideTheTowerAndBadStrategy) {
  auto d =
      with_config(dir("llava_clip"), [](nlohmann::json& c) { c["vision_feature_layer"] = -5; });
  std::string m = load_error(d);
  EXPECT_NE(m.find("vision_feature_layer -5 is outside the tower's 3 layers"), std::string::npos)
      << m;
  fs::remove_all(d);
  d = with_config(dir("llava_clip"),
                  [](nlohmann::json& c) { c["vision_feature_select_strategy"] = "cls"; });
  m = load_error(d);
  EXPECT_NE(m.find("vision_feature_select_strategy 'cls'"), std::string::npos) << m;
  fs::remove_all(d);
}

TEST(GenericVlmErrors, ProcessorSizeMustFitTheTower) {
  fs::path d = with_config(dir("llava_clip"), [](nlohmann::json&) {});
  auto pp = core::read_json_file((d / "preprocessor_config.json").string());
  pp["crop_size"] = {{"height", 48}, {"width", 48}};
  std::ofstream(d / "preprocessor_config.json") << pp.dump(1);
  // Refused at load, naming the file.
  std::string m = load_error(d);
  EXPECT_NE(m.find("preprocessor_config.json: size 48x48 differs from the 40x40"),
            std::string::npos)
      << m;
  fs::remove_all(d);
}

TEST(GenericVlmPreprocess, ClipResizeAndCropAsTheProcessor) {
  // get_resize_output_image_size(default_to_square=False): the longer side truncated.
  EXPECT_EQ(core::shortest_edge_size(100, 150, 40), std::make_pair(40, 60));
  EXPECT_EQ(core::shortest_edge_size(120, 33, 40), std::make_pair(145, 40));
  EXPECT_EQ(core::shortest_edge_size(47, 61, 336), std::make_pair(336, 436));
  // center_crop of a smaller image: centred on zeros, the odd pixel before.
  core::Image img{3, 2, std::vector<uint8_t>(18, 255)};
  auto c = core::center_crop(img, 4, 6);
  ASSERT_EQ(c.width, 6);
  ASSERT_EQ(c.height, 4);
  auto at = [&](int y, int x) { return c.rgb[(size_t(y) * 6 + size_t(x)) * 3]; };
  EXPECT_EQ(at(0, 0), 0);
  EXPECT_EQ(at(1, 2), 255);  // rows 1-2, columns 2-4 hold the image
  EXPECT_EQ(at(2, 4), 255);
  EXPECT_EQ(at(1, 1), 0);
  EXPECT_EQ(at(3, 2), 0);
}

TEST(GenericVlmPreprocess, AnyresMatchesTheProcessorAtLlavaNextSizes) {
  // llava-v1.6's pinpoints, tiles of 336 px with 24x24 patches: select_best_resolution and
  // LlavaNextProcessor._get_number_of_features (less one for "default"), from transformers.
  const std::vector<std::array<int, 2>> pins = {
      {336, 672}, {672, 336}, {672, 672}, {1008, 336}, {336, 1008}};
  struct Want {
    int h, w, bh, bw;
    int64_t tokens;
  };
  for (const Want& c : std::vector<Want>{{768, 1024, 672, 672, 2340},
                                         {1080, 1920, 672, 672, 1948},
                                         {100, 150, 336, 672, 1464},
                                         {1000, 300, 1008, 336, 2232},
                                         {336, 336, 336, 672, 1176},
                                         {500, 500, 672, 672, 2928},
                                         {47, 61, 336, 672, 1368}}) {
    SCOPED_TRACE(fmt::format("{}x{}", c.w, c.h));
    auto best = nn::anyres_best_resolution(c.h, c.w, pins);
    EXPECT_EQ(best[0], c.bh);
    EXPECT_EQ(best[1], c.bw);
    EXPECT_EQ(nn::anyres_tokens(c.h, c.w, {best[0] / 336, best[1] / 336}, 24, 576, true), c.tokens);
  }
}

}  // namespace
}  // namespace vkllm::test
