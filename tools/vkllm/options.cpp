#include "options.h"

#include <fmt/format.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

namespace vkllm::cli {

void ModelArgs::add(CLI::App* cmd, bool several_models) {
  if (several_models)
    cmd->add_option("--model,-m", models, "Model folder (repeat for several models)")->required();
  else
    cmd->add_option("--model,-m", model,
                    "Model folder (config.json, *.safetensors, tokenizer.json)")
        ->required();
  cmd->add_option("--quantize", quantize, "Quantize weights at load time: q8_0 or q4_0");
  cmd->add_option("--context,-c", context, "Context length in tokens (default: min(model, 4096))");
  cmd->add_option("--prefill-chunk", prefill_chunk, "Tokens per forward pass in prefill")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--kv-bits", kv_bits, "KV cache storage: 16 (f16), 8 or 4 bits per value")
      ->check(CLI::IsMember({4, 8, 16}));
  cmd->add_option("--kv-group-size", kv_group_size, "Values per scale of a quantized KV cache")
      ->check(CLI::PositiveNumber);
  cmd->add_flag("--no-prefix-cache", no_prefix_cache,
                "Do not keep KV blocks of earlier prompts for reuse");
  cmd->add_option("--cache-tokens", cache_tokens,
                  "KV cache capacity in tokens (default: twice the context with the prefix cache)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--cache-dir", cache_dir,
                  "Also keep prefix-cache KV blocks in this folder and reuse them across "
                  "restarts");
  cmd->add_option("--cache-disk-bytes", cache_disk_bytes,
                  "Byte budget of --cache-dir (least recently used blocks go first; default 8 GiB)")
      ->transform(CLI::AsSizeValue(false));
  cmd->add_option("--memory-budget", memory_budget,
                  "Device memory to use (e.g. 6G; default 90% of the device's memory): a "
                  "context that does not fit shrinks to the largest that does")
      ->transform(CLI::AsSizeValue(false));
  cmd->add_flag("--fit-kv-bits", fit_kv_bits,
                "To fit the memory budget, narrow the KV cache to 8 or 4 bits before shrinking "
                "the context");
  cmd->add_option("--context-overflow", context_overflow,
                  "A prompt longer than the context: error, truncate-middle (keep its start and "
                  "end) or rolling (keep its end)")
      ->check(CLI::IsMember({"error", "truncate-middle", "rolling"}));
  cmd->add_option("--max-kv-size", max_kv_size,
                  "Keep only the first 4 and the most recent tokens in full-attention layers, "
                  "this many in all (generation may run past the context)")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--draft-model", draft_model,
                  "Speculative decoding with this smaller model (same tokenizer)");
  cmd->add_option("--draft-quantize", draft_quantize, "Quantize the draft model: q8_0 or q4_0");
  cmd->add_option("--draft-tokens", draft_tokens, "Tokens the draft proposes per step")
      ->check(CLI::Range(1, 32));
  cmd->add_option("--max-pixels", max_pixels,
                  "Vision models: resize images to at most this many pixels (default: "
                  "preprocessor_config.json's max_pixels)")
      ->check(CLI::PositiveNumber);
  cmd->add_option("--adapter,--adapter-path", adapters,
                  "LoRA adapter folder (PEFT or MLX); NAME=DIR names one that requests select "
                  "(serve: model BASE:NAME); repeat for several");
  cmd->add_option("--adapter-scale", adapter_scale, "Multiplies the adapters' own scales");
  cmd->add_option("--adapter-mode", adapter_mode,
                  "merged: fold one adapter into the weights at load; runtime: keep the base "
                  "and serve every adapter beside it (default: merged for one unnamed adapter)")
      ->check(CLI::IsMember({"merged", "runtime"}));
  cmd->add_flag("--verbose,-v", verbose, "Print timings");
}

std::unique_ptr<Engine> ModelArgs::load(const std::string& folder) const {
  EngineOptions o;
  o.quantize = quantize;
  o.context = context;
  o.prefill_chunk = prefill_chunk;
  o.kv_bits = kv_bits;
  o.kv_group_size = kv_group_size;
  o.prefix_cache = !no_prefix_cache;
  o.cache_tokens = cache_tokens;
  o.cache_dir = cache_dir;
  o.cache_disk_bytes = cache_disk_bytes;
  o.memory_budget = memory_budget;
  o.fit_kv_bits = fit_kv_bits;
  o.context_overflow = context_overflow;
  o.max_kv_size = max_kv_size;
  o.draft_model = draft_model;
  o.draft_quantize = draft_quantize;
  o.draft_tokens = draft_tokens;
  o.max_image_pixels = max_pixels;
  o.parallel = parallel;
  o.adapters = adapters;
  o.adapter_scale = adapter_scale;
  o.adapter_mode = adapter_mode;
  auto bar = std::make_shared<Progress>("loading");
  o.on_load_progress = [bar](uint64_t done, uint64_t total) {
    bar->update(int64_t(done >> 20), int64_t(total >> 20));
  };
  auto e = Engine::load(folder, o);
  bar->done();
  return e;
}

