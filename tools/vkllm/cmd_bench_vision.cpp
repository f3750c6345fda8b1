// vkllm bench-vision: a vision model's speed on image prompts: the vision tower per image,
// prefill tokens/s including the tower, decode tokens/s, and the same prompts again with the
// image's features from the feature cache (prefix cache off, so the text is recomputed).
#include <fmt/format.h>

#include <algorithm>
#include <random>

#include "commands.h"
#include "core/model.h"
#include "core/plugin_host.h"
#include "core/vision/prompt.h"
#include "profile.h"
#include "sdk/base/error.h"
#include "sdk/vk/graph.h"
#include "vkllm/engine.h"

namespace vkllm::cli {
namespace {

struct Row {
  double vision_ms = 0, prompt_ms = 0, prefill_tps = 0, decode_tps = 0;
  int64_t prompt_tokens = 0, encoded = 0, cached = 0, reused = 0;
};

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// Device time per kernel of the vision tower on the first image (VKLLM_PROFILE=1).
void profile_tower(const std::string& dir, const std::string& image, const std::string& quantize) {
  core::PluginHost host;
  auto dev = sdk::Device::create();
  core::LoadOptions lo;
  if (!quantize.empty()) lo.quantize = parse_dtype(quantize);
  auto model = core::LoadedModel::load(dir, dev, host, lo);
  const plugin::VisionSpec* spec = model->model().vision();
  if (!spec) throw InputError(dir + ": not a vision model");
  auto opt = core::patch_options(*spec, dir);
  auto prompt = core::layout_images({}, {core::load_image(image)}, *spec, opt, std::nullopt);
  const auto& pi = prompt.images[0];
  const plugin::ImagePatches p = pi.patches.view();
  Profile prof, discard;
  for (int rep = 0; rep < 2; ++rep) {  // the first run compiles pipelines
    sdk::Graph g(dev);
    model->model().encode_image(g, p);
    g.run();
    take_profile(*dev, rep ? prof : discard);
  }
  fmt::print("tower: {} patches ({}x{}), {} tokens\n", pi.patches.rows, pi.patches.grid_thw[1],
             pi.patches.grid_thw[2], pi.tokens);
  print_profile("tower", prof, 1.0, "image");
}

}  // namespace

Run add_bench_vision(CLI::App& app) {
  auto* cmd = app.add_subcommand("bench-vision", "Measure a vision model on image prompts");
  static std::string dir, quantize;
  static std::vector<std::string> images;
  static int p = 64, n = 32, r = 3;
  cmd->add_option("model,--model,-m", dir, "Model folder")->required();
  cmd->add_option("--image", images, "Image (repeatable)")->required();
  cmd->add_option("-p,--prompt-tokens", p, "Text tokens after the images")
      ->check(CLI::PositiveNumber);
  cmd->add_option("-n,--gen-tokens", n, "Generated tokens")->check(CLI::NonNegativeNumber);
  cmd->add_option("-r,--repeats", r, "Repetitions")->check(CLI::PositiveNumber);
  cmd->add_option("--quantize", quantize, "Quantize weights at load time: q8_0 or q4_0");
  static bool tower_only = false;
  cmd->add_flag("--tower-profile", tower_only,
                "Only time the vision tower per kernel on the first image (with VKLLM_PROFILE=1)");
  return [] {
    if (tower_only) {
      profile_tower(dir, images[0], quantize);
      return 0;
    }
    auto config = core::read_json_file(dir + "/config.json");
    int64_t vocab = config.value("vocab_size", int64_t(0));
    if (config.contains("text_config")) vocab = config["text_config"].value("vocab_size", vocab);
    int64_t pad = config.value("image_token_id", config.value("image_token_index", int64_t(-1)));
    if (pad < 0) throw InputError(dir + "/config.json: no image_token_id (not a vision model?)");
    std::mt19937 rng(7);
    // A first token, one placeholder per image, random text.
    std::vector<int32_t> ids(images.size() + 1, int32_t(pad));
    ids[0] = 0;
    while (int(ids.size()) < p + int(images.size()) + 1)
      ids.push_back(int32_t(rng() % uint32_t(std::min(vocab, pad))));
    // Without (tower every time) and with the feature cache; the first request of each warms
    // up the pipelines and, for the cached run, fills the cache.
    // Third: the prefix cache on and a new last token each time (a follow-up question about
    // the same image): only the new tokens are computed.
    std::vector<Row> rows[3];
    for (int cached = 0; cached < 3; ++cached) {
      EngineOptions o;
      o.quantize = quantize;
      o.prefix_cache = cached == 2;
      o.image_cache_bytes = cached ? uint64_t(1) << 30 : 0;
      auto engine = Engine::load(dir, o);
      for (int rep = 0; rep <= r; ++rep) {
        Request q;
        q.prompt_ids = ids;
        if (cached == 2)
          q.prompt_ids.back() = rep;  // same image and text, a new last token
        else
          q.prompt_ids[0] = rep;  // a new first token: nothing of the last request is reused
        for (const auto& f : images) q.images.push_back({f, {}});
        q.sampling.temperature = 0;
        q.max_tokens = n;
        q.ignore_eos = true;
        auto res = engine->generate(q);
        if (rep == 0) continue;
        double s = res.prompt_ms + res.vision_ms;
        rows[cached].push_back({res.vision_ms, s, double(res.prompt_tokens) * 1e3 / s,
                                res.decode_tokens_per_s, res.prompt_tokens, res.images_encoded,
                                res.images_cached, res.cached_tokens});
      }
    }
    fmt::print("model    {}{} ({} image(s), {} text tokens, {} generated, median of {})\n", dir,
               quantize.empty() ? "" : " " + quantize, images.size(), p, n, r);
    fmt::print("{:<22} {:>8} {:>10} {:>10} {:>16} {:>12}\n", "", "prompt", "vision ms", "prompt ms",
               "prefill tok/s*", "decode tok/s");
    const char* names[] = {"tower every request", "feature cache hit", "prefix cache hit"};
    for (int c = 0; c < 3; ++c) {
      std::vector<double> v, pm, pf, dc;
      for (const auto& x : rows[c]) {
        v.push_back(x.vision_ms), pm.push_back(x.prompt_ms);
        pf.push_back(x.prefill_tps), dc.push_back(x.decode_tps);
      }
      fmt::print(
          "{:<22} {:>8} {:>10.1f} {:>10.1f} {:>16.1f} {:>12.2f}   (tower runs {}, feature hits {}, "
          "{} "
          "tokens reused)\n",
          names[c], rows[c][0].prompt_tokens, median(v), median(pm), median(pf), median(dc),
          rows[c][0].encoded, rows[c][0].cached, rows[c][0].reused);
    }
    fmt::print(
        "prompt ms: image decoding, preprocessing, tower and prefill; * prompt tokens (image "
        "tokens included) per second of it\n");
    return 0;
  };
}

}  // namespace vkllm::cli
