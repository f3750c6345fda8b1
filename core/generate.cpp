#include "core/generate.h"

#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <numeric>
#include <random>
#include <unordered_map>

#include "sdk/base/error.h"

namespace vkllm::core {

const char* finish_reason_name(FinishReason r) {
  switch (r) {
    case FinishReason::stop:
      return "stop";
    case FinishReason::length:
      return "length";
    case FinishReason::cancelled:
      return "cancelled";
  }
  return "?";
}

namespace {
uint64_t splitmix(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}
}  // namespace

double now_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

Sampler::Sampler(const SamplingParams& p) : p_(p) {
  if (p.temperature < 0 || p.top_k < 0 || p.top_p <= 0 || p.top_p > 1 || p.min_p < 0 ||
      p.min_p > 1 || p.repetition_penalty <= 0) {
    throw InputError(
        fmt::format("invalid sampling parameters: temperature {} (>= 0), top_k {} (>= 0), "
                    "top_p {} (0, 1], min_p {} [0, 1], repetition_penalty {} (> 0)",
                    p.temperature, p.top_k, p.top_p, p.min_p, p.repetition_penalty));
  }
  state_ = p.seed ? *p.seed : std::random_device{}() ^ (uint64_t(std::random_device{}()) << 32);
}

void Sampler::penalize(std::span<float> logits, std::span<const int32_t> history,
                       size_t output_start) const {
  if (p_.repetition_penalty != 1.0f) {
    size_t from = p_.penalty_window > 0 && history.size() > size_t(p_.penalty_window)
                      ? history.size() - size_t(p_.penalty_window)
                      : 0;
    std::vector<bool> seen(logits.size(), false);
    for (size_t i = from; i < history.size(); ++i) {
      int32_t id = history[i];
      if (id < 0 || size_t(id) >= logits.size() || seen[size_t(id)]) continue;
      seen[size_t(id)] = true;
      float& l = logits[size_t(id)];
      l = l > 0 ? l / p_.repetition_penalty : l * p_.repetition_penalty;
    }
  }
  if (p_.presence_penalty != 0.0f || p_.frequency_penalty != 0.0f) {
    std::unordered_map<int32_t, int> counts;
    for (size_t i = output_start; i < history.size(); ++i) counts[history[i]]++;
    for (auto [id, n] : counts) {
      if (id < 0 || size_t(id) >= logits.size()) continue;
      logits[size_t(id)] -= p_.presence_penalty + p_.frequency_penalty * float(n);
    }
  }
  for (auto [id, bias] : p_.logit_bias)
    if (id >= 0 && size_t(id) < logits.size()) logits[size_t(id)] += bias;
}

// The candidates: with top-k, the k best sorted by logit; their softmax of logits / temperature
// (over the k kept, or over the whole vocabulary without top-k); then top-p (the smallest sorted
// prefix reaching p) and min-p (drop below min_p * p_max) cut the list. Without any cut the
// vocabulary stays in id order (no sort: a full sort of a 150k vocabulary cost a third of a
// decode step); with top-p or min-p alone only the head is sorted, grown until it holds the cut.
Sampler::Candidates Sampler::candidates(std::span<const float> logits) const {
  const size_t n = logits.size();
  Candidates c;
  c.idx.resize(n);
  std::iota(c.idx.begin(), c.idx.end(), 0);
  auto cmp = [&](int32_t a, int32_t b) {
    return logits[size_t(a)] > logits[size_t(b)] ||
           (logits[size_t(a)] == logits[size_t(b)] && a < b);
  };
  const double t = p_.temperature;
  size_t keep = n;
  double m = 0, sum = 0;
  if (p_.top_k > 0) {
    keep = std::min<size_t>(size_t(p_.top_k), n);
    std::partial_sort(c.idx.begin(), c.idx.begin() + long(keep), c.idx.end(), cmp);
    m = logits[size_t(c.idx[0])] / t;
    for (size_t i = 0; i < keep; ++i) sum += std::exp(double(logits[size_t(c.idx[i])]) / t - m);
  } else {
    m = double(*std::max_element(logits.begin(), logits.end())) / t;
    for (float l : logits) sum += std::exp(double(l) / t - m);
    if (p_.min_p > 0.0f) {
      // Only tokens at or above min_p * p_max can stay: sort just those.
      const double lim = m + std::log(double(p_.min_p));
      auto end = std::partition(c.idx.begin(), c.idx.end(),
                                [&](int32_t i) { return double(logits[size_t(i)]) / t >= lim; });
      keep = size_t(end - c.idx.begin());
      std::sort(c.idx.begin(), end, cmp);
    } else if (p_.top_p < 1.0f) {
      // Sort a head of the vocabulary, larger until top_p of the mass falls inside it.
      for (size_t head = std::min<size_t>(n, 256);; head = head * 16 >= n / 4 ? n : head * 16) {
        if (head == n)
          std::sort(c.idx.begin(), c.idx.end(), cmp);
        else
          std::partial_sort(c.idx.begin(), c.idx.begin() + long(head), c.idx.end(), cmp);
        double acc = 0;
        for (size_t i = 0; i < head && acc < p_.top_p; ++i)
          acc += std::exp(double(logits[size_t(c.idx[i])]) / t - m) / sum;
        if (acc >= p_.top_p || head == n) {
          keep = head;
          break;
        }
      }
    }
  }
  c.idx.resize(keep);
  c.pr.resize(keep);
  for (size_t i = 0; i < keep; ++i)
    c.pr[i] = std::exp(double(logits[size_t(c.idx[i])]) / t - m) / sum;
  size_t cut = keep;
  if (p_.top_p < 1.0f) {
    double acc = 0;
    for (size_t i = 0; i < keep; ++i) {
      acc += c.pr[i];
      if (acc >= p_.top_p) {
        cut = i + 1;
        break;
      }
    }
  }
  if (p_.min_p > 0.0f) {
    double floor = p_.min_p * (1.0 / sum);  // the most likely token's probability is 1 / sum
    size_t k = 1;
    while (k < cut && c.pr[k] >= floor) ++k;
    cut = k;
  }
  c.idx.resize(cut);
  c.pr.resize(cut);
  for (size_t i = 0; i < cut; ++i) c.total += c.pr[i];
  return c;
}

int32_t Sampler::sample(std::span<const float> logits) {
  if (p_.greedy()) return int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
  Candidates c = candidates(logits);
  double r = double(splitmix(state_) >> 11) * (1.0 / 9007199254740992.0) * c.total;
  for (size_t i = 0; i < c.idx.size(); ++i) {
    r -= c.pr[i];
    if (r < 0) return c.idx[i];
  }
  return c.idx.back();
}

std::vector<double> Sampler::probabilities(std::span<const float> logits) const {
  std::vector<double> out(logits.size(), 0.0);
  if (p_.greedy()) {
    out[size_t(std::max_element(logits.begin(), logits.end()) - logits.begin())] = 1.0;
    return out;
  }
  Candidates c = candidates(logits);
  for (size_t i = 0; i < c.idx.size(); ++i) out[size_t(c.idx[i])] = c.pr[i] / c.total;
  return out;
}

int32_t Sampler::draw(const std::vector<double>& p) {
  double total = 0;
  for (double x : p) total += x;
  double r = double(splitmix(state_) >> 11) * (1.0 / 9007199254740992.0) * total;
  int32_t last = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] <= 0) continue;
    last = int32_t(i);
    r -= p[i];
    if (r < 0) return int32_t(i);
  }
  return last;
}

