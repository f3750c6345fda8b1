// GGUF files of the llama family's architectures (llama, qwen2, qwen3) load with -m FILE.gguf:
// every parity checkpoint exported as F32 GGUF matches transformers' logits and greedy
// continuation as its folder does (Llama's q/k rows go through llama.cpp's permutation and
// back); Q8_0/Q4_0 files give exactly the logits of the folder quantized at load (the same
// blocks); the bundled model's vocabulary, written to the metadata and read back, tokenizes and
// renders chat exactly as its folder; bad files fail with errors naming what is wrong.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "core/gguf/gguf_folder.h"
#include "core/gguf_export.h"
#include "core/plugin_host.h"
#include "core/weights/safetensors.h"
#include "sdk/base/error.h"
#include "vkllm/engine.h"

namespace vkllm::test {
namespace {
namespace fs = std::filesystem;

const std::string kData = std::string(VKLLM_TEST_DATA) + "/llama/";
const std::string kBundled = std::string(VKLLM_SOURCE_DIR) + "/models/tiny-kjv";
constexpr double kLogitTolerance = 5e-3;  // as the folders' parity test

fs::path scratch() {
  fs::path d = fs::temp_directory_path() / fmt::format("vkllm-gguf-test-{}", ::getpid());
  fs::create_directories(d);
  return d;
}

std::string exported(const std::string& folder, const std::string& name, Dtype type) {
  const fs::path out = scratch() / fmt::format("{}-{}.gguf", name, dtype_name(type));
  core::PluginHost host;
  core::export_gguf(folder, out.string(), type, host);
  return out.string();
}

Result run(const std::string& model, const std::vector<int32_t>& ids, int greedy,
           const EngineOptions& o = {}) {
  auto e = Engine::load(model, o);
  Request r;
  r.prompt_ids = ids;
  r.prompt_logits = true;
  r.sampling.temperature = 0.0f;
  r.max_tokens = greedy;
  r.ignore_eos = true;
  return e->generate(r);
}

class GgufParity : public ::testing::TestWithParam<std::string> {};

TEST_P(GgufParity, F32FileMatchesTransformers) {
  const std::string dir = kData + GetParam();
  core::SafetensorsFile ref(dir + "/reference.safetensors");
  auto ids = ref.values<int32_t>("input_ids");
  auto want = ref.values<float>("logits");
  auto greedy = ref.values<int32_t>("greedy");
  auto res = run(exported(dir, GetParam(), Dtype::f32), ids, int(greedy.size()));
  ASSERT_EQ(res.prompt_logits.size(), want.size());
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i)
    worst = std::max(worst, std::fabs(double(res.prompt_logits[i]) - want[i]));
  EXPECT_LE(worst, kLogitTolerance) << "max |logit difference|";
  EXPECT_EQ(res.ids, greedy);
}

TEST_P(GgufParity, QuantizedFilesEqualTheFolderQuantizedAtLoad) {
  const std::string dir = kData + GetParam();
  core::SafetensorsFile ref(dir + "/reference.safetensors");
  auto ids = ref.values<int32_t>("input_ids");
  for (Dtype q : {Dtype::q8_0, Dtype::q4_0}) {
    SCOPED_TRACE(dtype_name(q));
    auto file = run(exported(dir, GetParam(), q), ids, 4);
    auto folder = run(dir, ids, 4, {.quantize = std::string(dtype_name(q))});
    EXPECT_EQ(file.prompt_logits, folder.prompt_logits);
    EXPECT_EQ(file.ids, folder.ids);
  }
}

INSTANTIATE_TEST_SUITE_P(Variants, GgufParity,
                         ::testing::Values("llama3", "llama2", "mistral", "qwen2", "qwen3"));

TEST(Gguf, BundledVocabularyAndChatTemplateRoundTrip) {
  const std::string file = exported(kBundled, "tiny-kjv", Dtype::q8_0);
  auto a = Engine::load(kBundled, {.quantize = "q8_0"});
  auto b = Engine::load(file);
  for (const char* text :
       {"And God said unto Moses", "  spaces\tand\nnewlines\n\n", "<|user|>hi<|end|>", "1234567 x",
        "caf\xc3\xa9 \xe2\x80\x94 \xe6\x97\xa5\xe6\x9c\xac", "'s 'll ''"}) {
    SCOPED_TRACE(text);
    EXPECT_EQ(a->tokenize(text, true), b->tokenize(text, true));
    EXPECT_EQ(a->tokenize(text, false), b->tokenize(text, false));
  }
  Request r;
  r.messages = {{"user", "Who spake unto Moses?", {}}};
  r.sampling.temperature = 0.0f;
  r.max_tokens = 12;
  auto ra = a->generate(r), rb = b->generate(r);
  EXPECT_EQ(ra.prompt_tokens, rb.prompt_tokens);
  EXPECT_EQ(ra.ids, rb.ids);
  EXPECT_EQ(ra.text, rb.text);
  EXPECT_EQ(b->description().folder, file);
}

std::string load_error(const std::string& path) {
  try {
    Engine::load(path);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(Gguf, BadFilesFailClearly) {
  const std::string good = exported(kData + "llama3", "llama3", Dtype::f32);
  std::ifstream in(good, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  auto write = [&](const std::string& name, const std::string& b) {
    const fs::path p = scratch() / name;
    std::ofstream(p, std::ios::binary) << b;
    return p.string();
  };
  EXPECT_NE(load_error(write("cut.gguf", bytes.substr(0, bytes.size() / 2)))
                .find("lies beyond the end of the file"),
            std::string::npos);
  EXPECT_NE(load_error(write("magic.gguf", "GGUX" + bytes.substr(4))).find("not a GGUF file"),
            std::string::npos);
  std::string other = bytes;
  const size_t at = other.find("llama");  // general.architecture's value comes first
  ASSERT_NE(at, std::string::npos);
  other.replace(at, 5, "phi99");
  EXPECT_NE(
      load_error(write("arch.gguf", other)).find("GGUF architecture 'phi99' is not supported"),
      std::string::npos)
      << load_error(write("arch.gguf", other));
  EXPECT_NE(load_error((scratch() / "missing.gguf").string()).find("no such GGUF file"),
            std::string::npos);
}

}  // namespace
}  // namespace vkllm::test
