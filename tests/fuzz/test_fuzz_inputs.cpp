// Replays, in every build (and so under ASan+UBSan in CI), each fuzz target's seed corpus and
// every input a fuzzer once found (tests/fuzz/regressions/<target>/): none may crash, trip a
// sanitizer or throw anything but vkllm::Error.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>

#include "tests/fuzz/targets.h"

namespace vkllm::test {
namespace {
namespace fs = std::filesystem;

using Target = void (*)(std::string_view);
const std::map<std::string, Target> kTargets = {{"safetensors", fuzz::safetensors},
                                                {"jinja", fuzz::jinja},
                                                {"tokenizer", fuzz::tokenizer},
                                                {"image", fuzz::image},
                                                {"config", fuzz::config},
                                                {"openai_request", fuzz::openai_request},
                                                {"gbnf", fuzz::gbnf},
                                                {"json_schema", fuzz::json_schema},
                                                {"adapter", fuzz::adapter},
                                                {"kv_block", fuzz::kv_block},
                                                {"gguf", fuzz::gguf}};

class FuzzInputs : public ::testing::TestWithParam<std::string> {};

TEST_P(FuzzInputs, CorpusAndPastFindings) {
  const std::string name = GetParam();
  size_t n = 0;
  for (const char* kind : {"corpus", "regressions"}) {
    fs::path dir = fs::path(VKLLM_SOURCE_DIR) / "tests/fuzz" / kind / name;
    if (!fs::exists(dir)) continue;
    for (const auto& e : fs::directory_iterator(dir)) {
      std::ifstream in(e.path(), std::ios::binary);
      std::string bytes((std::istreambuf_iterator<char>(in)), {});
      SCOPED_TRACE(e.path().string());
      EXPECT_NO_THROW(kTargets.at(name)(bytes));
      ++n;
    }
  }
  EXPECT_GT(n, 0u) << "no corpus for " << name;
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzInputs,
                         ::testing::Values("safetensors", "jinja", "tokenizer", "image", "config",
                                           "openai_request", "gbnf", "json_schema", "adapter",
                                           "kv_block", "gguf"));

}  // namespace
}  // namespace vkllm::test
