#pragma once
// Constrained decoding: which tokens of the vocabulary the grammar allows next. The vocabulary's
// byte strings are laid out as a trie in preorder, so one walk advances the grammar once per
// shared prefix and skips a whole subtree at the first byte the grammar refuses; masks are cached
// per grammar state (inside a JSON string every step is the same state). Generation ends in time:
// with `remaining` tokens left, only tokens after which the grammar can still finish within the
// tokens left are allowed (at least one byte per token), so output completes before max_tokens
// whenever max_tokens covers the grammar's shortest sentence.
#include <array>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/grammar/matcher.h"

namespace vkllm::core {
class Tokenizer;
}

namespace vkllm::core::grammar {

class TokenTrie {
 public:
  // Every token that is not special (special tokens never match a grammar; end-of-sequence ids
  // are allowed separately when the grammar is complete).
  static std::shared_ptr<const TokenTrie> from_tokenizer(const Tokenizer& tok);
  // bytes[id]; empty strings are left out.
  explicit TokenTrie(const std::vector<std::string>& bytes);

  size_t vocab() const { return bytes_.size(); }
  const std::string& bytes(int32_t id) const { return bytes_[size_t(id)]; }

 private:
  friend class Constraint;
  std::vector<std::string> bytes_;
  // Preorder nodes (0 is the root): the byte that leads to it, its depth, the index after its
  // subtree and its tokens [tok_begin, tok_end) in toks_.
  std::vector<uint8_t> byte_;
  std::vector<uint16_t> depth_;
  std::vector<int32_t> skip_, tok_begin_, tok_end_, toks_;
  uint16_t max_depth_ = 0;
};

class Constraint {
 public:
  Constraint(std::shared_ptr<const Grammar> g, std::shared_ptr<const TokenTrie> trie);

  // Sets the logits of tokens the grammar does not allow next to -infinity (eos ids: allowed
  // when the output is complete). remaining: tokens that may still be generated, this one
  // included (<= 0: no limit). Returns how many tokens stay (0 only when the output is complete
  // and no end-of-sequence id was given); InputError when no token is allowed and it is not.
  int64_t mask(std::span<float> logits, std::span<const int32_t> eos, int remaining);
  // Advances by a token (InternalError when the grammar does not allow it).
  void accept(int32_t id);
  bool complete() const { return Matcher::complete(states_[size_t(state_)]); }
  // Complete and nothing can follow: generation is over.
  bool finished() const { return complete() && !m_.can_continue(states_[size_t(state_)]); }
  // The fewest bytes that still finish the output.
  int32_t distance() { return distance(state_); }

  struct Stats {
    int64_t masks = 0, cache_hits = 0, nodes_visited = 0, states = 0;
  };
  const Stats& stats() const { return stats_; }

 private:
  static constexpr int32_t kDead = -1, kUnknown = -2;
  struct Entry {
    std::vector<uint64_t> bits;
    int32_t max_distance = 0;  // over the allowed tokens
    int64_t allowed = 0;
  };
  struct StateHash {
    size_t operator()(const State& s) const;
  };
  // Grammar states are numbered as they are met, each with its transitions by byte filled in
  // when first taken (a DFA built lazily over the pushdown automaton), its distance and its mask.
  int32_t intern(const State& s);
  int32_t step(int32_t from, uint8_t byte);
  int32_t distance(int32_t s);
  void reset_states();
  // Walks the trie from the current state; budget >= 0 allows only tokens whose distance is
  // within it.
  Entry walk(int32_t budget);

  Matcher m_;
  std::shared_ptr<const TokenTrie> trie_;
  std::vector<State> states_;
  std::unordered_map<State, int32_t, StateHash> ids_;
  std::vector<std::array<int32_t, 256>> next_;
  std::vector<int32_t> dist_;
  std::unordered_map<int32_t, Entry> masks_;
  int32_t state_ = 0;
  std::vector<int32_t> path_;  // state per trie depth during a walk
  State scratch_;
  Stats stats_;
};

}  // namespace vkllm::core::grammar
