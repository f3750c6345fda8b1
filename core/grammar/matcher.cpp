#include "core/grammar/matcher.h"

#include <algorithm>

namespace vkllm::core::grammar {

Matcher::Matcher(std::shared_ptr<const Grammar> g) : g_(std::move(g)) {
  seen_.clear();
  for (int32_t a : g_->alternatives(g_->root())) expand(a, kComplete, initial_);
  std::sort(initial_.begin(), initial_.end());
  initial_.erase(std::unique(initial_.begin(), initial_.end()), initial_.end());
}

int32_t Matcher::intern(int32_t pos, int32_t parent) {
  const uint64_t key = (uint64_t(uint32_t(pos)) << 32) | uint32_t(parent + 1);
  auto [it, fresh] = ids_.emplace(key, int32_t(nodes_.size()));
  if (fresh) {
    nodes_.push_back({pos, parent});
    dist_.push_back(-1);
  }
  return it->second;
}

// Adds the stacks that continue at `pos` under `parent`, each with a byte element on top:
// an alternative's end returns to the parent, a rule reference opens each of its alternatives
// (the continuation after the reference is pushed unless it is the alternative's end, so
// right recursion does not grow the stack). It terminates: left recursion that would grow the
// stack is refused when the grammar is built, and a loop that does not grow it (a nullable item
// under a star) meets a (pos, parent) pair already expanded in this step.
void Matcher::expand(int32_t pos, int32_t parent, State& out) {
  const auto& code = g_->code();
  // Iterative (a work list, not recursion): a long run of nullable items would otherwise nest
  // one call per item.
  work_.clear();
  work_.push_back({pos, parent});
  while (!work_.empty()) {
    Node w = work_.back();
    work_.pop_back();
    for (;;) {
      // The same continuation reached twice in one step adds the same stacks: once is enough
      // (without this, nested optional repetitions expand exponentially).
      if (!seen_.insert((uint64_t(uint32_t(w.pos)) << 32) | uint32_t(w.parent + 1)).second) break;
      const Element& e = code[size_t(w.pos)];
      if (e.kind == Element::bytes) {
        out.push_back(intern(w.pos, w.parent));
        break;
      }
      if (e.kind == Element::end) {
        if (w.parent == kComplete) {
          out.push_back(kComplete);
          break;
        }
        w = nodes_[size_t(w.parent)];
        continue;
      }
      const int32_t cont =
          code[size_t(w.pos) + 1].kind == Element::end ? w.parent : intern(w.pos + 1, w.parent);
      const auto& alts = g_->alternatives(e.arg);
      for (size_t i = 0; i + 1 < alts.size(); ++i) work_.push_back({alts[i], cont});
      w = {alts.back(), cont};
    }
  }
}

void Matcher::advance(const State& s, uint8_t byte, State& out) {
  out.clear();
  seen_.clear();
  const auto& code = g_->code();
  for (int32_t id : s) {
    if (id == kComplete) continue;
    const Node n = nodes_[size_t(id)];
    if (!g_->byte_set(code[size_t(n.pos)].arg).test(byte)) continue;
    expand(n.pos + 1, n.parent, out);
  }
  if (out.size() > 1) {
    std::sort(out.begin(), out.end());
    out.erase(std::unique(out.begin(), out.end()), out.end());
  }
}

int32_t Matcher::distance(const State& s) {
  int32_t best = -1;
  for (int32_t id : s) {
    if (id == kComplete) return 0;
    // Iterative: walk up to the first node whose distance is known, then fill back down.
    int32_t top = id;
    std::vector<int32_t> path;
    while (top != kComplete && dist_[size_t(top)] < 0) {
      path.push_back(top);
      top = nodes_[size_t(top)].parent;
    }
    int32_t d = top == kComplete ? 0 : dist_[size_t(top)];
    for (size_t i = path.size(); i-- > 0;) {
      d += g_->min_bytes_from(nodes_[size_t(path[i])].pos);
      dist_[size_t(path[i])] = d;
    }
    d = dist_[size_t(id)];
    if (best < 0 || d < best) best = d;
  }
  return best < 0 ? 0 : best;
}

}  // namespace vkllm::core::grammar
