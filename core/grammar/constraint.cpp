#include "core/grammar/constraint.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <numeric>

#include "core/tokenizer/tokenizer.h"
#include "sdk/base/error.h"

namespace vkllm::core::grammar {

namespace {
constexpr size_t kCacheEntries = 128;   // masks kept (19 KB each for 150k tokens)
constexpr size_t kMaxStates = 1 << 14;  // 1 KB of transitions each
}  // namespace

std::shared_ptr<const TokenTrie> TokenTrie::from_tokenizer(const Tokenizer& tok) {
  std::vector<std::string> bytes = tok.all_token_bytes();
  for (size_t id = 0; id < bytes.size(); ++id) {
    if (tok.is_special(int32_t(id))) bytes[id].clear();
  }
  return std::make_shared<TokenTrie>(bytes);
}

TokenTrie::TokenTrie(const std::vector<std::string>& bytes) : bytes_(bytes) {
  std::vector<int32_t> order;
  for (size_t id = 0; id < bytes_.size(); ++id) {
    if (!bytes_[id].empty()) order.push_back(int32_t(id));
  }
  std::sort(order.begin(), order.end(),
            [&](int32_t a, int32_t b) { return bytes_[size_t(a)] < bytes_[size_t(b)]; });
  // Sorted strings give the trie in preorder: each string leaves the path at its common prefix
  // with the previous one and adds a node per byte after it.
  byte_.push_back(0), depth_.push_back(0), skip_.push_back(0);
  tok_begin_.push_back(0), tok_end_.push_back(0);
  std::vector<int32_t> path{0};  // node per depth
  const std::string* prev = nullptr;
  for (int32_t id : order) {
    const std::string& s = bytes_[size_t(id)];
    size_t common = 0;
    if (prev) {
      while (common < s.size() && common < prev->size() && s[common] == (*prev)[common]) ++common;
    }
    while (path.size() > common + 1) {
      skip_[size_t(path.back())] = int32_t(byte_.size());
      path.pop_back();
    }
    for (size_t k = common; k < s.size(); ++k) {
      path.push_back(int32_t(byte_.size()));
      byte_.push_back(uint8_t(s[k]));
      depth_.push_back(uint16_t(std::min<size_t>(k + 1, 65535)));
      skip_.push_back(0);
      tok_begin_.push_back(int32_t(toks_.size()));
      tok_end_.push_back(int32_t(toks_.size()));
    }
    const int32_t node = path.back();
    if (tok_end_[size_t(node)] != int32_t(toks_.size()))
      tok_begin_[size_t(node)] = int32_t(toks_.size());
    toks_.push_back(id);
    tok_end_[size_t(node)] = int32_t(toks_.size());
    max_depth_ = std::max<uint16_t>(max_depth_, uint16_t(std::min<size_t>(s.size(), 65535)));
    prev = &s;
  }
  while (!path.empty()) {
    skip_[size_t(path.back())] = int32_t(byte_.size());
    path.pop_back();
  }
}

size_t Constraint::StateHash::operator()(const State& s) const {
  uint64_t h = 1469598103934665603ull;
  for (int32_t v : s) h = (h ^ uint64_t(uint32_t(v))) * 1099511628211ull;
  return size_t(h);
}

Constraint::Constraint(std::shared_ptr<const Grammar> g, std::shared_ptr<const TokenTrie> trie)
    : m_(std::move(g)), trie_(std::move(trie)) {
  path_.resize(size_t(trie_->max_depth_) + 1);
  state_ = intern(m_.initial());
}

int32_t Constraint::intern(const State& s) {
  auto [it, fresh] = ids_.emplace(s, int32_t(states_.size()));
  if (fresh) {
    states_.push_back(s);
    std::array<int32_t, 256> unknown;
    unknown.fill(kUnknown);
    next_.push_back(unknown);
    dist_.push_back(-1);
    ++stats_.states;
  }
  return it->second;
}

int32_t Constraint::step(int32_t from, uint8_t byte) {
  int32_t to = next_[size_t(from)][byte];
  if (to != kUnknown) return to;
  m_.advance(states_[size_t(from)], byte, scratch_);
  to = scratch_.empty() ? kDead : intern(scratch_);
  next_[size_t(from)][byte] = to;
  return to;
}

int32_t Constraint::distance(int32_t s) {
  if (dist_[size_t(s)] < 0) dist_[size_t(s)] = m_.distance(states_[size_t(s)]);
  return dist_[size_t(s)];
}

// Bounds memory on long generations through many distinct states: everything but the current
// state is forgotten (and rebuilt as needed).
void Constraint::reset_states() {
  State current = states_[size_t(state_)];
  states_.clear();
  ids_.clear();
  next_.clear();
  dist_.clear();
  masks_.clear();
  state_ = intern(current);
}

Constraint::Entry Constraint::walk(int32_t budget) {
  const TokenTrie& t = *trie_;
  Entry e;
  e.bits.assign((t.vocab() + 63) / 64, 0);
  path_[0] = state_;
  const int32_t n = int32_t(t.byte_.size());
  for (int32_t i = 1; i < n;) {
    const size_t d = t.depth_[size_t(i)];
    const int32_t s = step(path_[d - 1], t.byte_[size_t(i)]);
    ++stats_.nodes_visited;
    if (s == kDead) {
      i = t.skip_[size_t(i)];
      continue;
    }
    path_[d] = s;
    if (t.tok_begin_[size_t(i)] != t.tok_end_[size_t(i)]) {
      const int32_t dist = distance(s);
      if (budget < 0 || dist <= budget) {
        e.max_distance = std::max(e.max_distance, dist);
        for (int32_t k = t.tok_begin_[size_t(i)]; k < t.tok_end_[size_t(i)]; ++k) {
          const int32_t id = t.toks_[size_t(k)];
          e.bits[size_t(id) / 64] |= uint64_t(1) << (id % 64);
          ++e.allowed;
        }
      }
    }
    ++i;
  }
  return e;
}

int64_t Constraint::mask(std::span<float> logits, std::span<const int32_t> eos, int remaining) {
  ++stats_.masks;
  if (states_.size() > kMaxStates) reset_states();    // masks too
  if (masks_.size() > kCacheEntries) masks_.clear();  // the transitions stay
  auto it = masks_.find(state_);
  if (it == masks_.end()) {
    it = masks_.emplace(state_, walk(-1)).first;
  } else {
    ++stats_.cache_hits;
  }
  const Entry* e = &it->second;
  // Tokens after which the grammar cannot finish in the tokens left are dropped (when that
  // leaves none, the budget is already too small: every viable token stays).
  Entry budgeted;
  if (remaining > 0 && e->max_distance > remaining - 1) {
    budgeted = walk(remaining - 1);
    if (budgeted.allowed > 0 || complete()) e = &budgeted;
  }
  const bool eos_ok = complete();
  if (e->allowed == 0 && !eos_ok) {
    throw InputError(
        "[grammar] no token of the vocabulary continues the output the grammar allows here "
        "(the vocabulary cannot spell the next character)");
  }
  const float ninf = -std::numeric_limits<float>::infinity();
  std::vector<std::pair<int32_t, float>> kept;  // end-of-sequence logits, when they stay
  if (eos_ok) {
    for (int32_t id : eos)
      if (id >= 0 && size_t(id) < logits.size()) kept.emplace_back(id, logits[size_t(id)]);
  }
  const size_t v = std::min(logits.size(), trie_->vocab());
  for (size_t id = 0; id < v; ++id) {
    if (!(e->bits[id / 64] >> (id % 64) & 1)) logits[id] = ninf;
  }
  for (size_t id = v; id < logits.size(); ++id) logits[id] = ninf;
  for (auto [id, l] : kept) logits[size_t(id)] = l;
  return e->allowed + int64_t(kept.size());
}

void Constraint::accept(int32_t id) {
  if (id < 0 || size_t(id) >= trie_->vocab() || trie_->bytes(id).empty()) {
    throw InternalError(
        fmt::format("[grammar] token {} is not part of the grammar's vocabulary", id));
  }
  int32_t s = state_;
  for (unsigned char b : trie_->bytes(id)) {
    s = step(s, b);
    if (s == kDead) {
      throw InternalError(
          fmt::format("[grammar] token {} ({:?}) is not allowed here", id, trie_->bytes(id)));
    }
  }
  state_ = s;
}

}  // namespace vkllm::core::grammar
