// Mutation tests of the parsers that read user files: random byte flips, truncations and
// insertions of valid inputs must give a result or a vkllm::Error, never a crash, a hang or
// another exception type. (CI runs them under ASan/UBSan; tests/fuzz has libFuzzer targets for
// longer runs.)
#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "core/jinja/template.h"
#include "core/tokenizer/tokenizer.h"
#include "core/vision/image.h"
#include "core/vision/preprocess.h"
#include "core/weights/safetensors.h"
#include "registry/registry.h"
#include "sdk/base/error.h"

namespace vkllm::test {
namespace {

std::string read(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

std::string mutate(std::string s, std::mt19937& rng) {
  int kind = int(rng() % 4);
  if (s.empty()) return std::string(1, char(rng()));
  size_t at = rng() % s.size();
  switch (kind) {
    case 0:  // flip bytes
      for (int i = 0; i < 1 + int(rng() % 4); ++i) s[rng() % s.size()] ^= char(1 << (rng() % 8));
      break;
    case 1:  // truncate
      s.resize(at);
      break;
    case 2:  // insert random bytes
      s.insert(at, std::string(1 + rng() % 8, char(rng())));
      break;
    default:  // duplicate a slice
      s.insert(at, s.substr(rng() % s.size(), rng() % 16));
  }
  return s;
}

template <class F>
void fuzz(const std::string& seed, int iterations, uint32_t rng_seed, F&& parse) {
  std::mt19937 rng(rng_seed);
  for (int i = 0; i < iterations; ++i) {
    std::string input = mutate(seed, rng);
    try {
      parse(input);
    } catch (const Error&) {
      // the expected outcome for bad input
    } catch (const std::exception& e) {
      ADD_FAILURE() << "iteration " << i << ": untyped exception: " << e.what();
      return;
    }
  }
}

TEST(ParserMutations, Safetensors) {
  std::string seed = read(std::string(VKLLM_TEST_DATA) + "/llama/llama2/reference.safetensors");
  ASSERT_FALSE(seed.empty());
  fuzz(seed, 3000, 1, [](const std::string& s) {
    uint64_t data_start = 0;
    core::SafetensorsFile::parse_header(reinterpret_cast<const uint8_t*>(s.data()), s.size(),
                                        "fuzz", &data_start);
  });
}

TEST(ParserMutations, Images) {
  // Decoding (stb) and preprocessing of corrupted PNG, GIF, BMP and JPEG files.
  uint32_t rng_seed = 10;
  for (const char* f : {"rgb_61x47.png", "pal_64x64.gif", "rgb_33x120.bmp", "photo_160x120.jpg"}) {
    std::string seed = read(std::string(VKLLM_TEST_DATA) + "/images/" + f);
    ASSERT_FALSE(seed.empty()) << f;
    fuzz(seed, 400, rng_seed++, [](const std::string& s) {
      auto img = core::decode_image(std::span(reinterpret_cast<const uint8_t*>(s.data()), s.size()),
                                    "fuzz");
      core::merge_window_patches(img, {.min_pixels = 56 * 56, .max_pixels = 28 * 28 * 4});
    });
  }
}

TEST(ParserMutations, TokenizerJson) {
  // A small byte-level BPE (the bundled model's tokenizer).
  std::string dir = std::string(VKLLM_SOURCE_DIR) + "/models/tiny-kjv";
  std::string seed = read(dir + "/tokenizer.json");
  ASSERT_FALSE(seed.empty());
  fuzz(seed, 200, 2, [](const std::string& s) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(s);
    } catch (const nlohmann::json::exception&) {
      return;  // not JSON: rejected before the tokenizer
    }
    auto t = core::Tokenizer::from_json(j, {}, "fuzz");
    t->decode(t->encode("In the beginning, 日本 🤖", true));
  });
  // Texts through a valid tokenizer: any valid UTF-8 encodes, invalid UTF-8 is an InputError.
  auto tok = core::Tokenizer::from_folder(dir);
  fuzz("In the beginning God created the heaven <|end|> and ünïcödé 🤖", 3000, 3,
       [&](const std::string& s) { tok->decode(tok->encode(s, true)); });
}

TEST(ParserMutations, ChatTemplates) {
  // The templates of the fuzz corpus (each after its first line, a JSON context).
  for (const char* f : {"tools_and_namespace", "turns_with_system_prefix", "filters_and_tests"}) {
    std::string file = read(std::string(VKLLM_SOURCE_DIR) + "/tests/fuzz/corpus/jinja/" + f);
    ASSERT_FALSE(file.empty()) << f;
    std::string seed = file.substr(file.find('\n') + 1);
    auto ctx = core::jinja::Value::from_json(nlohmann::ordered_json::parse(file.substr(0, file.find('\n'))));
    fuzz(seed, 500, 4, [&](const std::string& s) { core::jinja::Template(s).render(ctx); });
  }
}

TEST(ParserMutations, RegistryAndConfigs) {
  std::string seed =
      R"({"model_type": "llama", "text_config": {"hidden_size": 8}, "quantization": {"bits": 4, "group_size": 64}})";
  const auto& reg = registry::Registry::builtin();
  fuzz(seed, 2000, 5, [&](const std::string& s) {
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(s);
    } catch (const nlohmann::json::exception&) {
      return;
    }
    const auto& e = reg.route(j, "fuzz/config.json");
    reg.normalize(j, e, "fuzz/config.json");
  });
}

}  // namespace
}  // namespace vkllm::test
