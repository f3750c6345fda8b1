#pragma once
// The server's counters and latency histograms, in Prometheus' text format (GET /metrics).
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

namespace vkllm::server {

class Histogram {
 public:
  void observe(double seconds);
  std::string text(const std::string& name, const std::string& help) const;

 private:
  static constexpr std::array<double, 12> kBounds = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                     0.5,   1,    2.5,   5,    10,  30};
  mutable std::mutex m_;
  std::array<uint64_t, kBounds.size() + 1> counts_{};
  double sum_ = 0;
};

// What the models are doing now, summed over the served models.
struct Load {
  int64_t waiting = 0, running = 0;  // requests queued / sequences generating
  int64_t kv_blocks_used = 0, kv_blocks_total = 0, kv_blocks_prefix = 0;
  int64_t preemptions = 0;
};

struct Metrics {
  std::atomic<uint64_t> prompt_tokens{0}, generated_tokens{0}, cached_tokens{0};
  Histogram time_to_first_token, inter_token;
  void count_request(const std::string& endpoint, int status);
  std::string text(const Load& load) const;

 private:
  mutable std::mutex m_;
  std::map<std::pair<std::string, int>, uint64_t> requests_;
};

}  // namespace vkllm::server
