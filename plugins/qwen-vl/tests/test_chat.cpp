// Images through the chat template (tests/data/qwen_vl/*/tokenizer.json and its Qwen2-VL-style
// template, tools/fixtures/make_tiny_tokenizer.py): image parts render as
// <|vision_start|><|image_pad|><|vision_end|>, multi-turn chats about an image reuse its KV, and
// the C API takes images.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>

#include "reference.h"
#include "vkllm/engine.h"
#include "vkllm/vkllm.h"

namespace vkllm::test {
namespace {

Request greedy(int n) {
  Request r;
  r.sampling.temperature = 0;
  r.max_tokens = n;
  r.ignore_eos = true;
  return r;
}

TEST(VisionChat, ImagePartsRenderAsPlaceholders) {
  auto engine = Engine::load(qwen_vl_dir("qwen2_vl"));
  std::string img = case_images("one_image")[0];
  Request chat = greedy(6);
  chat.messages = {{"user", "What is in the picture?", {{img, {}}}}};
  auto a = engine->generate(chat);
  // The same prompt written out by hand, placeholder included.
  Request ids = greedy(6);
  ids.prompt_ids = engine->tokenize(
      "<|im_start|>user\n<|vision_start|><|image_pad|><|vision_end|>What is in the picture?"
      "<|im_end|>\n<|im_start|>assistant\n");
  ASSERT_EQ(std::count(ids.prompt_ids.begin(), ids.prompt_ids.end(), 297), 1);
  ids.images = {{img, {}}};
  auto fresh = Engine::load(qwen_vl_dir("qwen2_vl"));
  auto b = fresh->generate(ids);
  EXPECT_EQ(a.ids, b.ids);
  EXPECT_EQ(a.prompt_tokens, b.prompt_tokens);
  EXPECT_EQ(a.prompt_tokens, int64_t(ids.prompt_ids.size()) - 1 + 12);  // 12 image tokens
}

TEST(VisionChat, SecondTurnAboutTheImageReusesItsTokens) {
  auto engine = Engine::load(qwen_vl_dir("qwen2_5_vl"));
  std::string img = case_images("one_image")[0];
  std::vector<Message> history = {{"user", "Describe it.", {{img, {}}}}};
  Request r1 = greedy(4);
  r1.messages = history;
  auto t1 = engine->generate(r1);
  EXPECT_EQ(t1.images_encoded, 1);
  history.push_back({"assistant", t1.text, {}});
  history.push_back({"user", "And the colours?", {}});
  Request r2 = greedy(4);
  r2.messages = history;
  auto t2 = engine->generate(r2);
  EXPECT_EQ(t2.images_encoded, 0);
  EXPECT_GE(t2.cached_tokens, t1.prompt_tokens - 1);
  // Same answer as a cold engine.
  auto cold = Engine::load(qwen_vl_dir("qwen2_5_vl"))->generate(r2);
  EXPECT_EQ(t2.ids, cold.ids);
}

TEST(VisionChat, CApiTakesImages) {
  vkllm_engine* e = nullptr;
  ASSERT_EQ(vkllm_engine_load(qwen_vl_dir("qwen2_vl").c_str(), nullptr, 0, &e), VKLLM_OK)
      << vkllm_last_error();
  vkllm_sampling s;
  vkllm_sampling_default(&s);
  s.temperature = 0;
  s.max_tokens = 3;
  std::string img = case_images("two_images")[0];
  const char* images[] = {img.c_str(), img.c_str()};
  char* text = nullptr;
  ASSERT_EQ(
      vkllm_engine_generate_images(e, "Compare them.", 1, images, 2, &s, nullptr, nullptr, &text),
      VKLLM_OK)
      << vkllm_last_error();
  vkllm_string_free(text);
  int64_t encoded = -1, cached = -1;
  double ms = -1;
  ASSERT_EQ(vkllm_engine_last_image_stats(e, &encoded, &cached, &ms), VKLLM_OK);
  EXPECT_EQ(encoded, 1);  // the same image twice: encoded once
  EXPECT_EQ(cached, 1);
  EXPECT_GT(ms, 0);
  // The same image in a prompt that starts differently (no chat template: the image comes
  // first) is not in the prefix cache; its features come from the feature cache.
  ASSERT_EQ(vkllm_engine_generate_images(e, "Again.", 0, images, 1, &s, nullptr, nullptr, nullptr),
            VKLLM_OK);
  ASSERT_EQ(vkllm_engine_last_image_stats(e, &encoded, &cached, nullptr), VKLLM_OK);
  EXPECT_EQ(encoded, 0);
  EXPECT_EQ(cached, 1);
  const char* bad[] = {"/nonexistent/x.png"};
  EXPECT_EQ(vkllm_engine_generate_images(e, "Hi", 1, bad, 1, &s, nullptr, nullptr, nullptr),
            VKLLM_ERROR_INPUT);
  EXPECT_NE(std::string(vkllm_last_error()).find("/nonexistent/x.png"), std::string::npos);
  vkllm_engine_free(e);
  // Options: no feature cache, images capped at 56x56 pixels (the 61x47 image: 4 tokens).
  vkllm_engine_options o;
  vkllm_engine_options_default(&o);
  EXPECT_EQ(o.image_cache_bytes, uint64_t(256) << 20);
  o.image_cache_bytes = 0;
  o.max_image_pixels = 56 * 56;
  ASSERT_EQ(vkllm_engine_load_ex(qwen_vl_dir("qwen2_vl").c_str(), &o, &e), VKLLM_OK)
      << vkllm_last_error();
  for (int i = 0; i < 2; ++i) {
    ASSERT_EQ(vkllm_engine_generate_images(e, "Hi", 0, images, 1, &s, nullptr, nullptr, nullptr),
              VKLLM_OK)
        << vkllm_last_error();
    ASSERT_EQ(vkllm_engine_last_image_stats(e, &encoded, &cached, nullptr), VKLLM_OK);
    EXPECT_EQ(encoded, i == 0 ? 1 : 0);  // the second request reuses the prefix (same prompt)
  }
  vkllm_stats st;
  ASSERT_EQ(vkllm_engine_last_stats(e, &st), VKLLM_OK);
  EXPECT_EQ(st.prompt_tokens, 1 + 4 + 1 + 2);  // start, 4 image tokens, end, "Hi"
  vkllm_engine_free(e);
}

}  // namespace
}  // namespace vkllm::test
