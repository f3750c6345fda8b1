#include "metrics.h"

#include <fmt/format.h>

namespace vkllm::server {

void Histogram::observe(double seconds) {
  std::lock_guard lock(m_);
  size_t i = 0;
  while (i < kBounds.size() && seconds > kBounds[i]) ++i;
  ++counts_[i];
  sum_ += seconds;
}

std::string Histogram::text(const std::string& name, const std::string& help) const {
  std::lock_guard lock(m_);
  std::string out = fmt::format("# HELP {} {}\n# TYPE {} histogram\n", name, help, name);
  uint64_t total = 0;
  for (size_t i = 0; i < kBounds.size(); ++i) {
    total += counts_[i];
    out += fmt::format("{}_bucket{{le=\"{}\"}} {}\n", name, kBounds[i], total);
  }
  total += counts_.back();
  out += fmt::format("{}_bucket{{le=\"+Inf\"}} {}\n{}_sum {}\n{}_count {}\n", name, total, name,
                     sum_, name, total);
  return out;
}

void Metrics::count_request(const std::string& endpoint, int status) {
  std::lock_guard lock(m_);
  ++requests_[{endpoint, status}];
}

std::string Metrics::text(const Load& load) const {
  std::string out =
      "# HELP vkllm_requests_total HTTP requests by endpoint and status.\n"
      "# TYPE vkllm_requests_total counter\n";
  {
    std::lock_guard lock(m_);
    for (const auto& [k, n] : requests_)
      out += fmt::format("vkllm_requests_total{{endpoint=\"{}\",status=\"{}\"}} {}\n", k.first,
                         k.second, n);
  }
  auto counter = [&](const char* name, const char* help, uint64_t v) {
    out += fmt::format("# HELP {} {}\n# TYPE {} counter\n{} {}\n", name, help, name, name, v);
  };
  auto gauge = [&](const char* name, const char* help, int64_t v) {
    out += fmt::format("# HELP {} {}\n# TYPE {} gauge\n{} {}\n", name, help, name, name, v);
  };
  counter("vkllm_prompt_tokens_total", "Prompt tokens of finished requests.", prompt_tokens);
  counter("vkllm_generation_tokens_total", "Generated tokens.", generated_tokens);
  counter("vkllm_prefix_cache_hit_tokens_total", "Prompt tokens reused from the prefix cache.",
          cached_tokens);
  gauge("vkllm_queue_depth", "Requests waiting for their model.", load.waiting);
  gauge("vkllm_running_requests", "Sequences generating (in the running batch).", load.running);
  gauge("vkllm_kv_blocks_used", "KV cache blocks held (sequences and the prefix cache).",
        load.kv_blocks_used);
  gauge("vkllm_kv_blocks_free", "KV cache blocks free.",
        load.kv_blocks_total - load.kv_blocks_used);
  gauge("vkllm_kv_blocks_prefix_cache", "KV blocks only the prefix cache holds (evictable).",
        load.kv_blocks_prefix);
  counter("vkllm_preemptions_total", "Sequences preempted (recomputed later) for KV blocks.",
          uint64_t(load.preemptions));
  out += time_to_first_token.text("vkllm_time_to_first_token_seconds",
                                  "Time from arrival to the first generated token.");
  out += inter_token.text("vkllm_inter_token_seconds", "Time between generated tokens.");
  return out;
}

}  // namespace vkllm::server
