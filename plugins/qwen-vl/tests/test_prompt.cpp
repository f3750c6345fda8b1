// Image prompts on the host: placeholder expansion and M-RoPE positions against the
// reference's input_ids and get_rope_index, and bad input failing with clear errors.
#include <gtest/gtest.h>

#include <fstream>

#include "core/vision/image.h"
#include "core/vision/prompt.h"
#include "reference.h"
#include "sdk/base/error.h"
#include "vkllm/engine.h"

namespace vkllm::test {
namespace {

plugin::VisionSpec spec() {
  return {.image_token = 297, .vision_start = 298, .vision_end = 299, .mrope = true};
}

core::PatchOptions options() {
  core::PatchOptions o;
  o.min_pixels = 56 * 56;
  o.max_pixels = 28 * 28 * 16;
  return o;
}

TEST(ImagePrompt, ExpansionAndPositionsMatchTheReference) {
  for (const char* which : kCases) {
    core::SafetensorsFile ref(qwen_vl_dir("qwen2_vl") + "/reference_" + std::string(which) +
                              ".safetensors");
    auto ids = ref.values<int32_t>("input_ids");
    auto pos = ref.values<int32_t>("position_ids");
    std::vector<core::Image> images;
    for (const auto& f : case_images(which)) images.push_back(core::load_image(f));
    auto p = core::layout_images(ids, images, spec(), options(), 1);
    EXPECT_EQ(p.ids, ids) << which;
    EXPECT_EQ(p.positions, pos) << which;
    ASSERT_EQ(p.next.size(), ids.size());
    EXPECT_EQ(p.next.back(), *std::max_element(pos.begin(), pos.end()) + 1);
    // Image tokens carry content keys; text tokens their ids.
    for (size_t i = 0; i < ids.size(); ++i) {
      if (ids[i] == 297)
        EXPECT_NE(p.keys[i], 297u);
      else
        EXPECT_EQ(p.keys[i], uint64_t(ids[i]));
    }
  }
}

TEST(ImagePrompt, PromptWithoutPlaceholdersGetsThemAfterBos) {
  std::vector<core::Image> images{core::load_image(case_images("one_image")[0])};
  auto p = core::layout_images({1, 5, 6}, images, spec(), options(), 1);
  ASSERT_GT(p.images[0].tokens, 1);
  EXPECT_EQ(p.ids[0], 1);
  EXPECT_EQ(p.ids[1], 298);
  EXPECT_EQ(p.images[0].first, 2);
  EXPECT_EQ(p.ids[size_t(2 + p.images[0].tokens)], 299);
  EXPECT_EQ(p.ids.back(), 6);
}

TEST(ImagePrompt, MismatchesAreClearErrors) {
  std::vector<core::Image> one{core::load_image(case_images("one_image")[0])};
  // Two runs, one image.
  EXPECT_THROW(core::layout_images({1, 297, 5, 297}, one, spec(), options(), 1), InputError);
  // A run of the wrong length.
  try {
    core::layout_images({1, 297, 297, 297}, one, spec(), options(), 1);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("needs 12 placeholder tokens"), std::string::npos)
        << e.what();
  }
  // One run, two images.
  std::vector<core::Image> two{one[0], one[0]};
  EXPECT_THROW(core::layout_images({1, 297, 5}, two, spec(), options(), 1), InputError);
}

TEST(ImagePrompt, BadImagesAndTextModelsFailCleanly) {
  auto engine = Engine::load(qwen_vl_dir("qwen2_vl"));
  Request r;
  r.prompt_ids = {1, 297, 5};
  r.max_tokens = 1;
  r.images.push_back({"/nonexistent/cat.png", {}});
  EXPECT_THROW(engine->generate(r), InputError);
  r.images = {{"upload.png", {0x89, 'P', 'N', 'G', 1, 2, 3}}};
  try {
    engine->generate(r);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("upload.png"), std::string::npos) << e.what();
  }
  // Placeholders without images.
  r.images.clear();
  EXPECT_THROW(engine->generate(r), InputError);
  // The engine still works after the errors.
  r.images = {{case_images("one_image")[0], {}}};
  EXPECT_EQ(engine->generate(r).generated_tokens, 1);
  // A prompt whose images overflow the context fails before the tower runs.
  EngineOptions small;
  small.context = 16;
  auto tight = Engine::load(qwen_vl_dir("qwen2_vl"), small);
  r.images = {{case_images("two_images")[0], {}}, {case_images("two_images")[1], {}}};
  r.prompt_ids = {1, 297, 5, 297, 6};
  try {
    tight->generate(r);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("16 of them for 2 image(s)); the context is 16"),
              std::string::npos)
        << e.what();
  }
  // max_image_pixels lowers the processor's limit: the 150x100 image becomes 56x28 pixels, 2
  // tokens.
  EngineOptions few;
  few.max_image_pixels = 56 * 56;
  Request one;
  one.prompt_ids = {1, 297, 5};
  one.images = {{case_images("one_image")[0], {}}};
  one.max_tokens = 1;
  EXPECT_EQ(Engine::load(qwen_vl_dir("qwen2_vl"), few)->generate(one).prompt_tokens, 2 + 2);
  // A text-only model refuses images.
  auto text = Engine::load(std::string(VKLLM_TEST_DATA) + "/llama/llama3");
  Request t;
  t.prompt_ids = {1, 5};
  t.images = {{case_images("one_image")[0], {}}};
  try {
    text->generate(t);
    FAIL();
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("takes no images"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vkllm::test
