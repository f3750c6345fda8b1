// Figures for the caching and fast-generation features on one model folder:
//   prefix cache  - prefill of a long prompt cold, then of the same prompt plus a new turn;
//   KV bits       - KV bytes per token per layer and decode tokens/s at 16, 8 and 4 bits;
//   max_kv_size   - decode tokens/s late in a long generation with and without the limit;
//   speculative   - with --draft DIR: acceptance rate and tokens/s against plain decoding;
//   disk tier     - the long prompt answered by a fresh engine (a restart) from --cache-dir's
//                   files, against computing it.
//
//   vkllm_bench_cache MODEL_DIR [--prompt N] [--only prefix|kv|maxkv|disk]
//                     [--draft DIR [--draft-quantize q4_0]]
#include <fmt/format.h>

#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <random>
#include <string>

#include "vkllm/engine.h"

using namespace vkllm;

namespace {

std::vector<int32_t> random_ids(int64_t n, int64_t vocab, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<int32_t> ids(static_cast<size_t>(n));
  for (auto& id : ids) id = int32_t(3 + rng() % uint32_t(vocab - 3));
  return ids;
}

Result run(Engine& e, const std::vector<int32_t>& ids, int gen) {
  Request r;
  r.prompt_ids = ids;
  r.sampling.temperature = 0.0f;
  r.max_tokens = gen;
  r.ignore_eos = true;
  return e.generate(r);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    fmt::print(stderr, "usage: {} MODEL_DIR [--prompt N] [--draft DIR [--draft-quantize T]]\n",
               argv[0]);
    return 2;
  }
  std::string dir = argv[1], draft, draft_q, only;
  int64_t n = 1024;
  for (int i = 2; i + 1 < argc; i += 2) {
    std::string a = argv[i];
    if (a == "--prompt") n = std::atoll(argv[i + 1]);
    if (a == "--draft") draft = argv[i + 1];
    if (a == "--draft-quantize") draft_q = argv[i + 1];
    if (a == "--only") only = argv[i + 1];
  }
  auto section = [&](const char* name) { return only.empty() || only == name; };
  try {
    auto base = Engine::load(dir, {.context = n + 256});
    int64_t vocab = base->description().vocab_size;
    fmt::print("model {} ({}), {} parameters\n", dir, base->description().model_type,
               base->description().parameters);

    // Prefix cache: a second turn reuses the first's blocks.
    auto prompt = random_ids(n, vocab, 1);
    auto turn2 = prompt;
    auto extra = random_ids(32, vocab, 2);
    turn2.insert(turn2.end(), extra.begin(), extra.end());
    Result cold = run(*base, prompt, 1);
    if (section("prefix")) {
      Result warm = run(*base, turn2, 1);
      auto fresh = Engine::load(dir, {.context = n + 256, .prefix_cache = false});
      Result cold2 = run(*fresh, turn2, 1);
      fmt::print(
          "prefix cache: {}-token prompt cold {:.0f} ms; next turn (+32 tokens) {:.0f} ms with "
          "{} tokens reused vs {:.0f} ms recomputing all {} ({:.1f}x)\n",
          n, cold.prompt_ms, warm.prompt_ms, warm.cached_tokens, cold2.prompt_ms,
          cold2.prompt_tokens, cold2.prompt_ms / std::max(warm.prompt_ms, 1e-3));
    }

    // KV cache bits: decode after the long prompt.
    for (int bits : {16, 8, 4}) {
      if (!section("kv")) break;
      auto e = Engine::load(dir, {.context = n + 256, .kv_bits = bits, .prefix_cache = false});
      Result r = run(*e, prompt, 64);
      fmt::print(
          "kv {:2d} bits: prefill {:.1f} tok/s, decode {:.1f} tok/s at {} tokens of context\n",
          bits, r.prompt_tokens_per_s, r.decode_tokens_per_s, n);
    }

    // max_kv_size: late decode with a 256-token cache against the full cache.
    for (int64_t m : {int64_t(0), int64_t(256)}) {
      if (!section("maxkv")) break;
      auto e = Engine::load(dir, {.context = n + 256, .prefix_cache = false, .max_kv_size = m});
      Result r = run(*e, prompt, 64);
      fmt::print("max_kv_size {}: decode {:.1f} tok/s after a {}-token prompt\n",
                 m ? std::to_string(m) : std::string("off"), r.decode_tokens_per_s, n);
    }

    if (section("disk")) {
      namespace fs = std::filesystem;
      const fs::path cache =
          fs::temp_directory_path() / fmt::format("vkllm-bench-kvdisk-{}", ::getpid());
      fs::remove_all(cache);
      const EngineOptions o{.context = n + 256, .cache_dir = cache.string()};
      double writing_ms = 0;
      {
        auto first = Engine::load(dir, o);
        writing_ms = run(*first, prompt, 1).prompt_ms;
      }  // the engine's end waits for the queued writes
      uint64_t bytes = 0;
      for (const auto& f : fs::recursive_directory_iterator(cache))
        if (f.is_regular_file()) bytes += f.file_size();
      auto restarted = Engine::load(dir, o);
      Result r = run(*restarted, prompt, 1);
      fmt::print(
          "disk tier: {}-token prompt after a restart {:.0f} ms ({} tokens read back from {:.1f} "
          "MiB of files) vs {:.0f} ms computing it ({:.1f}x); the first run, writing, {:.0f} ms\n",
          n, r.prompt_ms, r.cached_tokens, double(bytes) / (1 << 20), cold.prompt_ms,
          cold.prompt_ms / std::max(r.prompt_ms, 1e-3), writing_ms);
      fs::remove_all(cache);
    }

    if (!draft.empty()) {
      auto spec = Engine::load(
          dir,
          {.context = n + 256, .draft_model = draft, .draft_quantize = draft_q, .draft_tokens = 4});
      auto p = random_ids(64, vocab, 3);
      Result plain = run(*base, p, 128);
      Result s = run(*spec, p, 128);
      fmt::print(
          "speculative (draft {}{}, 4 tokens): {} of {} accepted ({:.0f}%), {:.1f} tok/s vs "
          "{:.1f} plain ({:.2f}x), output identical: {}\n",
          draft, draft_q.empty() ? "" : " " + draft_q, s.draft_accepted, s.draft_proposed,
          100.0 * double(s.draft_accepted) / double(std::max<int64_t>(s.draft_proposed, 1)),
          s.decode_tokens_per_s, plain.decode_tokens_per_s,
          s.decode_tokens_per_s / plain.decode_tokens_per_s, s.ids == plain.ids ? "yes" : "NO");
    }
  } catch (const Error& e) {
    fmt::print(stderr, "vkllm_bench_cache: {}\n", e.what());
    return 1;
  }
  return 0;
}
