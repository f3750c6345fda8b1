#include "core/scheduler/scheduler.h"

#include <fmt/format.h>

#include <algorithm>

#include "sdk/base/error.h"
#include "sdk/base/log.h"
#include "sdk/vk/graph.h"

namespace vkllm::core {

// What the caller of generate() waits on: streamed events, then the result or the error.
struct Scheduler::Job {
  std::mutex m;
  std::condition_variable cv;
  std::deque<StreamEvent> events;
  bool done = false;
  GenerateResult result;
  std::exception_ptr error;

  void push(StreamEvent ev) {
    std::lock_guard l(m);
    events.push_back(std::move(ev));
    cv.notify_one();
  }
  void end(GenerateResult r, std::exception_ptr e) {
    std::lock_guard l(m);
    result = std::move(r);
    error = e;
    done = true;
    cv.notify_one();
  }
};

// A request on the scheduler thread: the tokens its cache sequence should hold (prompt, then
// generated tokens; the last one sampled is not in the cache yet), how many are.
struct Scheduler::Seq {
  Seq(SequenceRequest r, std::shared_ptr<Job> j)
      : req(std::move(r)),
        job(std::move(j)),
        sampler(req.params.sampling),
        out(req.tokenizer, req.params),
        constrained(req.params),
        thinking(req.params, req.tokenizer) {}
  SequenceRequest req;
  std::shared_ptr<Job> job;
  Sampler sampler;
  OutputStream out;
  GrammarStep constrained;
  ThinkingStep thinking;
  sdk::SeqId id = -1;  // -1: not in the cache
  std::vector<int32_t> tokens;
  std::vector<uint64_t> keys;  // prefix-cache key of each token
  std::vector<int32_t> next;   // one past the largest rotary position up to each token
  int64_t prompt = 0, done = 0;
  std::vector<EvalOptions::Image> images;  // `first` indexes tokens
  uint64_t order = 0;                      // admission order (the newest is preempted first)
  bool admitted = false, finished = false;
  GenerateResult res;
  double t_start = 0, t_first = 0;
  // This pass: n new tokens, logits rows from `logit` (count `logits`).
  int n = 0;
  int64_t logit = 0, logits = 0;

