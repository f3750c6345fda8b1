#include "core/tests/family_testing.h"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <atomic>
#include <cmath>
#include <fstream>

#include "core/json_file.h"
#include "core/weights/safetensors.h"
#include "sdk/base/error.h"

namespace vkllm::test {
namespace fs = std::filesystem;

double max_abs_diff(std::span<const float> a, std::span<const float> b) {
  double m = 0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i)
    m = std::max(m, std::fabs(double(a[i]) - double(b[i])));
  return m;
}

Outcome run_with_images(const std::string& folder, const std::vector<std::string>& images,
                        const std::vector<int32_t>& ids, EngineOptions o, int n) {
  auto engine = Engine::load(folder, o);
  Request r;
  r.prompt_ids = ids;
  for (const auto& f : images) r.images.push_back({.source = f});
  r.prompt_logits = true;
  r.sampling.temperature = 0.0f;
  r.max_tokens = n;
  r.ignore_eos = true;
  auto res = engine->generate(r);
  return {res.prompt_logits, res.ids, res};
}

void expect_matches_reference(const std::string& folder, const std::string& reference,
                              const std::vector<std::string>& images, double tolerance) {
  core::SafetensorsFile ref(folder + "/" + reference);
  auto ids = ref.values<int32_t>("input_ids");
  auto want = ref.values<float>("logits");
  auto greedy = ref.values<int32_t>("greedy");
  for (int chunk : {0, 5}) {
    SCOPED_TRACE(chunk ? "prefill in chunks of 5" : "one prefill");
    EngineOptions o;
    if (chunk) o.prefill_chunk = chunk;
    Outcome got = run_with_images(folder, images, ids, o);
    ASSERT_EQ(got.logits.size(), want.size());
    EXPECT_LE(max_abs_diff(got.logits, want), tolerance);
    EXPECT_EQ(got.greedy, greedy);
  }
}

fs::path with_config(const std::string& folder, const std::function<void(nlohmann::json&)>& edit) {
  static std::atomic<int> serial{0};
  fs::path d =
      fs::temp_directory_path() /
      fmt::format("vkllm-{}-{}-{}", fs::path(folder).filename().string(), ::getpid(), serial++);
  fs::remove_all(d);
  fs::copy(folder, d, fs::copy_options::recursive);
  auto c = core::read_json_file((d / "config.json").string());
  edit(c);
  std::ofstream(d / "config.json") << c.dump(1);
  return d;
}

std::string load_error(const fs::path& folder) {
  try {
    Engine::load(folder.string());
  } catch (const Error& e) {
    return e.what();
  }
  return "(loaded)";
}

void expect_chat_matches_reference(const std::string& folder,
                                   const std::vector<std::string>& images,
                                   const std::string& system, const std::string& question,
                                   double tolerance) {
  core::SafetensorsFile ref(folder + "/reference_chat.safetensors");
  auto want = ref.values<float>("logits");
  auto greedy = ref.values<int32_t>("greedy");
  auto engine = Engine::load(folder);
  Request r;
  Message user{.role = "user", .content = question};
  for (const auto& f : images) user.images.push_back({.source = f});
  r.messages = {{.role = "system", .content = system}, user};
  r.prompt_logits = true;
  r.sampling.temperature = 0.0f;
  r.max_tokens = int(greedy.size());
  r.ignore_eos = true;
  auto res = engine->generate(r);
  EXPECT_EQ(res.prompt_tokens, int64_t(ref.values<int32_t>("input_ids").size()));
  ASSERT_EQ(res.prompt_logits.size(), want.size());
  EXPECT_LE(max_abs_diff(res.prompt_logits, want), tolerance);
  EXPECT_EQ(res.ids, greedy);
}

void expect_caches_reuse_images(const std::string& folder, const std::vector<std::string>& images) {
  core::SafetensorsFile ref(folder + "/reference_two_images.safetensors");
  auto ids = ref.values<int32_t>("input_ids");
  auto greedy = ref.values<int32_t>("greedy");
  auto engine = Engine::load(folder, {.prefix_cache = true});
  Request r;
  r.prompt_ids = ids;
  for (const auto& f : images) r.images.push_back({.source = f});
  r.sampling.temperature = 0.0f;
  r.max_tokens = int(greedy.size());
  r.ignore_eos = true;
  auto first = engine->generate(r);
  EXPECT_EQ(first.images_encoded, int(images.size()));
  EXPECT_EQ(first.ids, greedy);
  auto second = engine->generate(r);
  EXPECT_GT(second.cached_tokens, 0);
  EXPECT_EQ(second.ids, greedy);
  // A different prompt around the same images: the features come from the feature cache.
  r.prompt_ids.insert(r.prompt_ids.begin() + 1, 50);
  auto third = engine->generate(r);
  EXPECT_EQ(third.images_encoded, 0);
  EXPECT_EQ(third.images_cached, int(images.size()));
}

}  // namespace vkllm::test
