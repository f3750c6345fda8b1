#pragma once
// Options shared by the commands that load a model and sample from it, and a terminal progress
// bar.
#include <CLI/CLI.hpp>

#include <memory>
#include <optional>
#include <string>

#include "vkllm/engine.h"

namespace vkllm::cli {

struct ModelArgs {
  std::string model, quantize;
  std::vector<std::string> models;  // add(cmd, true): -m given once per model
  int64_t context = 0;
  int prefill_chunk = 512;
  int kv_bits = 16, kv_group_size = 32;
  bool no_prefix_cache = false;
  int64_t cache_tokens = 0, max_kv_size = 0, max_pixels = 0;
  std::string cache_dir;
  uint64_t cache_disk_bytes = uint64_t(8) << 30;
  uint64_t memory_budget = 0;
  bool fit_kv_bits = false;
  std::string context_overflow = "error";
  std::string draft_model, draft_quantize;
  int draft_tokens = 4;
  int parallel = 1;                   // serve: sequences batched together
  std::vector<std::string> adapters;  // DIR or NAME=DIR
  float adapter_scale = 1.0f;
  std::string adapter_mode;  // "": EngineOptions' default
  bool verbose = false;
  void add(CLI::App* cmd, bool several_models = false);
  std::unique_ptr<Engine> load() const { return load(model); }  // a progress bar on a terminal
  std::unique_ptr<Engine> load(const std::string& folder) const;
  static bool has_chat_template(const Engine& e);
};

struct SamplingArgs {
  std::optional<float> temp, top_p, min_p, repeat_penalty;
  std::optional<int> top_k;
  std::optional<uint64_t> seed;
  float presence = 0, frequency = 0;
  int max_tokens = 256;
  int logprobs = -1;
  std::vector<std::string> stop;
  bool ignore_eos = false;
  std::string grammar, json_schema;  // a file, or the text itself
  int thinking_budget = -1;
  std::optional<bool> enable_thinking;
  std::string thinking_markers;  // "START,END"
  void add(CLI::App* cmd);
  Request request() const;  // sampling and constraint fields filled
};

// A one-line progress bar on stderr when it is a terminal; silent otherwise.
class Progress {
 public:
  explicit Progress(std::string label);
  void update(int64_t done, int64_t total);
  void done();

 private:
  std::string label_;
  bool tty_, shown_ = false;
};

}  // namespace vkllm::cli