bool ModelArgs::has_chat_template(const Engine& e) {
  try {
    e.apply_chat_template({{"user", "x"}}, true);
    return true;
  } catch (const std::exception&) {
    return false;
  }
}

void SamplingArgs::add(CLI::App* cmd) {
  cmd->add_option("--max-tokens,-n", max_tokens, "Tokens to generate")
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("--temp,--temperature", temp,
                  "Temperature (0: greedy; default from generation_config.json)");
  cmd->add_option("--top-k", top_k, "Keep the k most likely tokens (0: off)");
  cmd->add_option("--top-p", top_p, "Nucleus sampling threshold");
  cmd->add_option("--min-p", min_p, "Drop tokens below min_p times the most likely");
  cmd->add_option("--repeat-penalty", repeat_penalty, "Repetition penalty (1: off)");
  cmd->add_option("--presence-penalty", presence, "Presence penalty");
  cmd->add_option("--frequency-penalty", frequency, "Frequency penalty");
  cmd->add_option("--seed", seed, "Random seed");
  cmd->add_option("--stop", stop, "Stop string (repeatable)");
  cmd->add_option("--logprobs", logprobs,
                  "Report logprobs with this many alternatives (0: only the token's)");
  cmd->add_flag("--ignore-eos", ignore_eos, "Keep generating past end-of-sequence tokens");
  cmd->add_option("--grammar,--grammar-file", grammar,
                  "Constrain output to a GBNF grammar (llama.cpp's format): a file, or the "
                  "grammar itself");
  cmd->add_option("--json-schema,--json-schema-file,-j", json_schema,
                  "Constrain output to JSON following a JSON Schema: a file, or the schema "
                  "itself ('{...}'); '{}' for any JSON value")
      ->excludes("--grammar");
  cmd->add_option("--thinking-budget", thinking_budget,
                  "Reasoning models: tokens of thinking before the end marker is forced "
                  "(-1: unlimited)");
  cmd->add_option("--enable-thinking", enable_thinking,
                  "Reasoning models: enable_thinking for the chat template (true/false)");
  cmd->add_option("--thinking-markers", thinking_markers,
                  "Reasoning markers START,END (default: the template's <think>,</think>)");
}

namespace {
// A constraint option's text: the file it names, or the value itself when it is inline.
std::string file_or_text(const std::string& v, const char* option, bool inline_text) {
  if (v.empty() || inline_text) return v;
  std::ifstream f(v, std::ios::binary);
  if (!f) {
    throw InputError(
        fmt::format("{} {}: cannot read the file ({})", option, v,
                    std::filesystem::exists(v) ? "permission denied" : "no such file"));
  }
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}
}  // namespace

Request SamplingArgs::request() const {
  Request r;
  r.sampling.temperature = temp;
  r.sampling.top_k = top_k;
  r.sampling.top_p = top_p;
  r.sampling.min_p = min_p;
  r.sampling.repetition_penalty = repeat_penalty;
  r.sampling.presence_penalty = presence;
  r.sampling.frequency_penalty = frequency;
  r.sampling.seed = seed;
  r.max_tokens = max_tokens;
  r.stop = stop;
  r.ignore_eos = ignore_eos;
  r.logprobs = logprobs;
  r.grammar = file_or_text(grammar, "--grammar", grammar.find("::=") != std::string::npos);
  const auto first = json_schema.find_first_not_of(" \t\r\n");
  r.json_schema = file_or_text(
      json_schema, "--json-schema",
      first != std::string::npos && (json_schema[first] == '{' || json_schema[first] == '['));
  r.thinking_budget = thinking_budget;
  r.enable_thinking = enable_thinking;
  if (!thinking_markers.empty()) {
    const auto comma = thinking_markers.find(',');
    if (comma == std::string::npos || comma == 0 || comma + 1 == thinking_markers.size())
      throw InputError(fmt::format("--thinking-markers {}: expected START,END", thinking_markers));
    r.thinking_start = thinking_markers.substr(0, comma);
    r.thinking_end = thinking_markers.substr(comma + 1);
  }
  return r;
}

Progress::Progress(std::string label) : label_(std::move(label)), tty_(::isatty(2) != 0) {}

void Progress::update(int64_t done, int64_t total) {
  if (!tty_ || total <= 0) return;
  int width = 30, fill = int(double(done) / double(total) * width);
  fmt::print(stderr, "\r{} [{}{}] {}/{}", label_, std::string(size_t(fill), '#'),
             std::string(size_t(width - fill), ' '), done, total);
  shown_ = true;
}

void Progress::done() {
  if (shown_) fmt::print(stderr, "\r\033[K");
  shown_ = false;
}

}  // namespace vkllm::cli
