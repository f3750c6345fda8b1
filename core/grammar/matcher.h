#pragma once
// Runs a Grammar as a pushdown automaton over bytes. A stack is a chain of code positions (the
// element to match next, then where each enclosing rule continues); a state is the set of stacks
// the bytes so far allow (several when the grammar is ambiguous so far). Stacks are hash-consed:
// equal stacks are one node id, so states compare and hash as small sorted id lists.
#include <cstdint>
#include <memory>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "core/grammar/grammar.h"

namespace vkllm::core::grammar {

constexpr int32_t kComplete = -1;  // the empty stack: the grammar has matched a whole sentence

using State = std::vector<int32_t>;  // sorted stack ids (kComplete first when present)

class Matcher {
 public:
  explicit Matcher(std::shared_ptr<const Grammar> g);

  State initial() const { return initial_; }
  // The state after `byte` (empty: the byte is not allowed).
  void advance(const State& s, uint8_t byte, State& out);
  // The fewest bytes that finish a sentence from this state (0 when complete).
  int32_t distance(const State& s);
  static bool complete(const State& s) { return !s.empty() && s[0] == kComplete; }
  // Whether some byte may follow (false: the sentence is complete and nothing can extend it).
  bool can_continue(const State& s) const { return s.size() > (complete(s) ? 1u : 0u); }
  const Grammar& grammar() const { return *g_; }
  // Stack nodes interned so far (grows with the variety of states seen).
  size_t nodes() const { return nodes_.size(); }

 private:
  struct Node {
    int32_t pos, parent;
  };
  int32_t intern(int32_t pos, int32_t parent);
  void expand(int32_t pos, int32_t parent, State& out);

  std::shared_ptr<const Grammar> g_;
  std::vector<Node> nodes_;
  std::vector<int32_t> dist_;  // per node: bytes to finish (-1: not computed)
  std::unordered_map<uint64_t, int32_t> ids_;
  std::unordered_set<uint64_t> seen_;  // (pos, parent) expanded in the current step
  std::vector<Node> work_;             // expand()'s work list
  State initial_;
};

}  // namespace vkllm::core::grammar
