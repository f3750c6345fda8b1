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
double now_ms() {
  return std::chrono::duration<double, std::milli>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}
}  // namespace

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
}

int32_t Sampler::sample(std::span<const float> logits) {
  const size_t n = logits.size();
  if (p_.greedy()) return int32_t(std::max_element(logits.begin(), logits.end()) - logits.begin());
  // Candidates sorted by logit, truncated by top-k.
  std::vector<int32_t> idx(n);
  std::iota(idx.begin(), idx.end(), 0);
  size_t keep = p_.top_k > 0 ? std::min<size_t>(size_t(p_.top_k), n) : n;
  auto cmp = [&](int32_t a, int32_t b) {
    return logits[size_t(a)] > logits[size_t(b)] ||
           (logits[size_t(a)] == logits[size_t(b)] && a < b);
  };
  std::partial_sort(idx.begin(), idx.begin() + long(keep), idx.end(), cmp);
  idx.resize(keep);
  // Softmax of logits / temperature over the candidates.
  double m = logits[size_t(idx[0])] / p_.temperature;
  std::vector<double> pr(keep);
  double sum = 0;
  for (size_t i = 0; i < keep; ++i)
    sum += pr[i] = std::exp(double(logits[size_t(idx[i])]) / p_.temperature - m);
  for (auto& x : pr) x /= sum;
  // top-p: the smallest prefix reaching p; min-p: drop below min_p * p_max.
  size_t cut = keep;
  if (p_.top_p < 1.0f) {
    double c = 0;
    for (size_t i = 0; i < keep; ++i) {
      c += pr[i];
      if (c >= p_.top_p) {
        cut = i + 1;
        break;
      }
    }
  }
  if (p_.min_p > 0.0f) {
    double floor = p_.min_p * pr[0];
    size_t k = 1;
    while (k < cut && pr[k] >= floor) ++k;
    cut = k;
  }
  double total = 0;
  for (size_t i = 0; i < cut; ++i) total += pr[i];
  double r = double(splitmix(state_) >> 11) * (1.0 / 9007199254740992.0) * total;
  for (size_t i = 0; i < cut; ++i) {
    r -= pr[i];
    if (r < 0) return idx[i];
  }
  return idx[cut - 1];
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

GenerateResult generate(Session& session, const Tokenizer* tok, std::span<const int32_t> prompt,
                        const GenerateParams& params, const GenerateHooks& hooks) {
  if (params.max_tokens < 0) throw InputError("max_tokens must be >= 0");
  if (!params.stop.empty() && !tok) throw InputError("stop strings need a tokenizer");
  for (const auto& s : params.stop) {
    if (s.empty()) throw InputError("stop strings must not be empty");
  }
  if (!session.rotating() && session.length() + int64_t(prompt.size()) > session.context()) {
    throw InputError(
        fmt::format("the prompt has {} tokens; with {} already in the session it does not "
                    "fit the context of {} tokens",
                    prompt.size(), session.length(), session.context()));
  }
  Sampler sampler(params.sampling);
  GenerateResult res;
  res.timings.prompt_tokens = int64_t(prompt.size());
  std::vector<int32_t> eos = params.eos_ids;
  if (eos.empty() && tok && tok->eos_id()) eos.push_back(*tok->eos_id());
  const int64_t vocab = session.vocab();
  // Fast path: greedy without penalties or logprobs picks the token on the device.
  const bool device_argmax =
      params.sampling.greedy() && !params.sampling.penalized() && params.logprobs < 0;

  std::vector<int32_t> history(session.tokens().begin(), session.tokens().end());
  history.insert(history.end(), prompt.begin(), prompt.end());
  const size_t output_start = history.size();

  double t0 = now_ms();
  std::vector<float> logits;
  if (!prompt.empty()) {
    try {
      logits = session.eval(prompt, {.all_logits = params.prompt_logits,
                                     .progress = hooks.on_prefill,
                                     .cancel = hooks.cancel});
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

  std::optional<StreamDecoder> dec;
  if (tok) dec.emplace(*tok, true);
  size_t emitted = 0;  // bytes of res.text already streamed
  int32_t pending_argmax = -1;
  auto finish = [&](FinishReason r) { res.finish = r; };

  for (int step = 0; step < params.max_tokens; ++step) {
    if (hooks.cancel && hooks.cancel->load()) {
      finish(FinishReason::cancelled);
      break;
    }
    int32_t id;
    StreamEvent ev;
    if (device_argmax && pending_argmax >= 0) {
      id = pending_argmax;
    } else {
      if (logits.empty()) throw InternalError("[generate] no logits to sample from");
      std::span<float> last(logits.data() + logits.size() - size_t(vocab), size_t(vocab));
      sampler.penalize(last, history, output_start);
      id = sampler.sample(last);
      if (params.logprobs >= 0) {
        ev.logprob = Sampler::logprob_of(last, id, params.logprobs);
        res.logprobs.push_back(*ev.logprob);
      }
    }
    ev.id = id;
    bool is_eos = !params.ignore_eos && std::find(eos.begin(), eos.end(), id) != eos.end();
    if (is_eos) {
      finish(FinishReason::stop);
      break;
    }
    res.ids.push_back(id);
    history.push_back(id);
    bool stopped = false;
    if (dec) {
      res.text += dec->push(id);
      // Stop strings: never stream text that could still become one.
      size_t hold = 0;
      for (const auto& s : params.stop) {
        size_t p = res.text.find(s, emitted > s.size() ? emitted - s.size() : 0);
        if (p != std::string::npos) {
          res.text.resize(p);
          res.stop_string = s;
          stopped = true;
          break;
        }
        for (size_t k = std::min(s.size() - 1, res.text.size() - emitted); k > 0; --k) {
          if (res.text.compare(res.text.size() - k, k, s, 0, k) == 0) {
            hold = std::max(hold, k);
            break;
          }
        }
      }
      size_t upto = stopped ? res.text.size() : res.text.size() - hold;
      if (upto > emitted) {
        ev.text = res.text.substr(emitted, upto - emitted);
        emitted = upto;
      }
    }
    if (hooks.on_token) hooks.on_token(ev);
    if (stopped) {
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
    if (device_argmax) {
      pending_argmax = session.eval_argmax(id);
    } else {
      std::array<int32_t, 1> one{id};
      logits = session.eval(one);
    }
  }
  if (params.max_tokens == 0) finish(FinishReason::length);
  if (dec && res.finish != FinishReason::stop) {
    std::string rest = dec->flush();
    res.text += rest;
  }
  if (dec && emitted < res.text.size() && hooks.on_token) {
    StreamEvent tail;
    tail.text = res.text.substr(emitted);
    tail.id = -1;
    hooks.on_token(tail);
  }
  res.timings.generated_tokens = int64_t(res.ids.size());
  res.timings.decode_ms = now_ms() - t1;
  return res;
}

}  // namespace vkllm::core
