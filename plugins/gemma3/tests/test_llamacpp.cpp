// vkllm export-gguf for Gemma 3 text models against llama.cpp: the exported file (f32 and f16)
// run by llama.cpp's CPU build (node-llama-cpp) gives transformers' logits and vkllm's greedy
// continuation (tests/data/gemma3/gemma3_text_llamacpp: a checkpoint within llama.cpp's fixed
// Gemma 3 assumptions). Settings llama.cpp cannot express are refused at export.
#include <fmt/format.h>
#include <fmt/ranges.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cmath>
#include <filesystem>

#include "core/gguf_export.h"
#include "core/plugin_host.h"
#include "core/tests/oracle_process.h"
#include "core/weights/safetensors.h"
#include "vkllm/engine.h"

namespace vkllm::test {
namespace {
namespace fs = std::filesystem;

std::string data(const std::string& v) { return std::string(VKLLM_TEST_DATA) + "/gemma3/" + v; }

const core::PluginHost& host() {
  static const core::PluginHost h;
  return h;
}

TEST(Gemma3Gguf, LlamaCppRunsTheExportLikeTransformers) {
  const std::string dir = data("gemma3_text_llamacpp");
  core::SafetensorsFile ref(dir + "/reference.safetensors");
  auto ids = ref.values<int32_t>("input_ids");
  auto want = ref.values<float>("logits");
  auto greedy = ref.values<int32_t>("greedy");
  // vkllm's own greedy continuation of this checkpoint (equal to transformers').
  auto engine = Engine::load(dir);
  Request r;
  r.prompt_ids = ids;
  r.sampling.temperature = 0.0f;
  r.max_tokens = int(greedy.size());
  r.ignore_eos = true;
  auto ours = engine->generate(r).ids;
  EXPECT_EQ(ours, greedy);
  const std::string list = fmt::format("{}", fmt::join(ids, ","));
  for (auto [type, tol] : {std::pair{Dtype::f32, 1e-2}, std::pair{Dtype::f16, 5e-2}}) {
    SCOPED_TRACE(dtype_name(type));
    fs::path gguf = fs::temp_directory_path() /
                    fmt::format("vkllm-gemma3-{}-{}.gguf", dtype_name(type), ::getpid());
    core::export_gguf(dir, gguf.string(), type, host());
    auto out = run_json_lines(fmt::format("node {}/tests/llamacpp/greedy.mjs {} {} {} {}",
                                          VKLLM_SOURCE_DIR, VKLLM_LLAMACPP_DIR, gguf.string(),
                                          list, greedy.size()),
                              {});  // (the empty input file it appends goes unread)
    fs::remove(gguf);
    ASSERT_EQ(out.size(), 1u);
    auto rows = out[0]["logits"].get<std::vector<std::vector<float>>>();
    ASSERT_EQ(rows.size(), ids.size());
    double worst = 0;
    for (size_t t = 0; t < rows.size(); ++t)
      for (size_t v = 0; v < rows[t].size(); ++v)
        worst = std::max(worst, std::fabs(double(rows[t][v]) - want[t * rows[t].size() + v]));
    EXPECT_LT(worst, tol) << "llama.cpp vs transformers, max |logit difference|";
    EXPECT_EQ(out[0]["greedy"].get<std::vector<int32_t>>(), ours);
  }
}

TEST(Gemma3Gguf, SettingsLlamaCppCannotExpressAreRefused) {
  // The parity checkpoint has a global layer every third layer and soft-capped logits.
  try {
    core::export_gguf(data("gemma3_text"), "/tmp/unused.gguf", Dtype::f32, host());
    FAIL() << "expected a ModelError";
  } catch (const ModelError& e) {
    EXPECT_NE(std::string(e.what()).find("every 6th layer global"), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vkllm::test
