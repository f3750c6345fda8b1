#pragma once
// One sequence on a loaded model: its KV cache, the tokens it holds, and forward passes over
// new tokens (prefill in chunks, decode one token at a time).
#include <atomic>
#include <functional>
#include <memory>
#include <span>
#include <vector>

#include "core/model.h"
#include "sdk/kv_cache.h"

namespace vkllm::core {

struct SessionOptions {
  int64_t context = 0;  // tokens the cache holds (0: min(max_position_embeddings, 4096))
  int block_size = 16;
  int prefill_chunk = 512;  // tokens per forward pass during prefill
  int kv_bits = 16;         // KV cache storage: 16 (f16), 8 or 4 bits per value
  int kv_group_size = 32;   // values per scale of a quantized cache
  // Cross-request prefix cache: full blocks stay resident after the tokens that filled them
  // are dropped, and start() attaches them to a new prompt with the same beginning.
  bool prefix_cache = false;
  // > 0: full-attention layers keep only the first kv_sink tokens and the most recent ones,
  // max_kv_size in all, and generation may run past the context (mlx's max_kv_size).
  int64_t max_kv_size = 0;
  int kv_sink = 4;
  int64_t cache_tokens = 0;  // KV capacity in tokens (0: the context, twice it with prefix_cache)
  // The prefix cache's disk tier (empty: none): blocks also go to files under this folder and
  // come back from them, across restarts, within cache_disk_bytes.
  std::string cache_dir;
  uint64_t cache_disk_bytes = uint64_t(8) << 30;
};

// The KV cache a model's sequences need: the context (0: min(max_position_embeddings, 4096)),
// the layers (max_kv_size turns full-attention layers into sink + window ones), the most tokens
// one step of a sequence may add (a bidirectional image run is never split across steps) and
// the cache itself (max_sequences sequences at once beside the prefix cache's).
int64_t default_context(const plugin::ModelInfo& info, int64_t context);
int64_t default_context(const LoadedModel& model, int64_t context);
struct KvPlan {
  std::vector<sdk::KvLayerSpec> layers;
  sdk::KvCacheOptions options;  // without the disk tier
  int64_t max_step = 0;
  uint64_t bytes() const { return sdk::KvCache::pool_bytes(layers, options); }
};
// vision: the model's (null for a text model, or when estimating without loading it).
KvPlan plan_kv_cache(const plugin::ModelInfo& info, const plugin::VisionSpec* vision,
                     const SessionOptions& opt, int64_t context, int max_sequences);
std::unique_ptr<sdk::KvCache> make_kv_cache(LoadedModel& model, const SessionOptions& opt,
                                            int64_t context, int max_sequences, int64_t* max_step);

struct EvalOptions {
  bool all_logits = false;  // logits of every new token (else of the last one)
  // Called after each chunk with (tokens processed, tokens to process).
  std::function<void(int64_t, int64_t)> progress;
  const std::atomic<bool>* cancel = nullptr;  // checked between chunks
  // Prefix-cache keys of the ids (default: the ids themselves); image tokens carry a hash of
  // the image's content so that only the same image reuses cached blocks.
  std::span<const uint64_t> keys;
  // Explicit rotary positions of the ids, [position_rows][ids.size()] (M-RoPE prompts with
  // images); empty: each token continues one past the largest position so far.
  std::span<const int32_t> positions;
  // Image features over placeholder runs; `first` indexes the ids and may be negative when
  // the run began in tokens already held (only the rows from the ids on are used).
  struct Image {
    sdk::Tensor features;  // f32 [n, hidden]
    int64_t first = 0;
    // Its tokens attend to each other (VisionSpec::bidirectional): the run is never split
    // across prefill chunks and is passed to the model as a span.
    bool bidirectional = false;
  };
  std::span<const Image> images;
};

// Throws InputError naming the first id outside [0, vocab) and its position (first + index).
void check_vocabulary(std::span<const int32_t> ids, int64_t vocab, int64_t first = 0);

// Tokens of the prefill chunk starting at `at` of a prompt ending at `end`: `chunk`, moved so that
// no bidirectional image run is split (ending before the run, or extended to its end). Image
// runs' `first` are in the same coordinates as at and end.
int64_t prefill_chunk_length(std::span<const EvalOptions::Image> images, int64_t at, int64_t end,
                             int64_t chunk);

class Session {
 public:
  explicit Session(std::shared_ptr<LoadedModel> model, SessionOptions opt = {});
  ~Session();

  LoadedModel& model() { return *model_; }
  int64_t context() const { return context_; }
  // With max_kv_size the cache keeps a bounded set of tokens and the length is unbounded.
  bool rotating() const { return opt_.max_kv_size > 0; }
  int64_t length() const { return int64_t(tokens_.size()); }
  const std::vector<int32_t>& tokens() const { return tokens_; }
  int64_t vocab() const { return model_->info().vocab_size; }

  // Runs `ids` through the model and returns f32 logits: [vocab] for the last token, or
  // [ids.size() * vocab] with all_logits. Throws InputError when the tokens do not fit the
  // context or an id is outside the vocabulary; Cancelled when cancelled (the tokens of the
  // chunks that completed stay in the cache).
  std::vector<float> eval(std::span<const int32_t> ids, const EvalOptions& opt = {});
  // One decode step whose next token is picked on the device (argmax): returns that token.
  int32_t eval_argmax(int32_t id);
  // Drops tokens past n.
  void truncate(int64_t n);
  // Prepares the session for a prompt: keeps the longest prefix of `ids` it already holds or
  // (with the prefix cache) can attach from earlier requests, drops the rest, and returns that
  // many tokens, which need no computing (at most ids.size() - 1: one token is always left to
  // evaluate).
  // `next` (optional) is, per id, one past the largest position up to it (M-RoPE prompts).
  int64_t start(std::span<const int32_t> ids, std::span<const uint64_t> keys = {},
                std::span<const int32_t> next = {});
  sdk::PrefixCacheStats prefix_stats() const { return cache_->prefix_stats(); }
  // Runtime LoRA: the adapter the following passes use (index into the model's table, 0: the
  // base) and its key, mixed into the prefix-cache keys so that only the same adapter reuses
  // held or cached tokens.
  void set_adapter(int index, uint64_t key) {
    adapter_ = index;
    adapter_key_ = key;
  }

 private:
  sdk::Tensor forward(sdk::Graph& g, std::span<const int32_t> ids, const EvalOptions& opt,
                      int64_t offset, int64_t logits_begin);
  // Tokens in the prefill chunk starting at `at`: the chunk size, moved so that no
  // bidirectional image run is split (ending before the run, or extended to its end).
  int64_t chunk_length(const EvalOptions& opt, int64_t at, int64_t n) const;
  int64_t max_step_ = 0;
  void check_ids(std::span<const int32_t> ids) const;

  std::shared_ptr<LoadedModel> model_;
  SessionOptions opt_;
  int64_t context_ = 0;
  std::unique_ptr<sdk::KvCache> cache_;
  sdk::SeqId seq_ = -1;
  void append_keys(std::span<const int32_t> ids, std::span<const uint64_t> keys);

  int adapter_ = 0;
  uint64_t adapter_key_ = 0;
  uint64_t key_of(uint64_t k) const { return adapter_key_ ? sdk::mix_key(k, adapter_key_) : k; }

  std::vector<int32_t> tokens_;
  std::vector<uint64_t> keys_;  // prefix-cache key of each token
  std::vector<int32_t> next_;   // one past the largest rotary position up to each token
};

}  // namespace vkllm::core
