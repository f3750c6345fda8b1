#pragma once
// The generation loop shared by every family: logit processors (repetition, presence and
// frequency penalties), sampling (temperature, top-k, top-p, min-p, seed), EOS ids, stop strings
// that may span tokens, logprobs with top alternatives, streaming, cancellation and timings.
#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/grammar/constraint.h"
#include "core/session.h"
#include "core/tokenizer/tokenizer.h"

namespace vkllm::core {

struct SamplingParams {
  float temperature = 1.0f;         // 0: greedy
  int top_k = 0;                    // 0: off
  float top_p = 1.0f;               // 1: off
  float min_p = 0.0f;               // 0: off
  float repetition_penalty = 1.0f;  // HF semantics, over prompt and output (within the window)
  float presence_penalty = 0.0f;    // OpenAI semantics, over the output
  float frequency_penalty = 0.0f;
  int penalty_window = 0;        // last N tokens the repetition penalty sees (0: all)
  std::optional<uint64_t> seed;  // unset: random
  // Added to the logits of these token ids before sampling (OpenAI's logit_bias).
  std::vector<std::pair<int32_t, float>> logit_bias;
  bool greedy() const { return temperature <= 0.0f || top_k == 1; }
  bool penalized() const {
    return repetition_penalty != 1.0f || presence_penalty != 0.0f || frequency_penalty != 0.0f ||
           !logit_bias.empty();
  }
};

struct GenerateParams {
  SamplingParams sampling;
  int max_tokens = 256;
  std::vector<std::string> stop;  // stop strings (not included in the output)
  std::vector<int32_t> eos_ids;   // end-of-sequence ids (defaults come from the model)
  bool ignore_eos = false;
  int logprobs = -1;           // -1: none; 0: the chosen token's; k: and the top k
  bool prompt_logits = false;  // return the logits of every prompt position
  // Speculative decoding: `draft` (a session of a smaller model with the same vocabulary, kept
  // in step with the target's tokens) proposes draft_tokens tokens, the target checks them in
  // one forward pass. Greedy output is the same as without a draft; sampled output follows the
  // target's distribution (rejection sampling).
  Session* draft = nullptr;
  int draft_tokens = 4;
  // The prompt's prefix-cache keys, explicit positions and image features (vision prompts; see
  // EvalOptions), for the prompt tokens passed to generate().
  std::span<const uint64_t> prompt_keys;
  std::span<const int32_t> prompt_positions;
  std::span<const EvalOptions::Image> prompt_images;
  // Constrained decoding: every output token keeps the text within the grammar (over the
  // vocabulary's byte strings in `trie`); the output ends when the grammar is complete and
  // nothing can follow, and closes in time for max_tokens. Not with a draft model (it is not used).
  std::shared_ptr<const grammar::Grammar> grammar;
  std::shared_ptr<const grammar::TokenTrie> trie;
  // Reasoning models: the thinking block between the markers (found in the output text; the
  // prompt may open it) is limited to `budget` tokens (-1: unlimited), after which end_ids (the
  // end marker and the newlines after it) are forced. The grammar applies after the block.
  struct Thinking {
    int budget = -1;
    std::string start, end;
    bool starts_inside = false;
    std::vector<int32_t> end_ids;
  } thinking;
};

enum class FinishReason { stop, length, cancelled };
const char* finish_reason_name(FinishReason r);

struct TokenLogprob {
  int32_t id = 0;
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;  // the k most likely tokens
};

struct Timings {
  int64_t prompt_tokens = 0, cached_tokens = 0, generated_tokens = 0;
  int64_t draft_proposed = 0, draft_accepted = 0;  // speculative decoding
  double prompt_ms = 0, decode_ms = 0;
  double grammar_ms = 0;  // constrained decoding: token masks (part of decode_ms)
  double prompt_tps() const {
    return prompt_ms > 0 ? double(prompt_tokens - cached_tokens) * 1e3 / prompt_ms : 0;
  }
  double decode_tps() const {
    return decode_ms > 0 ? double(generated_tokens) * 1e3 / decode_ms : 0;
  }
};

// One generated token as it streams: the text it completes (may be empty while a character or
// a possible stop string is pending), its id and logprob.
struct StreamEvent {
  std::string text;
  int32_t id = 0;
  std::optional<TokenLogprob> logprob;
};

struct GenerateResult {
  std::string text;
  std::vector<int32_t> ids;
  std::vector<TokenLogprob> logprobs;
  FinishReason finish = FinishReason::length;
  std::string stop_string;           // which stop string ended it, if any
  std::vector<float> prompt_logits;  // [prompt tokens, vocab] when asked for
  Timings timings;
};

// The output side of generation, shared by generate() and the batch scheduler: end-of-sequence
// ids, text decoded as it streams, stop strings that may span tokens (text that could still
// become one is held back, never streamed).
class OutputStream {
 public:
  // tokenizer may be null (ids only; stop strings are then refused).
  OutputStream(const Tokenizer* tokenizer, const GenerateParams& params);
  // Adds a sampled token; ev.text is what may stream now. The output ends at an end-of-sequence
  // id (not added) or a stop string (the text is cut before it).
  enum class Added { more, end_of_sequence, stop_string };
  Added add(int32_t id, StreamEvent& ev);
  // Ends the output: the text held back that may now stream (empty when none).
  std::string finish(FinishReason reason);
  const std::string& text() const { return text_; }
  const std::vector<int32_t>& ids() const { return ids_; }
  const std::string& stop_string() const { return stop_string_; }

