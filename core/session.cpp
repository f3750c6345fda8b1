#include "core/session.h"

#include <fmt/format.h>

#include <algorithm>

#include "sdk/base/error.h"
#include "sdk/ops/sample.h"

namespace vkllm::core {

int64_t default_context(const plugin::ModelInfo& info, int64_t context) {
  return context > 0 ? context
                     : std::min<int64_t>(info.max_context > 0 ? info.max_context : 4096, 4096);
}

int64_t default_context(const LoadedModel& model, int64_t context) {
  return default_context(model.info(), context);
}

KvPlan plan_kv_cache(const plugin::ModelInfo& info, const plugin::VisionSpec* vision,
                     const SessionOptions& opt, int64_t context, int max_sequences) {
  KvPlan plan;
  plan.layers = info.kv;
  if (opt.max_kv_size > 0) {
    if (opt.kv_sink < 0 || opt.max_kv_size <= int64_t(opt.kv_sink) + opt.block_size) {
      throw InputError(
          fmt::format("max_kv_size {} must exceed the {} sink tokens by at least a "
                      "block ({} tokens)",
                      opt.max_kv_size, opt.kv_sink, opt.block_size));
    }
    for (auto& l : plan.layers) {
      if (l.window == 0) {
        l.window = int(opt.max_kv_size - opt.kv_sink);
        l.sink = opt.kv_sink;
      }
    }
  }
  // A bidirectional image run is evaluated in one step even when longer than a chunk.
  int64_t step = std::max(1, opt.prefill_chunk);
  if (vision && vision->bidirectional) {
    int64_t run = context;
    if (vision->resize == plugin::ImageResize::fixed) {
      const int64_t per = int64_t(vision->patch_size) * vision->merge_size * vision->token_pool;
      run = (vision->image_height / per) * (vision->image_width / per);
    }
    step = std::max(step, std::min(run, context));
  }
  plan.max_step = step;
  plan.options = {.block_size = opt.block_size,
                  .max_tokens = std::max(context, opt.cache_tokens > 0 ? opt.cache_tokens
                                                  : opt.prefix_cache   ? 2 * context
                                                                       : context),
                  .max_sequences = max_sequences + (opt.prefix_cache ? 1 : 0),
                  .max_step = int(step),
                  .bits = opt.kv_bits,
                  .group = opt.kv_group_size,
                  .prefix_cache = opt.prefix_cache};
  return plan;
}

std::unique_ptr<sdk::KvCache> make_kv_cache(LoadedModel& model, const SessionOptions& opt,
                                            int64_t context, int max_sequences, int64_t* max_step) {
  KvPlan plan = plan_kv_cache(model.info(), model.model().vision(), opt, context, max_sequences);
  *max_step = plan.max_step;
  if (!opt.cache_dir.empty()) {
    if (!opt.prefix_cache)
      throw InputError(
          fmt::format("cache directory {} needs the prefix cache (it is off)", opt.cache_dir));
    plan.options.disk = {.dir = opt.cache_dir,
                         .max_bytes = opt.cache_disk_bytes,
                         .fingerprint = model.fingerprint()};
  }
  return std::make_unique<sdk::KvCache>(model.device(), plan.layers, plan.options);
}

Session::Session(std::shared_ptr<LoadedModel> model, SessionOptions opt)
    : model_(std::move(model)), opt_(opt) {
  context_ = default_context(*model_, opt.context);
  cache_ = make_kv_cache(*model_, opt_, context_, 1, &max_step_);
  seq_ = cache_->create();
}

Session::~Session() = default;

void check_vocabulary(std::span<const int32_t> ids, int64_t vocab, int64_t first) {
  for (size_t i = 0; i < ids.size(); ++i) {
    if (ids[i] < 0 || ids[i] >= vocab) {
      throw InputError(fmt::format("token id {} at position {} is outside the vocabulary [0, {})",
                                   ids[i], first + int64_t(i), vocab));
    }
  }
}

void Session::check_ids(std::span<const int32_t> ids) const {
  check_vocabulary(ids, model_->info().vocab_size, length());
  if (opt_.max_kv_size == 0 && length() + int64_t(ids.size()) > context_) {
    throw InputError(
        fmt::format("{} tokens do not fit the context: {} already held, context is {} "
                    "tokens (raise it with --context)",
                    ids.size(), length(), context_));
  }
}

void Session::append_keys(std::span<const int32_t> ids, std::span<const uint64_t> keys) {
  if (!keys.empty() && keys.size() != ids.size())
    throw InternalError("[session] prefix-cache keys do not match the ids");
  for (size_t i = 0; i < ids.size(); ++i)
    keys_.push_back(key_of(keys.empty() ? uint64_t(uint32_t(ids[i])) : keys[i]));
}

int64_t Session::start(std::span<const int32_t> ids, std::span<const uint64_t> keys,
                       std::span<const int32_t> next) {
  if ((!keys.empty() && keys.size() != ids.size()) || (!next.empty() && next.size() != ids.size()))
    throw InternalError("[session] prefix-cache keys or positions do not match the ids");
  std::vector<uint64_t> own(ids.size());
  for (size_t i = 0; i < ids.size(); ++i)
    own[i] = key_of(keys.empty() ? uint64_t(uint32_t(ids[i])) : keys[i]);
  keys = own;
  size_t limit = ids.empty() ? 0 : ids.size() - 1;
  size_t common = 0;
  while (common < keys_.size() && common < limit && keys_[common] == keys[common]) ++common;
  if (opt_.prefix_cache) {
    // Earlier requests may have left a longer matching prefix in the index than the one this
    // session holds.
    sdk::SeqId fresh = cache_->create();
    int64_t got = 0;
    try {
      got = cache_->attach_prefix(fresh, keys.first(limit + 1));
    } catch (...) {
      cache_->release(fresh);
      throw;
    }
    if (got > int64_t(common)) {
      cache_->release(seq_);
      seq_ = fresh;
      tokens_.assign(ids.begin(), ids.begin() + got);
      keys_.assign(keys.begin(), keys.begin() + got);
      next_.resize(size_t(got));
      for (int64_t i = 0; i < got; ++i)
        next_[size_t(i)] = next.empty() ? int32_t(i + 1) : next[size_t(i)];
      return got;
    }
    cache_->release(fresh);
  }
  // A sliding-window cache that dropped blocks behind its window cannot go back to a shorter
  // prefix than the window covers: the prompt is evaluated from the start.
  if (!cache_->can_truncate(seq_, int64_t(common))) common = 0;
  truncate(int64_t(common));
  return int64_t(common);
}

// One forward pass over ids = the eval's ids [offset, offset + T).
sdk::Tensor Session::forward(sdk::Graph& g, std::span<const int32_t> ids, const EvalOptions& opt,
                             int64_t offset, int64_t logits_begin) {
  const int64_t T = int64_t(ids.size());
  const int rows = std::max(1, model_->info().position_rows);
  plugin::Batch b;
  b.tokens = g.alloc(Dtype::i32, {T});
  g.upload(b.tokens, ids.data(), ids.size() * 4);
  std::vector<int32_t> seq(static_cast<size_t>(T));
  for (int64_t i = 0; i < T; ++i) seq[size_t(i)] = int32_t(length() + i);
  b.seq_pos = g.alloc(Dtype::i32, {T});
  g.upload(b.seq_pos, seq.data(), seq.size() * 4);
  // Rotary positions: given (M-RoPE with images) or continuing one past the largest so far,
  // the same in every row. For plain RoPE that is the sequence index.
  std::vector<int32_t> pos(size_t(rows * T));
  std::vector<int32_t> next(static_cast<size_t>(T));
  int32_t at = next_.empty() ? 0 : next_.back();
  const int64_t n = opt.positions.empty() ? 0 : int64_t(opt.positions.size()) / rows;
  for (int64_t i = 0; i < T; ++i) {
    int32_t top = at;
    for (int r = 0; r < rows; ++r) {
      int32_t p = n ? opt.positions[size_t(r * n + offset + i)] : at;
      pos[size_t(r * T + i)] = p;
      top = std::max(top, p + 1);
    }
    if (!n) top = at + 1;
    next[size_t(i)] = at = top;
  }
  if (rows == 1 && !n) {
    b.positions = b.seq_pos;
  } else {
    b.positions = g.alloc(Dtype::i32, {rows, T});
    g.upload(b.positions, pos.data(), pos.size() * 4);
  }
  std::vector<int32_t> spans;              // sequence indexes [start, end) of bidirectional runs
  const int64_t base = length() - offset;  // sequence index of the eval's id 0
  for (const auto& img : opt.images) {
    const int64_t len = img.features.dim(0);
    const int64_t from = std::max(img.first, offset), to = std::min(img.first + len, offset + T);
    if (from < to) {
      b.images.push_back({img.features.slice(0, from - img.first, to - from), from - offset});
      if (img.bidirectional) {
        spans.push_back(int32_t(base + img.first));
        spans.push_back(int32_t(base + img.first + len));
      }
    }
  }
  if (!spans.empty()) {
    b.spans = g.alloc(Dtype::i32, {int64_t(spans.size() / 2), 2});
    g.upload(b.spans, spans.data(), spans.size() * 4);
  }
  sdk::KvStep step = cache_->begin(g, seq_, int(T));
  b.kv = &step;
  b.cache = cache_.get();
  b.logits_begin = logits_begin;
  if (model_->lora() && adapter_ > 0) g.set_lora({model_->lora(), {{0, T, adapter_}}, T});
  sdk::Tensor logits = model_->model().forward(g, b);
  tokens_.insert(tokens_.end(), ids.begin(), ids.end());
  append_keys(ids, opt.keys.empty() ? opt.keys : opt.keys.subspan(size_t(offset), size_t(T)));
  next_.insert(next_.end(), next.begin(), next.end());
  return logits;
}

std::vector<float> Session::eval(std::span<const int32_t> ids, const EvalOptions& opt) {
  if (ids.empty()) throw InputError("nothing to evaluate: the prompt has no tokens");
  check_ids(ids);
  const int rows = std::max(1, model_->info().position_rows);
  if (!opt.positions.empty() && opt.positions.size() != ids.size() * size_t(rows))
    throw InternalError("[session] positions do not match the ids");
  const int64_t vocab = model_->info().vocab_size;
  const int64_t n = int64_t(ids.size());
  std::vector<float> out;
  if (opt.all_logits) out.reserve(size_t(n * vocab));
  for (int64_t at = 0, len = 0; at < n; at += len) {
    if (opt.cancel && opt.cancel->load())
      throw Cancelled(fmt::format("cancelled after {} of {} prompt tokens", at, n));
    len = chunk_length(opt, at, n);
    bool last = at + len == n;
    sdk::Graph g(model_->device());
    int64_t before = length();
    sdk::Tensor logits;
    try {
      logits =
          forward(g, ids.subspan(size_t(at), size_t(len)), opt, at, opt.all_logits ? 0 : len - 1);
    } catch (...) {
      truncate(before);
      throw;
    }
    std::shared_ptr<sdk::Readback> rb;
    if (opt.all_logits || last) rb = g.download(logits);
    g.run();
    cache_->publish(seq_, keys_);
    if (rb) {
      auto v = rb->as<float>();
      out.insert(out.end(), v.begin(), v.end());
    }
    if (opt.progress) opt.progress(at + len, n);
  }
  return out;
}

int64_t prefill_chunk_length(std::span<const EvalOptions::Image> images, int64_t at, int64_t end,
                             int64_t chunk) {
  int64_t len = std::min<int64_t>(std::max<int64_t>(1, chunk), end - at);
  for (const auto& img : images) {
    if (!img.bidirectional) continue;
    const int64_t first = std::max(img.first, at), run_end = img.first + img.features.dim(0);
    if (first < at + len && run_end > at + len) {  // the chunk would end inside this run
      len = first > at ? first - at : std::min(run_end, end) - at;
    }
  }
  return len;
}

int64_t Session::chunk_length(const EvalOptions& opt, int64_t at, int64_t n) const {
  const int64_t len = prefill_chunk_length(opt.images, at, n, opt_.prefill_chunk);
  if (len > max_step_) {
    throw InternalError(fmt::format("[session] a prefill step of {} tokens exceeds the cache's {}",
                                    len, max_step_));
  }
  return len;
}

int32_t Session::eval_argmax(int32_t id) {
  std::array<int32_t, 1> ids{id};
  check_ids(ids);
  sdk::Graph g(model_->device());
  sdk::Tensor logits = forward(g, ids, {}, 0, 0);
  auto rb = g.download(ops::argmax(g, logits));
  g.run();
  cache_->publish(seq_, keys_);
  return rb->as<int32_t>()[0];
}

void Session::truncate(int64_t n) {
  if (n < 0 || n > length()) throw InternalError("[session] truncate out of range");
  cache_->truncate(seq_, n);
  tokens_.resize(size_t(n));
  keys_.resize(size_t(n));
  next_.resize(size_t(n));
}

}  // namespace vkllm::core
