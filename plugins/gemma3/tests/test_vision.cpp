// Gemma 3's image path against transformers (tests/data/gemma3/gemma3, make_gemma3.py):
// preprocessing (Gemma3ImageProcessor: bilinear to 112x112, rescale, mean/std 0.5), the SigLIP
// tower's output and the projected features per image, then logits of every position and the
// greedy continuation with one image and with two (bidirectional attention within each image
// only), also when prefill chunks cut through the images and with collapsed placeholders.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <cmath>
#include <span>

#include "core/json_file.h"
#include "core/vision/image.h"
#include "core/vision/preprocess.h"
#include "core/vision/prompt.h"
#include "core/weights/safetensors.h"
#include "core/weights/weight_store.h"
#include "registry/registry.h"
#include "sdk/vk/graph.h"
#include "vision.h"
#include "vkllm/engine.h"

namespace vkllm::test {
namespace {

std::string vlm_dir() { return std::string(VKLLM_TEST_DATA) + "/gemma3/gemma3"; }

std::vector<std::string> case_images(const std::string& c) {
  std::string d = std::string(VKLLM_TEST_DATA) + "/images/";
  if (c == "one_image") return {d + "rgba_150x100.png"};
  return {d + "rgb_61x47.png", d + "photo_160x120.jpg"};
}

double max_abs_diff(std::span<const float> a, std::span<const float> b) {
  double m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    m = std::max(m, std::fabs(double(a[i]) - double(b[i])));
  return m;
}

nlohmann::json normalized_config() {
  auto raw = core::read_json_file(vlm_dir() + "/config.json");
  const auto& reg = registry::Registry::builtin();
  return reg.normalize(raw, reg.route(raw, vlm_dir()), vlm_dir());
}

class Case : public ::testing::TestWithParam<const char*> {};

TEST_P(Case, PixelsTowerAndFeaturesMatchTransformers) {
  const std::string which = GetParam();
  auto config = normalized_config();
  auto device = sdk::Device::create();
  core::WeightStore store(vlm_dir(), config, device);
  gemma3::Vision vision(gemma3::VisionConfig::parse(config), store, "", 64);
  auto opt = core::patch_options(vision.config().spec(), vlm_dir());

  core::SafetensorsFile ref(vlm_dir() + "/reference_" + which + ".safetensors");
  auto pixels = ref.values<float>("pixel_values");  // [images, 3, 112, 112]
  auto tower_out = ref.values<float>("vision_out");  // [images, 64, 32]
  auto features = ref.values<float>("image_features");  // [images, 16, 64]
  auto files = case_images(which);
  const int64_t S = 112, P = 14, G = S / P, cols = 3 * P * P;
  for (size_t i = 0; i < files.size(); ++i) {
    SCOPED_TRACE(files[i]);
    // Preprocessing: the host's raster patches against the reference's [3, 112, 112].
    auto patches = core::merge_window_patches(core::load_image(files[i]), opt);
    ASSERT_EQ(patches.rows, G * G);
    ASSERT_EQ(patches.cols, cols);
    std::vector<float> want(size_t(G * G * cols));
    const float* px = pixels.data() + i * 3 * S * S;
    for (int64_t gy = 0; gy < G; ++gy)
      for (int64_t gx = 0; gx < G; ++gx)
        for (int64_t c = 0; c < 3; ++c)
          for (int64_t y = 0; y < P; ++y)
            for (int64_t x = 0; x < P; ++x)
              want[size_t(((gy * G + gx) * 3 + c) * P * P + y * P + x)] =
                  px[(c * S + gy * P + y) * S + gx * P + x];
    // PIL's integer resampling is reproduced exactly; JPEG decoding may differ by a level.
    EXPECT_LT(max_abs_diff(patches.values, want), files[i].ends_with(".jpg") ? 0.1 : 1e-5);

    // The tower and the projector on the reference's own pixels.
    plugin::ImagePatches img{want, G * G, cols, {1, int(G), int(G)}};
    sdk::Graph g(device);
    auto t = g.download(vision.tower(g, img));
    auto f = g.download(vision.encode(g, img));
    g.run();
    EXPECT_LT(max_abs_diff(t->as<float>(), std::span(tower_out).subspan(i * 64 * 32, 64 * 32)), 2e-4);
    EXPECT_LT(max_abs_diff(f->as<float>(), std::span(features).subspan(i * 16 * 64, 16 * 64)), 2e-4);
  }
}

struct Outcome {
  std::vector<float> logits;
  std::vector<int32_t> greedy;
};

Outcome run(const std::string& which, const std::vector<int32_t>& ids, EngineOptions o = {},
            int n = 8) {
  auto engine = Engine::load(vlm_dir(), o);
  Request r;
  r.prompt_ids = ids;
  for (const auto& f : case_images(which)) r.images.push_back({.source = f});
  r.prompt_logits = true;
  r.sampling.temperature = 0.0f;
  r.max_tokens = n;
  r.ignore_eos = true;
  auto res = engine->generate(r);
  return {res.prompt_logits, res.ids};
}

// f16 KV cache against transformers' f32.
constexpr double kLogitTolerance = 5e-3;

TEST_P(Case, LogitsAndGreedyMatchTransformers) {
  const std::string which = GetParam();
  core::SafetensorsFile ref(vlm_dir() + "/reference_" + which + ".safetensors");
  auto ids = ref.values<int32_t>("input_ids");
  auto want = ref.values<float>("logits");
  auto greedy = ref.values<int32_t>("greedy");
  Outcome got = run(which, ids);
  ASSERT_EQ(got.logits.size(), want.size());
  EXPECT_LE(max_abs_diff(got.logits, want), kLogitTolerance);
  EXPECT_EQ(got.greedy, greedy);
  // Prefill chunks of 5 tokens cut through every image: the runs are kept whole.
  got = run(which, ids, {.prefill_chunk = 5});
  EXPECT_LE(max_abs_diff(got.logits, want), kLogitTolerance) << "chunks of 5";
  EXPECT_EQ(got.greedy, greedy) << "chunks of 5";
}

TEST_P(Case, CollapsedPlaceholdersAreExpanded) {
  // One <image_soft_token> per image (between <start_of_image> and <end_of_image>) expands to
  // the image's 16 tokens.
  const std::string which = GetParam();
  core::SafetensorsFile ref(vlm_dir() + "/reference_" + which + ".safetensors");
  auto ids = ref.values<int32_t>("input_ids");
  auto want = ref.values<float>("logits");
  std::vector<int32_t> collapsed;
  for (size_t i = 0; i < ids.size(); ++i)
    if (ids[i] != 299 || i == 0 || ids[i - 1] != 299) collapsed.push_back(ids[i]);
  Outcome got = run(which, collapsed, {}, 0);
  EXPECT_LE(max_abs_diff(got.logits, want), kLogitTolerance);
}

INSTANTIATE_TEST_SUITE_P(Gemma3Vision, Case, ::testing::Values("one_image", "two_images"));

TEST(Gemma3Vision, ImagesSeeOnlyTheirOwnTokens) {
  // Two images: the first image's tokens must not see the second's. Compare the logits at the
  // first image's positions with a run of the prompt cut after the first image (which cannot see
  // the second image at all).
  core::SafetensorsFile ref(vlm_dir() + "/reference_two_images.safetensors");
  auto ids = ref.values<int32_t>("input_ids");
  auto want = ref.values<float>("logits");
  const size_t cut = 5 + 1 + 20 + 4;  // bos + text, \n\n <boi> 16 <eoi> \n\n, text
  auto engine = Engine::load(vlm_dir());
  Request r;
  r.prompt_ids.assign(ids.begin(), ids.begin() + long(cut));
  r.images.push_back({.source = case_images("two_images")[0]});
  r.prompt_logits = true;
  r.max_tokens = 0;
  auto res = engine->generate(r);
  const size_t vocab = want.size() / ids.size();
  ASSERT_EQ(res.prompt_logits.size(), cut * vocab);
  EXPECT_LE(max_abs_diff(res.prompt_logits, std::span(want).first(cut * vocab)), kLogitTolerance);
}

TEST(Gemma3Vision, PanAndScanMatchesTheProcessor) {
  // do_pan_and_scan (crops from 32 px): a landscape photo gives 2 crops, a tall image 3; the
  // processor's text for each ("Here is the original image ... and here are some crops ...")
  // and the crops' pixels reach the same logits as transformers'.
  const std::string cases = std::string(VKLLM_TEST_DATA) + "/gemma3/gemma3_pan_and_scan";
  core::SafetensorsFile ref(cases + "/reference.safetensors");
  auto want = ref.values<float>("logits");
  auto greedy = ref.values<int32_t>("greedy");
  const size_t tokens = ref.values<int32_t>("input_ids").size();
  std::filesystem::path dir = std::filesystem::temp_directory_path() /
                              ("vkllm-gemma3-pas-" + std::to_string(::getpid()));
  std::filesystem::copy(vlm_dir(), dir, std::filesystem::copy_options::recursive);
  std::filesystem::copy_file(cases + "/preprocessor_config.json", dir / "preprocessor_config.json",
                             std::filesystem::copy_options::overwrite_existing);
  auto engine = Engine::load(dir.string());
  Request r;
  r.prompt = "Compare <start_of_image> with <start_of_image>.";
  const std::string images = std::string(VKLLM_TEST_DATA) + "/images/";
  r.images = {{.source = images + "photo_160x120.jpg"}, {.source = images + "rgb_33x120.bmp"}};
  r.prompt_logits = true;
  r.sampling.temperature = 0.0f;
  r.max_tokens = int(greedy.size());
  r.ignore_eos = true;
  auto res = engine->generate(r);
  std::filesystem::remove_all(dir);
  EXPECT_EQ(res.prompt_tokens, int64_t(tokens));
  EXPECT_EQ(res.images_encoded, 7);  // two images and their five crops
  ASSERT_EQ(res.prompt_logits.size(), want.size());
  // JPEG decoding may differ from PIL's by a level in a few pixels.
  EXPECT_LE(max_abs_diff(res.prompt_logits, want), 2e-2);
  EXPECT_EQ(res.ids, greedy);
}

TEST(Gemma3Vision, CachesReuseImagesAndTheirBidirectionalTokens) {
  // The same image prompt again: the feature cache skips the tower and the prefix cache the
  // image's tokens (computed with the whole image visible), and the logits equal a cold run.
  core::SafetensorsFile ref(vlm_dir() + "/reference_one_image.safetensors");
  auto ids = ref.values<int32_t>("input_ids");
  auto engine = Engine::load(vlm_dir());
  Request r;
  r.prompt_ids = ids;
  r.images = {{.source = case_images("one_image")[0]}};
  r.max_tokens = 4;
  r.sampling.temperature = 0.0f;
  r.ignore_eos = true;
  auto cold = engine->generate(r);
  auto warm = engine->generate(r);
  EXPECT_EQ(warm.ids, cold.ids);
  EXPECT_EQ(warm.images_encoded, 0);
  EXPECT_EQ(warm.cached_tokens, int64_t(ids.size()) - 1);
  // A follow-up with a different last token reuses everything before it.
  r.prompt_ids.back() = 77;
  auto follow = engine->generate(r);
  EXPECT_EQ(follow.cached_tokens, int64_t(ids.size()) - 1);
  auto fresh = Engine::load(vlm_dir(), {.prefix_cache = false});
  EXPECT_EQ(fresh->generate(r).ids, follow.ids);
}

TEST(Gemma3Vision, BadConfigsNameTheKey) {
  namespace fs = std::filesystem;
  auto raw = core::read_json_file(vlm_dir() + "/config.json");
  auto expect_error = [&](const std::function<void(nlohmann::json&)>& change,
                          const std::string& needle) {
    fs::path dir = fs::temp_directory_path() / ("vkllm-gemma3-bad-" + std::to_string(::getpid()));
    fs::copy(vlm_dir(), dir, fs::copy_options::recursive | fs::copy_options::overwrite_existing);
    nlohmann::json c = raw;
    change(c);
    std::ofstream(dir / "config.json") << c.dump();
    try {
      Engine::load(dir.string());
      ADD_FAILURE() << "no error; expected one naming " << needle;
    } catch (const ModelError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
    fs::remove_all(dir);
  };
  expect_error([](auto& c) { c["mm_tokens_per_image"] = 15; }, "mm_tokens_per_image");
  expect_error([](auto& c) { c["vision_config"]["patch_size"] = 15; }, "patch_size");
  expect_error([](auto& c) { c["vision_config"]["hidden_act"] = "swish"; }, "hidden_act");
  expect_error([](auto& c) { c["text_config"]["sliding_window_pattern"] = 0; },
               "sliding_window_pattern");
  expect_error([](auto& c) { c["text_config"]["head_dim"] = "32"; }, "head_dim");
  expect_error([](auto& c) { c["text_config"]["hidden_activation"] = "relu"; }, "relu");
}

TEST(Gemma3Vision, BadInputsAreClearErrors) {
  auto engine = Engine::load(vlm_dir());
  Request r;
  r.prompt_ids = {2, 10, 297, 299, 298, 10, 50};
  r.max_tokens = 1;
  // A placeholder run without an image.
  try {
    engine->generate(r);
    ADD_FAILURE() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("placeholder"), std::string::npos) << e.what();
  }
  // An undecodable image names itself.
  r.images.push_back({.source = "data:image/png;base64,AAAA"});
  EXPECT_THROW(engine->generate(r), InputError);
  // A run of the wrong length.
  r.images = {{.source = case_images("one_image")[0]}};
  r.prompt_ids = {2, 10, 297, 299, 299, 299, 298, 10, 50};
  try {
    engine->generate(r);
    ADD_FAILURE() << "expected an InputError";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("needs 16 placeholder tokens"), std::string::npos)
        << e.what();
  }
}

}  // namespace
}  // namespace vkllm::test