int32_t Sampler::accept_or_resample(std::span<const float> logits, int32_t proposal,
                                    const std::vector<double>& q) {
  if (p_.greedy()) return sample(logits);
  std::vector<double> p = probabilities(logits);
  double pp = p[size_t(proposal)], qq = q[size_t(proposal)];
  double u = double(splitmix(state_) >> 11) * (1.0 / 9007199254740992.0);
  if (qq > 0 && u * qq < pp) return proposal;  // u < p / q
  std::vector<double> residual(p.size());
  double mass = 0;
  for (size_t i = 0; i < p.size(); ++i) mass += residual[i] = std::max(0.0, p[i] - q[i]);
  return draw(mass > 0 ? residual : p);
}

TokenLogprob Sampler::logprob_of(std::span<const float> logits, int32_t id, int top) {
  double m = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (float l : logits) sum += std::exp(double(l) - m);
  double lse = m + std::log(sum);
  TokenLogprob t;
  t.id = id;
  t.logprob = float(double(logits[size_t(id)]) - lse);
  if (top > 0) {
    std::vector<int32_t> idx(logits.size());
    std::iota(idx.begin(), idx.end(), 0);
    size_t k = std::min(size_t(top), idx.size());
    std::partial_sort(idx.begin(), idx.begin() + long(k), idx.end(),
                      [&](int32_t a, int32_t b) { return logits[size_t(a)] > logits[size_t(b)]; });
    for (size_t i = 0; i < k; ++i)
      t.top.emplace_back(idx[i], float(double(logits[size_t(idx[i])]) - lse));
  }
  return t;
}

