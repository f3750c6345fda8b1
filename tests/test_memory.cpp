// Memory users can trust: the prefix cache's disk tier across engine restarts, the memory
// estimate against what the device pools really hold for every family, the fit of a context
// into a small budget, and prompts longer than the context.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include <fmt/format.h>

#include "core/memory/estimate.h"
#include "core/model.h"
#include "core/plugin_host.h"
#include "vkllm/engine.h"

namespace vkllm::test {
namespace {
namespace fs = std::filesystem;

const std::string kModel = std::string(VKLLM_SOURCE_DIR) + "/models/tiny-kjv";
const std::string kData = std::string(VKLLM_SOURCE_DIR) + "/tests/data";

struct TempDir {
  fs::path path;
  TempDir() {
    path = fs::temp_directory_path() /
           fmt::format("vkllm-memory-{}-{}", ::getpid(),
                       ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(path);
  }
  ~TempDir() { fs::remove_all(path); }
  std::vector<fs::path> files() const {
    std::vector<fs::path> out;
    if (!fs::exists(path)) return out;
    for (const auto& e : fs::recursive_directory_iterator(path))
      if (e.is_regular_file()) out.push_back(e.path());
    return out;
  }
};

// A prompt of n ids in [first, first + span): no special or image tokens in the fixtures (image
// tokens are 10 or 297).
std::vector<int32_t> prompt_ids(int n, int first = 20, int span = 200) {
  std::vector<int32_t> ids;
  uint32_t x = 12345;
  for (int i = 0; i < n; ++i) {
    x = x * 1664525u + 1013904223u;
    ids.push_back(int32_t(first + int((x >> 8) % uint32_t(span))));
  }
  return ids;
}

Request greedy(std::vector<int32_t> ids, int n = 8) {
  Request r;
  r.prompt_ids = std::move(ids);
  r.sampling.temperature = 0.0f;
  r.max_tokens = n;
  r.ignore_eos = true;
  r.logprobs = 1;
  return r;
}

void expect_same(const Result& got, const Result& want) {
  EXPECT_EQ(got.ids, want.ids);
  ASSERT_EQ(got.logprobs.size(), want.logprobs.size());
  for (size_t i = 0; i < got.logprobs.size(); ++i)
    EXPECT_NEAR(got.logprobs[i].logprob, want.logprobs[i].logprob, 1e-4) << "token " << i;
}

// A prompt's KV blocks written by one engine are read back by the next (a restart): the same
// tokens come out without recomputing the prefix; another model or quantization reuses nothing.
TEST(DiskTier, PromptSurvivesARestart) {
  TempDir dir;
  const auto req = greedy(prompt_ids(150));
  const Result cold = Engine::load(kModel, {.prefill_chunk = 32})->generate(req);
  EngineOptions o{.prefill_chunk = 32, .cache_dir = dir.path.string()};
  {
    auto first = Engine::load(kModel, o);
    expect_same(first->generate(req), cold);
  }  // the engine's end writes what was queued
  ASSERT_FALSE(dir.files().empty());
  auto second = Engine::load(kModel, o);
  const Result warm = second->generate(req);
  EXPECT_EQ(warm.cached_tokens, 144);  // whole blocks, one token left to compute
  expect_same(warm, cold);

  // Continuous batching reads the same files (the fingerprint does not depend on it).
  EngineOptions batched = o;
  batched.parallel = 2;
  const Result b = Engine::load(kModel, batched)->generate(req);
  EXPECT_EQ(b.cached_tokens, 144);
  expect_same(b, cold);

  // The same folder for a quantized load of the model: its own fingerprint, nothing reused.
  EngineOptions q = o;
  q.quantize = "q8_0";
  EXPECT_EQ(Engine::load(kModel, q)->generate(req).cached_tokens, 0);
}

// Gemma 3's sliding-window layers (window 8 in the fixture): a restart restores the full layers'
// blocks and only the window's blocks of the others, and the continuation is unchanged.
TEST(DiskTier, SlidingWindowModelSurvivesARestart) {
  TempDir dir;
  const std::string model = kData + "/gemma3/gemma3_text";
  const auto req = greedy(prompt_ids(100));
  const Result cold = Engine::load(model, {.prefill_chunk = 32})->generate(req);
  EngineOptions o{.prefill_chunk = 32, .cache_dir = dir.path.string()};
  expect_same(Engine::load(model, o)->generate(req), cold);
  const Result warm = Engine::load(model, o)->generate(req);
  EXPECT_EQ(warm.cached_tokens, 96);
  expect_same(warm, cold);
}

// Damaged files are ignored with a warning: the prompt is computed again, correctly.
TEST(DiskTier, DamagedFilesAreNeverUsed) {
  TempDir dir;
  const auto req = greedy(prompt_ids(100));
  EngineOptions o{.prefill_chunk = 32, .cache_dir = dir.path.string()};
  const Result first = Engine::load(kModel, o)->generate(req);
  auto files = dir.files();
  ASSERT_FALSE(files.empty());
  for (const auto& f : files) {  // flip one byte of the KV data in every file
    std::fstream s(f, std::ios::binary | std::ios::in | std::ios::out);
    s.seekg(-100, std::ios::end);
    char c = 0;
    s.read(&c, 1);
    s.seekp(-100, std::ios::end);
    c = char(c ^ 0x20);
    s.write(&c, 1);
  }
  const Result again = Engine::load(kModel, o)->generate(req);
  EXPECT_EQ(again.cached_tokens, 0);
  expect_same(again, first);
  // Without the prefix cache the disk tier has nothing to hold: a clear error.
  EngineOptions off = o;
  off.prefix_cache = false;
  EXPECT_THROW(Engine::load(kModel, off), InputError);
}

// The estimate the engine sizes itself with holds within 10% of what the device pools hold
// (weights, KV cache and the activation arena's peak) after a prompt longer than a prefill
// chunk, for every family and a range of contexts; the estimate from the folder alone (vkllm
// inspect) predicts the same weights.
TEST(Estimates, HoldWithinTenPercentForEveryFamily) {
  const std::vector<std::string> models = {
      kModel,
      kData + "/llama/llama3",
      kData + "/llama/qwen3",
      kData + "/gemma3/gemma3_text",
      kData + "/gemma3/gemma3",
      kData + "/qwen_vl/qwen2_vl",
      kData + "/qwen_vl/qwen2_5_vl",
      kData + "/pixtral/mistral3",
      kData + "/pixtral/llava_pixtral",
      kData + "/generic_vlm/llava_next",
      kData + "/generic_vlm/llava_siglip",
  };
  core::PluginHost host;
  for (const auto& dir : models) {
    const uint64_t checkpoint = core::inspect(dir, host).weight_bytes;
    for (int64_t context : {256, 1024, 4096}) {
      SCOPED_TRACE(fmt::format("{} at context {}", dir, context));
      auto e = Engine::load(dir, {.context = context, .prefill_chunk = 96});
      e->generate(greedy(prompt_ids(200), 4));
      const MemoryReport m = e->memory();
      // A text prompt: the text pass's activations (an image encode's are checked below).
      const double estimate =
          double(m.estimate_weights + m.estimate_kv + m.estimate_text_activations);
      const double measured = double(m.weights_and_kv + m.activations_peak);
      const double reserved = double(m.reserved);
      fmt::print(
          "{:<20} context {:>4}: estimate {:7.3f} MiB, in use {:7.3f} MiB ({:+.1f}%), held from "
          "the driver {:7.3f} MiB\n",
          fs::path(dir).filename().string(), context, estimate / (1 << 20), measured / (1 << 20),
          100 * (estimate / measured - 1), reserved / (1 << 20));
      // What the pools hold from the driver adds their rounding (64 KiB per reservation, an
      // eighth of the activations): within 10% once the model is not a toy.
      if (estimate > 16 << 20) {
        EXPECT_NEAR(estimate, reserved, 0.1 * reserved);
      }
      EXPECT_NEAR(estimate, measured, 0.1 * measured) << fmt::format(
          "weights {} KV {} activations {} (peak {}), in use {}", m.estimate_weights, m.estimate_kv,
          m.estimate_activations, m.activations_peak, m.weights_and_kv);
      EXPECT_NEAR(double(m.estimate_text_activations), double(m.activations_peak),
                  0.1 * double(m.activations_peak));
      EXPECT_NEAR(double(checkpoint), double(m.estimate_weights), 0.1 * double(m.estimate_weights));
    }
  }
}

// A 24-bit BMP of w x h pixels (a smooth gradient), encoded in memory.
std::vector<uint8_t> bmp(int w, int h) {
  const int row = (w * 3 + 3) / 4 * 4;
  const uint32_t size = uint32_t(54 + row * h);
  std::vector<uint8_t> b(size, 0);
  auto put = [&](size_t at, uint32_t v, int n) {
    for (int i = 0; i < n; ++i) b[at + size_t(i)] = uint8_t(v >> (8 * i));
  };
  b[0] = 'B';
  b[1] = 'M';
  put(2, size, 4);
  put(10, 54, 4);
  put(14, 40, 4);
  put(18, uint32_t(w), 4);
  put(22, uint32_t(h), 4);
  put(26, 1, 2);
  put(28, 24, 2);
  for (int y = 0; y < h; ++y)
    for (int x = 0; x < w; ++x)
      for (int c = 0; c < 3; ++c)
        b[size_t(54 + y * row + x * 3 + c)] = uint8_t((x * 2 + y * 3 + c * 60) & 255);
  return b;
}

// An image encode is the widest pass of a vision model with its processor's largest image:
// the estimate holds for it too (112 x 112 reaches every fixture's largest patch grid: Qwen's
// max_pixels, Pixtral's longest edge, LLaVA-NeXT's 2 x 2 tiles, the fixed towers).
TEST(Estimates, HoldForTheLargestImage) {
  const std::vector<std::string> models = {"gemma3/gemma3",          "qwen_vl/qwen2_vl",
                                           "qwen_vl/qwen2_5_vl",     "pixtral/mistral3",
                                           "pixtral/llava_pixtral",  "generic_vlm/llava_next",
                                           "generic_vlm/llava_clip", "generic_vlm/llava_siglip"};
  for (const auto& name : models) {
    SCOPED_TRACE(name);
    auto e = Engine::load(kData + "/" + name, {.context = 1024, .prefill_chunk = 16});
    Request r;
    r.messages = {{"user", "Describe", {{"largest.bmp", bmp(112, 112)}}}};
    r.max_tokens = 2;
    r.sampling.temperature = 0.0f;
    e->generate(r);
    const MemoryReport m = e->memory();
    fmt::print("{:<26} activations: estimate {:7.3f} MiB, peak {:7.3f} MiB\n", name,
               double(m.estimate_image_activations) / (1 << 20),
               double(m.activations_peak) / (1 << 20));
    EXPECT_NEAR(double(m.estimate_image_activations), double(m.activations_peak),
                0.1 * double(m.activations_peak));
    EXPECT_EQ(m.estimate_activations,
              std::max(m.estimate_image_activations, m.estimate_text_activations));
    // vkllm inspect, from the folder alone, estimates what the loaded engine does.
    core::PluginHost host;
    const core::ModelSummary summary = core::inspect(kData + "/" + name, host);
    const core::MemoryEstimate folder = core::estimate_memory(core::folder_request(
        summary, kData + "/" + name, {.context = 1024, .prefill_chunk = 16, .prefix_cache = true},
        1, 256 << 20));
    EXPECT_EQ(folder.image_activations, m.estimate_image_activations);
    EXPECT_EQ(folder.text_activations, m.estimate_text_activations);
    EXPECT_EQ(folder.kv, m.estimate_kv);
    EXPECT_EQ(folder.image_cache, m.estimate_image_cache);
    EXPECT_NEAR(double(folder.total()), double(m.estimate_total), 0.01 * double(m.estimate_total));
  }
}

// An artificially small budget: the context shrinks to what fits (narrower KV first when
// allowed), generation works within it, and a budget below the weights is a clear error.
TEST(AutoFit, SmallBudgetShrinksTheContext) {
  EngineOptions o{.context = 4096, .memory_budget = uint64_t(24) << 20};
  auto e = Engine::load(kModel, o);
  const MemoryReport m = e->memory();
  EXPECT_LT(e->description().context, 4096);
  EXPECT_GE(e->description().context, 256);
  EXPECT_FALSE(m.fit.empty());
  EXPECT_LE(m.estimate_total, m.budget);
  EXPECT_LE(m.weights_and_kv, m.budget);
  const int64_t fitted = e->description().context;
  const Result r = e->generate(greedy(prompt_ids(int(fitted) - 16), 8));
  EXPECT_EQ(r.generated_tokens, 8);

  EngineOptions narrow = o;
  narrow.fit_kv_bits = true;
  auto n = Engine::load(kModel, narrow);
  EXPECT_GT(n->description().context, fitted);
  EXPECT_NE(n->memory().fit.find("bits"), std::string::npos);

  EngineOptions enough = o;
  enough.memory_budget = uint64_t(1) << 30;
  auto big = Engine::load(kModel, enough);
  EXPECT_EQ(big->description().context, 4096);
  EXPECT_TRUE(big->memory().fit.empty());

  EngineOptions tiny = o;
  tiny.memory_budget = uint64_t(8) << 20;
  try {
    Engine::load(kModel, tiny);
    FAIL() << "a budget below the weights loaded";
  } catch (const DeviceError& err) {
    EXPECT_NE(std::string(err.what()).find("memory budget of 8.0 MiB"), std::string::npos)
        << err.what();
  }
}

// A prompt over the context: refused with the numbers, or cut as asked (the result is what
// the cut prompt gives on its own).
TEST(ContextOverflow, RefusedOrFittedAsAsked) {
  const auto ids = prompt_ids(100);
  EngineOptions o{.context = 64};
  try {
    Engine::load(kModel, o)->generate(greedy(ids));
    FAIL() << "a prompt over the context was accepted";
  } catch (const InputError& err) {
    EXPECT_NE(std::string(err.what()).find("the prompt has 100 tokens; the context is 64"),
              std::string::npos)
        << err.what();
  }
  const int64_t keep = 64 - 8;  // room for max_tokens
  for (std::string policy : {"truncate-middle", "rolling"}) {
    SCOPED_TRACE(policy);
    EngineOptions p = o;
    p.context_overflow = policy;
    const Result r = Engine::load(kModel, p)->generate(greedy(ids));
    EXPECT_EQ(r.truncated_tokens, 100 - keep);
    EXPECT_EQ(r.prompt_tokens, keep);
    std::vector<int32_t> cut;
    if (policy == "truncate-middle") {
      cut.assign(ids.begin(), ids.begin() + keep / 2);
      cut.insert(cut.end(), ids.end() - (keep - keep / 2), ids.end());
    } else {
      cut.assign(ids.end() - keep, ids.end());
    }
    expect_same(r, Engine::load(kModel, o)->generate(greedy(cut)));
  }
}

}  // namespace
}  // namespace vkllm::test