 private:
  std::vector<std::string> stop_;
  std::vector<int32_t> eos_;
  bool ignore_eos_ = false;
  std::optional<StreamDecoder> dec_;
  std::string text_, stop_string_;
  std::vector<int32_t> ids_;
  size_t emitted_ = 0;  // bytes of text_ already streamed
};

struct GenerateHooks {
  std::function<void(const StreamEvent&)> on_token;
  std::function<void(int64_t, int64_t)> on_prefill;  // (processed, total) after each chunk
  const std::atomic<bool>* cancel = nullptr;
};

// Turns logits into the next token. Deterministic for a given seed.
class Sampler {
 public:
  explicit Sampler(const SamplingParams& p);
  // Applies the penalties and the logit bias in place (history: prompt + output; output_start:
  // where output begins).
  void penalize(std::span<float> logits, std::span<const int32_t> history,
                size_t output_start) const;
  int32_t sample(std::span<const float> logits);
  // The distribution sample() draws from (temperature, top-k, top-p, min-p), dense.
  std::vector<double> probabilities(std::span<const float> logits) const;
  int32_t draw(const std::vector<double>& p);
  // Speculative sampling: keeps the draft's `proposal` (drawn from q) with probability
  // min(1, p/q), else draws from max(0, p - q) renormalised: the result follows p exactly.
  int32_t accept_or_resample(std::span<const float> logits, int32_t proposal,
                             const std::vector<double>& q);
  static TokenLogprob logprob_of(std::span<const float> logits, int32_t id, int top);

 private:
  struct Candidates {
    std::vector<int32_t> idx;  // tokens kept (most likely first when a cut needs the order)
    std::vector<double> pr;    // their probabilities before the cut (renormalise by total)
    double total = 0;
  };
  Candidates candidates(std::span<const float> logits) const;

  SamplingParams p_;
  uint64_t state_;
};

// The grammar of a request while it generates (GenerateParams::grammar), shared by generate()
// and the batch scheduler.
class GrammarStep {
 public:
  explicit GrammarStep(const GenerateParams& p);
  bool active() const { return c_.has_value(); }
  // Before sampling: masks the row to what the grammar allows. False: the output is complete
  // and nothing may follow (stop without sampling).
  bool mask(std::span<float> row, int64_t generated);
  // After sampling a token that is not an end-of-sequence id.
  void accept(int32_t id) {
    if (c_) c_->accept(id);
  }
  const grammar::Constraint* constraint() const { return c_ ? &*c_ : nullptr; }
  double ms() const { return ms_; }  // spent masking so far

 private:
  std::optional<grammar::Constraint> c_;
  double ms_ = 0;
  std::vector<int32_t> eos_;
  int max_tokens_ = 0;
};

// The thinking block of a request while it generates (GenerateParams::thinking).
class ThinkingStep {
 public:
  ThinkingStep(const GenerateParams& p, const Tokenizer* tok);
  bool budgeted() const { return budget_ >= 0; }
  // Inside the block, or closing it: the grammar waits.
  bool active() const { return inside_ || !forcing_.empty(); }
  // Before sampling: the token the spent budget forces, or -1.
  int32_t forced();
  void accept(int32_t id);

 private:
  const Tokenizer* tok_;
  int budget_;
  std::string start_, end_, tail_;
  std::vector<int32_t> end_ids_;
  std::vector<int32_t> forcing_;  // reversed: back() is next
  bool inside_ = false, forced_once_ = false;
  int count_ = 0;
};

// Milliseconds of a steady clock (timings of prefill, decode and images).
double now_ms();

// Continues the session's sequence with `prompt` and then generated tokens. tokenizer may be
// null (ids in, ids out; stop strings then need a tokenizer and are rejected).
GenerateResult generate(Session& session, const Tokenizer* tokenizer,
                        std::span<const int32_t> prompt, const GenerateParams& params,
                        const GenerateHooks& hooks = {});

}  // namespace vkllm::core