OutputStream::OutputStream(const Tokenizer* tok, const GenerateParams& params)
    : stop_(params.stop), eos_(params.eos_ids), ignore_eos_(params.ignore_eos) {
  if (params.max_tokens < 0) throw InputError("max_tokens must be >= 0");
  if (!stop_.empty() && !tok) throw InputError("stop strings need a tokenizer");
  for (const auto& s : stop_) {
    if (s.empty()) throw InputError("stop strings must not be empty");
  }
  if (eos_.empty() && tok && tok->eos_id()) eos_.push_back(*tok->eos_id());
  if (tok) dec_.emplace(*tok, true);
}

OutputStream::Added OutputStream::add(int32_t id, StreamEvent& ev) {
  ev.id = id;
  if (!ignore_eos_ && std::find(eos_.begin(), eos_.end(), id) != eos_.end())
    return Added::end_of_sequence;
  ids_.push_back(id);
  if (!dec_) return Added::more;
  text_ += dec_->push(id);
  // Stop strings: never stream text that could still become one.
  bool stopped = false;
  size_t hold = 0;
  for (const auto& s : stop_) {
    size_t p = text_.find(s, emitted_ > s.size() ? emitted_ - s.size() : 0);
    if (p != std::string::npos) {
      text_.resize(p);
      stop_string_ = s;
      stopped = true;
      break;
    }
    for (size_t k = std::min(s.size() - 1, text_.size() - emitted_); k > 0; --k) {
      if (text_.compare(text_.size() - k, k, s, 0, k) == 0) {
        hold = std::max(hold, k);
        break;
      }
    }
  }
  size_t upto = stopped ? text_.size() : text_.size() - hold;
  if (upto > emitted_) {
    ev.text = text_.substr(emitted_, upto - emitted_);
    emitted_ = upto;
  }
  return stopped ? Added::stop_string : Added::more;
}

std::string OutputStream::finish(FinishReason reason) {
  if (dec_ && reason != FinishReason::stop) text_ += dec_->flush();
  std::string tail = emitted_ < text_.size() ? text_.substr(emitted_) : std::string();
  emitted_ = text_.size();
  return tail;
}

GrammarStep::GrammarStep(const GenerateParams& p) : max_tokens_(p.max_tokens) {
  if (!p.grammar) return;
  if (!p.trie) throw InternalError("[generate] a grammar needs the vocabulary's token trie");
  c_.emplace(p.grammar, p.trie);
  if (!p.ignore_eos) eos_ = p.eos_ids;
}

bool GrammarStep::mask(std::span<float> row, int64_t generated) {
  if (!c_) return true;
  if (c_->finished()) return false;
  const double t = now_ms();
  const bool any = c_->mask(row, eos_, int(std::max<int64_t>(1, max_tokens_ - generated))) > 0;
  ms_ += now_ms() - t;
  return any;
}

ThinkingStep::ThinkingStep(const GenerateParams& p, const Tokenizer* tok)
    : tok_(tok),
      budget_(p.thinking.budget),
      start_(p.thinking.start),
      end_(p.thinking.end),
      end_ids_(p.thinking.end_ids),
      inside_(p.thinking.starts_inside && !p.thinking.end.empty()) {
  if (budget_ >= 0 && (end_ids_.empty() || !tok_))
    throw InternalError("[generate] a thinking budget needs the end marker's ids and a tokenizer");
  if (inside_ && budget_ == 0) {
    forcing_.assign(end_ids_.rbegin(), end_ids_.rend());
    forced_once_ = true;
  }
}

int32_t ThinkingStep::forced() {
  if (forcing_.empty()) return -1;
  const int32_t id = forcing_.back();
  forcing_.pop_back();
  return id;
}

