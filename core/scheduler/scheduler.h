#pragma once
// Continuous batching: many sequences of one model decoded together. A scheduler thread admits
// submitted requests into the running set at every step and records one forward pass over all
// of them: one token for each sequence that is decoding, and chunks of the prompts being
// prefilled within a token budget, so running streams keep flowing while a long prompt comes
// in. Then every sequence that reached its end samples its next token and streams it.
//
// All sequences share one paged KV cache and its prefix cache (a prompt that starts like an
// earlier one attaches its blocks). A finished or cancelled request releases its blocks at
// once. When the cache has no room for a step, the most recently admitted sequence is
// preempted: its blocks are released and it waits at the head of the queue to be recomputed
// from its prompt and the tokens it already produced (the prefix cache usually still holds
// them), so a running request never fails for want of blocks.
#include <atomic>
#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "core/generate.h"
#include "core/session.h"

namespace vkllm::core {

struct SchedulerOptions {
  SessionOptions cache;   // context, block size, KV bits, prefix cache, capacity (cache_tokens)
  int max_sequences = 4;  // sequences running at once
  // Most tokens in one pass: one per decoding sequence, the rest for prefill chunks.
  int step_tokens = 512;
};

// One generation as the scheduler runs it.
struct SequenceRequest {
  std::vector<int32_t> ids;        // the whole prompt
  std::vector<uint64_t> keys;      // prefix-cache keys of the ids (empty: the ids)
  std::vector<int32_t> positions;  // explicit rotary positions [position_rows][ids] (M-RoPE)
  std::vector<int32_t> next;       // with positions: per id, one past its largest position
  // Image features over their placeholder runs (`first` indexes ids), asked for on the
  // scheduler thread once the cached prefix is known: runs entirely below `cached` are not
  // needed. Called again when a preempted sequence is admitted anew.
  std::function<std::vector<EvalOptions::Image>(int64_t cached)> images;
  GenerateParams params;  // no draft model (speculative decoding runs one sequence)
  // Runtime LoRA: the adapter's index in the model's table (0: the base) and its key, mixed
  // into the prefix-cache keys so that only the same adapter reuses cached blocks.
  int adapter = 0;
  uint64_t adapter_key = 0;
  const Tokenizer* tokenizer = nullptr;
  const std::atomic<bool>* cancel = nullptr;
};

struct SchedulerStats {
  int running = 0, waiting = 0;
  int64_t kv_blocks_used = 0, kv_blocks_total = 0;  // full-attention blocks (the first group)
  int64_t preemptions = 0, steps = 0;
  int64_t shared_steps = 0;  // passes over more than one sequence
  sdk::PrefixCacheStats prefix;
};

class Scheduler {
 public:
  Scheduler(std::shared_ptr<LoadedModel> model, SchedulerOptions opt);
  ~Scheduler();  // cancels what is still running and joins the thread
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Runs the request to its end alongside the others, calling on_token from the calling thread
  // as tokens arrive. Thread-safe. Throws InputError for requests that cannot run (a prompt over
  // the context, bad parameters) and what the model threw for a failed step.
  GenerateResult generate(SequenceRequest req,
                          const std::function<void(const StreamEvent&)>& on_token = {});
  void cancel_all();

  int64_t context() const { return context_; }
  const SchedulerOptions& options() const { return opt_; }
  SchedulerStats stats() const;

  struct Job;
  struct Seq;

 private:
  void loop();
  void step();
  void admit();
  void run_pass();
  void finish(Seq& s, FinishReason reason);
  void fail(Seq& s, std::exception_ptr e);
  void preempt(Seq& s);
  void sample(Seq& s, std::span<const float> logits);

  std::shared_ptr<LoadedModel> model_;
  SchedulerOptions opt_;
  int64_t context_ = 0, max_step_ = 0;
  std::unique_ptr<sdk::KvCache> cache_;

  mutable std::mutex mutex_;  // guards submitted_, stop_, stats_
  std::condition_variable wake_;
  std::vector<std::unique_ptr<Seq>> submitted_;
  bool stop_ = false;
  std::atomic<bool> cancel_all_{false};
  SchedulerStats stats_;

  // Scheduler thread only.
  std::deque<std::unique_ptr<Seq>> waiting_;
  std::vector<std::unique_ptr<Seq>> running_;
  uint64_t admitted_ = 0;
  int64_t preemptions_ = 0, steps_ = 0, shared_steps_ = 0;
  // Requests that ended in this step, told after the stats are updated.
  std::vector<std::function<void()>> ended_;
  std::thread thread_;
};

}  // namespace vkllm::core
