// vkllm generate: a prompt (text, chat-templated text or token ids) in, a continuation out.
#include <fmt/format.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "commands.h"
#include "core/weights/safetensors.h"
#include "options.h"
#include "sdk/base/error.h"
#include "vkllm/engine.h"

namespace vkllm::cli {
namespace {

std::vector<int32_t> parse_ids(const std::string& s) {
  std::vector<int32_t> ids;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t b = item.find_first_not_of(" \t"), e = item.find_last_not_of(" \t");
    if (b == std::string::npos) continue;
    item = item.substr(b, e - b + 1);
    try {
      size_t used = 0;
      long v = std::stol(item, &used);
      if (used != item.size() || v < 0 || v > INT32_MAX) throw std::invalid_argument(item);
      ids.push_back(int32_t(v));
    } catch (const std::exception&) {
      throw InputError(fmt::format("--prompt-ids: '{}' is not a token id", item));
    }
  }
  if (ids.empty()) throw InputError("--prompt-ids: no ids given");
  return ids;
}

}  // namespace

Run add_generate(CLI::App& app) {
  auto* cmd = app.add_subcommand("generate", "Generate a continuation of a prompt");
  static ModelArgs m;
  static SamplingArgs s;
  static std::string prompt, prompt_ids, system, logits_out;
  static std::vector<std::string> images;
  static bool json = false, raw = false;
  m.add(cmd);
  s.add(cmd);
  cmd->add_option("--prompt,-p", prompt, "Prompt text (the chat template is applied unless --raw)");
  cmd->add_option("--prompt-ids", prompt_ids, "Comma-separated token ids as they enter the model");
  cmd->add_option("--image", images,
                  "Image file or data: URL for a vision model (repeatable, in placeholder order)");
  cmd->add_option("--system", system, "System message (chat template)");
  cmd->add_flag("--raw", raw, "Use the prompt as is, without the chat template");
  cmd->add_option("--logits-out", logits_out,
                  "Write the prompt's logits [positions, vocab] (f32 safetensors)");
  cmd->add_flag("--json", json, "One JSON object per generated token: id, text, logprob");
  return [] {
    if (prompt.empty() == prompt_ids.empty())
      throw InputError("give exactly one of --prompt and --prompt-ids");
    auto engine = m.load();
    Request r = s.request();
    if (!prompt_ids.empty()) {
      r.prompt_ids = parse_ids(prompt_ids);
    } else if (raw || !m.has_chat_template(*engine)) {
      r.prompt = system.empty() ? prompt : system + "\n\n" + prompt;
    } else {
      if (!system.empty()) r.messages.push_back({"system", system});
      r.messages.push_back({"user", prompt});
    }
    for (const auto& img : images) r.images.push_back({img, {}});
    r.prompt_logits = !logits_out.empty();
    if (json && r.logprobs < 0) r.logprobs = 0;
    Progress bar("prefill");
    r.on_prefill = [&](int64_t done, int64_t total) { bar.update(done, total); };
    auto res = engine->generate(r, [&](const Chunk& c) {
      if (json) {
        if (c.id < 0) return;  // a final flush of held-back text goes with the summary
        nlohmann::json j = {{"id", c.id}, {"text", c.text}};
        j["logprob"] = c.logprob ? nlohmann::json(c.logprob->logprob) : nlohmann::json(nullptr);
        if (c.logprob && !c.logprob->top.empty()) {
          auto top = nlohmann::json::array();
          for (auto [id, lp] : c.logprob->top) top.push_back({{"id", id}, {"logprob", lp}});
          j["top_logprobs"] = top;
        }
        fmt::print("{}\n", j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      } else {
        fmt::print("{}", c.text);
      }
      std::fflush(stdout);
    });
    bar.done();
    if (!logits_out.empty()) {
      int64_t vocab = engine->description().vocab_size;
      int64_t rows = int64_t(res.prompt_logits.size()) / vocab;
      core::write_safetensors(logits_out, {{"logits",
                                            core::StDtype::F32,
                                            {rows, vocab},
                                            res.prompt_logits.data(),
                                            res.prompt_logits.size() * 4}});
    }
    if (!json && !engine->has_tokenizer()) {
      fmt::print("{}", fmt::join(res.ids, ","));  // no tokenizer: the ids are the output
    }
    if (!json) fmt::print("\n");
    if (json) {
      nlohmann::json end = {{"finish_reason", res.finish_reason},
                            {"prompt_tokens", res.prompt_tokens},
                            {"cached_tokens", res.cached_tokens},
                            {"truncated_tokens", res.truncated_tokens},
                            {"prompt_ms", res.prompt_ms},
                            {"draft_proposed", res.draft_proposed},
                            {"draft_accepted", res.draft_accepted},
                            {"generated_tokens", res.generated_tokens},
                            {"images_encoded", res.images_encoded},
                            {"images_cached", res.images_cached},
                            {"vision_ms", res.vision_ms},
                            {"grammar_ms", res.grammar_ms},
                            {"prompt_tokens_per_s", res.prompt_tokens_per_s},
                            {"decode_tokens_per_s", res.decode_tokens_per_s}};
      fmt::print(stderr, "{}\n", end.dump());
    } else if (m.verbose) {
      fmt::print(stderr,
                 "[{} prompt tokens{} at {:.1f} tok/s ({:.0f} ms), {} generated at {:.1f} tok/s, "
                 "finish: {}]\n",
                 res.prompt_tokens,
                 res.cached_tokens ? fmt::format(" ({} cached)", res.cached_tokens) : "",
                 res.prompt_tokens_per_s, res.prompt_ms, res.generated_tokens,
                 res.decode_tokens_per_s, res.finish_reason);
      const MemoryReport mem = engine->memory();
      fmt::print(stderr,
                 "[memory: {:.1f} MiB in use (weights, KV cache), activations peak {:.1f} MiB; "
                 "estimated {:.1f} MiB of a {:.1f} MiB budget]\n",
                 double(mem.weights_and_kv) / (1 << 20), double(mem.activations_peak) / (1 << 20),
                 double(mem.estimate_total) / (1 << 20), double(mem.budget) / (1 << 20));
      if (res.truncated_tokens > 0)
        fmt::print(stderr, "[context overflow: {} prompt tokens dropped]\n", res.truncated_tokens);
      if (res.images_encoded + res.images_cached > 0) {
        fmt::print(stderr, "[images: {} encoded, {} from the feature cache, {:.1f} ms]\n",
                   res.images_encoded, res.images_cached, res.vision_ms);
      }
      if (res.grammar_ms > 0) {
        fmt::print(stderr,
                   "[grammar: {:.2f} ms of token masks per generated token, {:.1f}% of decode]\n",
                   res.grammar_ms / double(std::max<int64_t>(1, res.generated_tokens)),
                   res.decode_ms > 0 ? 100.0 * res.grammar_ms / res.decode_ms : 0.0);
      }
      if (res.draft_proposed > 0) {
        fmt::print(stderr, "[draft: {} of {} proposed tokens accepted ({:.0f}%)]\n",
                   res.draft_accepted, res.draft_proposed,
                   100.0 * double(res.draft_accepted) / double(res.draft_proposed));
      }
    }
    return 0;
  };
}

}  // namespace vkllm::cli