void ThinkingStep::accept(int32_t id) {
  if (!tok_ || end_.empty()) return;
  tail_ += tok_->token_bytes(id);
  if (tail_.size() > 256) tail_.erase(0, tail_.size() - 128);
  if (!inside_) {
    if (!start_.empty() && tail_.ends_with(start_)) {
      inside_ = true;
      count_ = 0;
    }
    return;
  }
  if (tail_.ends_with(end_)) {
    inside_ = false;
    return;
  }
  if (++count_ >= budget_ && budget_ >= 0 && !forced_once_) {
    forcing_.assign(end_ids_.rbegin(), end_ids_.rend());
    forced_once_ = true;
  }
}

GenerateResult generate(Session& session, const Tokenizer* tok, std::span<const int32_t> prompt,
                        const GenerateParams& params, const GenerateHooks& hooks) {
  OutputStream out(tok, params);
  if (!session.rotating() && session.length() + int64_t(prompt.size()) > session.context()) {
    throw InputError(
        fmt::format("the prompt has {} tokens; with {} already in the session it does not "
                    "fit the context of {} tokens",
                    prompt.size(), session.length(), session.context()));
  }
  Sampler sampler(params.sampling);
  GenerateResult res;
  res.timings.prompt_tokens = int64_t(prompt.size());
  const int64_t vocab = session.vocab();
  // Fast path: greedy without penalties or logprobs picks the token on the device.
  Session* draft = params.draft_tokens > 0 && !params.grammar ? params.draft : nullptr;
  GrammarStep constrained(params);
  ThinkingStep thinking(params, tok);
  if (draft && draft->vocab() != vocab) {
    throw InputError(fmt::format("the draft model's vocabulary has {} tokens, the model's {}",
                                 draft->vocab(), vocab));
  }
  const bool device_argmax = !draft && params.sampling.greedy() && !params.sampling.penalized() &&
                             params.logprobs < 0 && !constrained.active();

  std::vector<int32_t> history(session.tokens().begin(), session.tokens().end());
  history.insert(history.end(), prompt.begin(), prompt.end());
  const size_t output_start = history.size();

  double t0 = now_ms();
  std::vector<float> logits;
  if (!prompt.empty()) {
    try {
      logits = session.eval(prompt, {.all_logits = params.prompt_logits,
                                     .progress = hooks.on_prefill,
                                     .cancel = hooks.cancel,
                                     .keys = params.prompt_keys,
                                     .positions = params.prompt_positions,
                                     .images = params.prompt_images});
      if (params.prompt_logits) {
        res.prompt_logits = logits;
        logits.erase(logits.begin(), logits.end() - vocab);
      }
    } catch (const Cancelled&) {
      res.finish = FinishReason::cancelled;
      res.timings.prompt_ms = now_ms() - t0;
      return res;
    }
  }
  res.timings.prompt_ms = now_ms() - t0;
  double t1 = now_ms();

  // Speculative round: the draft's proposals, their draft distributions (sampling only) and the
  // target's logits after the pending token and after each proposal.
  struct Round {
    bool active = false;
    int64_t base = 0;  // target length before the round (index of the pending token)
    std::vector<int32_t> proposals;
    std::vector<std::vector<double>> q;
    std::vector<float> rows;  // [proposals + 1, vocab]
    size_t next = 0;          // row of the current step
  } round;
  auto row = [&](size_t i) {
    return std::vector<float>(round.rows.begin() + long(i * size_t(vocab)),
                              round.rows.begin() + long((i + 1) * size_t(vocab)));
  };
  // Starts a round for the pending token `id` (not yet in either cache) and returns the
  // target's logits after it; k proposals at most.
  auto speculate = [&](int32_t id, int k) {
    // Bring the draft to the target's tokens, then let it run ahead k tokens.
    const auto& tt = session.tokens();
    const auto& dt = draft->tokens();
    size_t common = 0;
    while (common < dt.size() && common < tt.size() && dt[common] == tt[common]) ++common;
    draft->truncate(int64_t(common));
    std::vector<int32_t> feed(tt.begin() + long(common), tt.end());
    feed.push_back(id);
    std::vector<int32_t> hist = history;
    round = Round{};
    round.active = true;
    round.base = session.length();
    std::vector<float> dl = draft->eval(feed);
    for (int i = 0; i < k; ++i) {
      sampler.penalize(dl, hist, output_start);
      int32_t d;
      if (params.sampling.greedy()) {
        d = int32_t(std::max_element(dl.begin(), dl.end()) - dl.begin());
      } else {
        round.q.push_back(sampler.probabilities(dl));
        d = sampler.draw(round.q.back());
      }
      round.proposals.push_back(d);
      hist.push_back(d);
      if (i + 1 < k) {
        std::array<int32_t, 1> one{d};
        dl = draft->eval(one);
      }
    }
    std::vector<int32_t> verify{id};
    verify.insert(verify.end(), round.proposals.begin(), round.proposals.end());
    round.rows = session.eval(verify, {.all_logits = true});
    res.timings.draft_proposed += k;
    return row(0);
  };

  int32_t pending_argmax = -1;
  auto finish = [&](FinishReason r) { res.finish = r; };

  for (int step = 0; step < params.max_tokens; ++step) {
    if (hooks.cancel && hooks.cancel->load()) {
      finish(FinishReason::cancelled);
      break;
    }
    int32_t id;
    StreamEvent ev;
    bool grammar_on = true;  // outside the thinking block: the grammar applies
    if (device_argmax && pending_argmax >= 0) {
      id = pending_argmax;
    } else {
      if (logits.empty()) throw InternalError("[generate] no logits to sample from");
      std::span<float> last(logits.data() + logits.size() - size_t(vocab), size_t(vocab));
      sampler.penalize(last, history, output_start);
      grammar_on = !thinking.active();
      if (grammar_on && !constrained.mask(last, step)) {
        finish(FinishReason::stop);
        break;
      }
      bool proposed = round.active && round.next < round.proposals.size();
      if (const int32_t f = thinking.forced(); f >= 0)
        id = f;
      else if (proposed && !round.q.empty())
        id = sampler.accept_or_resample(last, round.proposals[round.next], round.q[round.next]);
      else
        id = sampler.sample(last);
      if (params.logprobs >= 0) {
        ev.logprob = Sampler::logprob_of(last, id, params.logprobs);
        res.logprobs.push_back(*ev.logprob);
      }
    }
    const OutputStream::Added added = out.add(id, ev);
    if (added == OutputStream::Added::end_of_sequence) {
      finish(FinishReason::stop);
      break;
    }
    if (grammar_on) constrained.accept(id);
    thinking.accept(id);
    res.ids.push_back(id);
    history.push_back(id);
    if (hooks.on_token) hooks.on_token(ev);
    if (added == OutputStream::Added::stop_string ||
        (constrained.active() && constrained.constraint()->finished())) {
      finish(FinishReason::stop);
      break;
    }
    if (step + 1 == params.max_tokens) {
      finish(FinishReason::length);
      break;
    }
    if (!session.rotating() && session.length() >= session.context()) {  // the context is full
      finish(FinishReason::length);
      break;
    }
    if (draft && round.active) {
      if (round.next < round.proposals.size() && id == round.proposals[round.next]) {
        ++res.timings.draft_accepted;  // the target already has the logits after it
        logits = row(++round.next);
        continue;
      }
      if (round.next < round.proposals.size()) {  // rejected: drop the unverified tail
        session.truncate(round.base + int64_t(round.next) + 1);
      }
      round.active = false;
    }
    int room =
        int(std::min<int64_t>({int64_t(params.draft_tokens), int64_t(params.max_tokens - step - 2),
                               session.rotating() ? int64_t(params.draft_tokens)
                                                  : session.context() - session.length() - 1}));
    if (draft && room > 0) {
      logits = speculate(id, room);
    } else if (device_argmax) {
      pending_argmax = session.eval_argmax(id);
    } else {
      std::array<int32_t, 1> one{id};
      logits = session.eval(one);
    }
  }
  if (params.max_tokens == 0) finish(FinishReason::length);
  if (std::string tail = out.finish(res.finish); !tail.empty() && hooks.on_token) {
    StreamEvent ev;
    ev.text = std::move(tail);
    ev.id = -1;
    hooks.on_token(ev);
  }
  res.text = out.text();
  res.stop_string = out.stop_string();
  res.timings.generated_tokens = int64_t(res.ids.size());
  res.timings.decode_ms = now_ms() - t1;
  res.timings.grammar_ms = constrained.ms();
  return res;
}

}  // namespace vkllm::core