  bool wants_prompt_logits() const { return req.params.prompt_logits && done < prompt; }
};

Scheduler::Scheduler(std::shared_ptr<LoadedModel> model, SchedulerOptions opt)
    : model_(std::move(model)), opt_(opt) {
  if (opt_.max_sequences < 1 || opt_.max_sequences > 256)
    throw InputError(fmt::format("parallel sequences {} must be in [1, 256]", opt_.max_sequences));
  if (opt_.step_tokens < 1) throw InputError("step tokens must be positive");
  context_ = default_context(*model_, opt_.cache.context);
  cache_ = make_kv_cache(*model_, opt_.cache, context_, opt_.max_sequences, &max_step_);
  thread_ = std::thread([this] { loop(); });
}

Scheduler::~Scheduler() {
  {
    std::lock_guard l(mutex_);
    stop_ = true;
  }
  wake_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void Scheduler::cancel_all() {
  cancel_all_ = true;
  wake_.notify_one();
}

SchedulerStats Scheduler::stats() const {
  std::lock_guard l(mutex_);
  SchedulerStats s = stats_;
  s.waiting += int(submitted_.size());
  return s;
}

GenerateResult Scheduler::generate(SequenceRequest req,
                                   const std::function<void(const StreamEvent&)>& on_token) {
  if (req.ids.empty()) throw InputError("nothing to evaluate: the prompt has no tokens");
  if (req.params.draft)
    throw InputError("speculative decoding (a draft model) runs one sequence at a time");
  const int64_t n = int64_t(req.ids.size());
  check_vocabulary(req.ids, model_->info().vocab_size);
  if (opt_.cache.max_kv_size == 0 && n > context_) {
    throw InputError(fmt::format(
        "the prompt has {} tokens; it does not fit the context of {} tokens (raise it with "
        "--context)",
        n, context_));
  }
  const size_t rows = size_t(std::max(1, model_->info().position_rows));
  if ((!req.keys.empty() && req.keys.size() != req.ids.size()) ||
      (!req.positions.empty() &&
       (req.positions.size() != rows * req.ids.size() || req.next.size() != req.ids.size())))
    throw InternalError("[scheduler] keys or positions do not match the ids");
  auto job = std::make_shared<Job>();
  auto seq = std::make_unique<Seq>(std::move(req), job);  // validates sampling and stops
  Seq& s = *seq;
  s.tokens = s.req.ids;
  s.prompt = n;
  if (s.req.keys.empty())
    for (int32_t id : s.tokens) s.keys.push_back(uint64_t(uint32_t(id)));
  else
    s.keys = s.req.keys;
  // A block's hash chains from the first token, so keys of one adapter never match another's.
  if (s.req.adapter_key)
    for (auto& k : s.keys) k = sdk::mix_key(k, s.req.adapter_key);
  s.next = s.req.next;
  if (s.next.empty())
    for (int64_t i = 0; i < n; ++i) s.next.push_back(int32_t(i + 1));
  s.res.timings.prompt_tokens = n;
  {
    std::lock_guard l(mutex_);
    if (stop_) throw InputError("the model is shutting down");
    submitted_.push_back(std::move(seq));
  }
  wake_.notify_one();
  for (;;) {
    std::deque<StreamEvent> events;
    bool done;
    {
      std::unique_lock l(job->m);
      job->cv.wait(l, [&] { return job->done || !job->events.empty(); });
      events.swap(job->events);
      done = job->done;
    }
    if (on_token)
      for (const auto& ev : events) on_token(ev);
    if (done) break;
  }
  if (job->error) std::rethrow_exception(job->error);
  return std::move(job->result);
}

void Scheduler::loop() {
  for (;;) {
    {
      std::unique_lock l(mutex_);
      wake_.wait(l, [&] {
        return stop_ || cancel_all_ || !submitted_.empty() || !running_.empty() ||
               !waiting_.empty();
      });
      if (stop_) break;
      for (auto& s : submitted_) waiting_.push_back(std::move(s));
      submitted_.clear();
    }
    step();
    std::unique_lock l(mutex_);
    stats_.running = int(running_.size());
    stats_.waiting = int(waiting_.size());
    stats_.kv_blocks_total = cache_->total_blocks(0);
    stats_.kv_blocks_used = cache_->total_blocks(0) - cache_->free_blocks(0);
    stats_.prefix = cache_->prefix_stats();
    stats_.preemptions = preemptions_;
    stats_.steps = steps_;
    stats_.shared_steps = shared_steps_;
    l.unlock();
    for (auto& f : ended_) f();
    ended_.clear();
  }
  std::vector<std::unique_ptr<Seq>> left;
  {
    std::lock_guard l(mutex_);
    for (auto& s : submitted_) left.push_back(std::move(s));
    submitted_.clear();
  }
  for (auto& s : waiting_) left.push_back(std::move(s));
  for (auto& s : running_) left.push_back(std::move(s));
  waiting_.clear();
  running_.clear();
  for (auto& s : left) finish(*s, FinishReason::cancelled);
  for (auto& f : ended_) f();
}

void Scheduler::step() {
  const bool all = cancel_all_.exchange(false);
  auto cancelled = [&](const Seq& s) { return all || (s.req.cancel && s.req.cancel->load()); };
  for (auto& s : running_)
    if (cancelled(*s)) finish(*s, FinishReason::cancelled);
  for (auto& s : waiting_)
    if (cancelled(*s)) finish(*s, FinishReason::cancelled);
  std::erase_if(waiting_, [](const auto& s) { return s->finished; });
  std::erase_if(running_, [](const auto& s) { return s->finished; });
  admit();
  if (!running_.empty()) {
    ++steps_;
    run_pass();
  }
  std::erase_if(running_, [](const auto& s) { return s->finished; });
}

void Scheduler::admit() {
  while (int(running_.size()) < opt_.max_sequences && !waiting_.empty()) {
    std::unique_ptr<Seq> s = std::move(waiting_.front());
    waiting_.pop_front();
    try {
      s->id = cache_->create();
      s->done = 0;
      if (opt_.cache.prefix_cache && !s->req.params.prompt_logits) {
        // Leaves at least the last token to compute (the pending one once generating).
        s->done = cache_->attach_prefix(s->id, s->keys);
      }
      if (!s->admitted) {
        s->admitted = true;
        s->t_start = now_ms();
        s->res.timings.cached_tokens = s->done;
      }
      s->images.clear();
      if (s->req.images) s->images = s->req.images(s->done);
      s->order = ++admitted_;
    } catch (...) {
      fail(*s, std::current_exception());
      continue;
    }
    running_.push_back(std::move(s));
  }
}

void Scheduler::preempt(Seq& s) {
  if (s.done < s.prompt) s.res.prompt_logits.clear();  // collected again from the start
  cache_->release(s.id);
  s.id = -1;
  s.done = 0;
  s.images.clear();
  ++preemptions_;
  auto it =
      std::find_if(running_.begin(), running_.end(), [&](const auto& p) { return p.get() == &s; });
  waiting_.push_front(std::move(*it));
  running_.erase(it);
}

void Scheduler::finish(Seq& s, FinishReason reason) {
  if (s.finished) return;
  s.finished = true;
  if (std::string tail = s.out.finish(reason); !tail.empty()) {
    StreamEvent ev;
    ev.text = std::move(tail);
    ev.id = -1;
    s.job->push(std::move(ev));
  }
  if (s.id >= 0) cache_->release(s.id);
  s.id = -1;
  GenerateResult& r = s.res;
  r.finish = reason;
  r.text = s.out.text();
  r.stop_string = s.out.stop_string();
  r.timings.generated_tokens = int64_t(r.ids.size());
  const double now = now_ms();
  if (s.t_first > 0) {
    r.timings.decode_ms = now - s.t_first;
    r.timings.grammar_ms = s.constrained.ms();
  } else if (s.admitted) {
    r.timings.prompt_ms = now - s.t_start;
  }
  ended_.push_back([job = s.job, r = std::move(r)]() mutable { job->end(std::move(r), nullptr); });
}

void Scheduler::fail(Seq& s, std::exception_ptr e) {
  if (s.finished) return;
  s.finished = true;
  if (s.id >= 0) cache_->release(s.id);
  s.id = -1;
  ended_.push_back([job = s.job, e] { job->end({}, e); });
}

void Scheduler::sample(Seq& s, std::span<const float> logits) {
  const GenerateParams& p = s.req.params;
  if (s.t_first == 0) {
    s.t_first = now_ms();
    s.res.timings.prompt_ms = s.t_first - s.t_start;
  }
  if (int64_t(s.res.ids.size()) >= p.max_tokens) return finish(s, FinishReason::length);
  std::vector<float> row(logits.begin(), logits.end());
  s.sampler.penalize(row, s.tokens, size_t(s.prompt));
  const bool grammar_on = !s.thinking.active();
  if (grammar_on && !s.constrained.mask(row, int64_t(s.res.ids.size())))
    return finish(s, FinishReason::stop);
  const int32_t forced = s.thinking.forced();
  const int32_t id = forced >= 0 ? forced : s.sampler.sample(row);
  StreamEvent ev;
  if (p.logprobs >= 0) {
    ev.logprob = Sampler::logprob_of(row, id, p.logprobs);
    s.res.logprobs.push_back(*ev.logprob);
  }
  const OutputStream::Added added = s.out.add(id, ev);
  if (added == OutputStream::Added::end_of_sequence) return finish(s, FinishReason::stop);
  if (grammar_on) s.constrained.accept(id);
  s.thinking.accept(id);
  s.res.ids.push_back(id);
  s.tokens.push_back(id);
  s.keys.push_back(uint64_t(uint32_t(id)));
  s.next.push_back(s.next.back() + 1);
  s.job->push(std::move(ev));
  if (added == OutputStream::Added::stop_string) return finish(s, FinishReason::stop);
  if (s.constrained.active() && s.constrained.constraint()->finished())
    return finish(s, FinishReason::stop);
  if (int64_t(s.res.ids.size()) >= p.max_tokens) return finish(s, FinishReason::length);
  if (opt_.cache.max_kv_size == 0 && s.done >= context_) return finish(s, FinishReason::length);
}

// Plans the pass (decode rows first, then prefill chunks within the budget), reserves its KV
// slots (preempting the newest sequence while they do not fit), records and runs it, then
// samples for every sequence that reached its end.
void Scheduler::run_pass() {
  const auto& info = model_->info();
  const int rows_per_pos = std::max(1, info.position_rows);
  const int64_t vocab = info.vocab_size;
  const double t_plan = now_ms();
  double t_recorded = 0;
  std::vector<Seq*> parts;
  std::unique_ptr<sdk::Graph> g;
  sdk::KvStep step;
  for (;;) {
    parts.clear();
    std::vector<sdk::KvPart> kv;
    int64_t budget = opt_.step_tokens;
    for (auto& s : running_) {  // decoding: one token each
      s->n = 0;
      if (int64_t(s->tokens.size()) - s->done == 1) {
        s->n = 1;
        --budget;
      }
    }
    for (auto& s : running_) {  // prefilling: chunks while the budget lasts
      const int64_t left = int64_t(s->tokens.size()) - s->done;
      if (left <= 1 || budget <= 0) continue;
      int64_t n =
          prefill_chunk_length(s->images, s->done, int64_t(s->tokens.size()),
                               std::min<int64_t>(budget, std::max(1, opt_.cache.prefill_chunk)));
      // An image run longer than what is left of the budget waits for a pass of its own.
      if (n > budget && (budget < opt_.step_tokens || !parts.empty())) continue;
      if (n > max_step_)
        throw InternalError(fmt::format(
            "[scheduler] a prefill step of {} tokens exceeds the cache's {}", n, max_step_));
      s->n = int(n);
      budget -= n;
    }
    for (auto& s : running_) {
      if (s->n == 0) continue;
      parts.push_back(s.get());
      kv.push_back({s->id, s->n});
    }
    if (parts.empty()) return;
    g = std::make_unique<sdk::Graph>(model_->device());
    try {
      step = cache_->begin(*g, kv);
      break;
    } catch (const sdk::CacheFull& e) {
      Seq* victim = running_.front().get();
      for (auto& s : running_)
        if (s->order > victim->order) victim = s.get();
      if (running_.size() == 1) {
        fail(*victim,
             std::make_exception_ptr(InputError(fmt::format(
                 "the KV cache cannot hold this sequence ({} tokens) beside the prefix cache: {}; "
                 "raise --cache-tokens",
                 victim->tokens.size(), e.what()))));
        return;
      }
      preempt(*victim);
    }
  }

  if (parts.size() > 1) ++shared_steps_;
  // The batch: rows of each part in order.
  std::vector<int32_t> tokens, seq_pos, positions, spans, logit_rows;
  std::vector<std::vector<int32_t>> pos_rows(static_cast<size_t>(rows_per_pos));
  plugin::Batch b;
  const bool several = parts.size() > 1;
  int64_t T = 0;
  sdk::LoraPass lora{model_->lora(), {}, 0};
  for (size_t pi = 0; pi < parts.size(); ++pi) {
    Seq& s = *parts[pi];
    if (s.req.adapter > 0) lora.spans.push_back({T, s.n, s.req.adapter});
    for (int64_t i = s.done; i < s.done + s.n; ++i) {
      tokens.push_back(s.tokens[size_t(i)]);
      seq_pos.push_back(int32_t(i));
      const bool given = !s.req.positions.empty() && i < s.prompt;
      const int32_t at = i == 0 ? 0 : s.next[size_t(i - 1)];
      for (int r = 0; r < rows_per_pos; ++r)
        pos_rows[size_t(r)].push_back(given ? s.req.positions[size_t(r * s.prompt + i)] : at);
    }
    for (const auto& img : s.images) {
      const int64_t len = img.features.dim(0);
      const int64_t from = std::max(img.first, s.done),
                    to = std::min(img.first + len, s.done + s.n);
      if (from >= to) continue;
      b.images.push_back({img.features.slice(0, from - img.first, to - from), T + from - s.done});
      if (img.bidirectional) {
        spans.insert(spans.end(), {int32_t(img.first), int32_t(img.first + len)});
        if (several) spans.push_back(int32_t(pi));
      }
    }
    const bool samples = s.done + s.n == int64_t(s.tokens.size());
    s.logit = int64_t(logit_rows.size());
    const int64_t from = s.wants_prompt_logits() ? T : samples ? T + s.n - 1 : T + s.n;
    for (int64_t r = from; r < T + s.n; ++r) logit_rows.push_back(int32_t(r));
    s.logits = int64_t(logit_rows.size()) - s.logit;
    if (s.req.adapter > 0 && s.logits > 0)
      lora.head_spans.push_back({s.logit, s.logits, s.req.adapter});
    T += s.n;
  }
  for (const auto& r : pos_rows) positions.insert(positions.end(), r.begin(), r.end());

  const double t_built = now_ms();
  std::shared_ptr<sdk::Readback> rb;
  try {
    b.tokens = g->upload_i32(tokens, {T});
    b.seq_pos = g->upload_i32(seq_pos, {T});
    b.positions = g->upload_i32(positions, {rows_per_pos, T});
    if (rows_per_pos == 1) b.positions = b.positions.reshape({T});
    if (!spans.empty())
      b.spans = g->upload_i32(spans, {int64_t(spans.size()) / (several ? 3 : 2), several ? 3 : 2});
    b.kv = &step;
    b.cache = cache_.get();
    // Prefill chunks in the middle of their prompts want no logits; the pass still ends in one
    // row's (unused).
    const bool wanted = !logit_rows.empty();
    if (!wanted) logit_rows.push_back(int32_t(T - 1));
    b.logits_rows = g->upload_i32(logit_rows, {int64_t(logit_rows.size())});
    lora.rows = T;
    lora.head_rows = int64_t(logit_rows.size());
    if (lora.table && !lora.spans.empty()) g->set_lora(std::move(lora));
    sdk::Tensor logits = model_->model().forward(*g, b);
    if (wanted) rb = g->download(logits);
    t_recorded = now_ms();
    g->run();
  } catch (...) {
    auto e = std::current_exception();
    for (Seq* s : parts) fail(*s, e);
    return;
  }
  const double t_ran = now_ms();
  std::span<const float> all = rb ? rb->as<float>() : std::span<const float>{};
  for (Seq* sp : parts) {
    Seq& s = *sp;
    const bool prompt_rows = s.wants_prompt_logits();
    s.done += s.n;
    cache_->publish(s.id, s.keys);
    auto rows = all.subspan(size_t(s.logit * vocab), size_t(s.logits * vocab));
    if (prompt_rows)
      s.res.prompt_logits.insert(s.res.prompt_logits.end(), rows.begin(), rows.end());
    if (s.done == int64_t(s.tokens.size())) sample(s, rows.subspan(rows.size() - size_t(vocab)));
  }
  log::get("core")->debug(
      "[scheduler] pass over {} sequences, {} rows: plan {:.1f} ms, record {:.1f} ms, run {:.1f} "
      "ms, sample {:.1f} ms",
      parts.size(), T, t_built - t_plan, t_recorded - t_built, t_ran - t_recorded,
      now_ms() - t_ran);
}

}  // namespace vkllm::core
