#include "core/chat/reply_parser.h"

#include <algorithm>

namespace vkllm::core::chat {
namespace {

// The length of the longest suffix of s that is a proper prefix of marker.
size_t partial_suffix(std::string_view s, std::string_view marker) {
  for (size_t k = std::min(s.size(), marker.size() - 1); k > 0; --k) {
    if (s.substr(s.size() - k) == marker.substr(0, k)) return k;
  }
  return 0;
}

}  // namespace

ReplyParser::ReplyParser(ReplyFormat f) : f_(std::move(f)) {
  mode_ = f_.starts_in_thinking && !f_.think_end.empty() ? Mode::thinking : Mode::text;
}

ReplyDelta ReplyParser::feed(std::string_view text) {
  pending_.append(text);
  ReplyDelta d;
  run(d, false);
  return d;
}

ReplyDelta ReplyParser::finish() {
  ReplyDelta d;
  run(d, true);
  return d;
}

// Content or reasoning text, without the newlines that separate it from the markers.
void ReplyParser::emit(ReplyDelta& d, std::string_view s) {
  if (mode_ == Mode::thinking) {
    if (!reasoning_started_) {
      while (!s.empty() && s.front() == '\n') s.remove_prefix(1);
      if (s.empty()) return;
      reasoning_started_ = true;
    }
    d.reasoning.append(s);
    return;
  }
  if (!content_started_) {
    if (after_think_ || f_.tools) {
      while (!s.empty() && (s.front() == '\n' || (f_.tools && s.front() == ' ')))
        s.remove_prefix(1);
    }
    if (s.empty()) return;
    content_started_ = true;
  }
  d.content.append(s);
}

void ReplyParser::end_call(ReplyDelta& d, std::string_view body, std::string_view raw) {
  if (auto calls = parse_calls(body, f_.style)) {
    for (auto& c : *calls) d.calls.push_back(std::move(c));
    return;
  }
  const Mode m = mode_;
  mode_ = Mode::text;
  emit(d, raw);  // not a call: it was text after all
  mode_ = m;
}

void ReplyParser::run(ReplyDelta& d, bool at_end) {
  for (;;) {
    if (mode_ == Mode::thinking) {
      const size_t e = pending_.find(f_.think_end);
      if (e == std::string::npos) {
        size_t keep = at_end ? 0 : partial_suffix(pending_, f_.think_end);
        // Trailing newlines wait: they may end the reasoning.
        if (!at_end)
          while (keep < pending_.size() && pending_[pending_.size() - keep - 1] == '\n') ++keep;
        emit(d, std::string_view(pending_).substr(0, pending_.size() - keep));
        pending_.erase(0, pending_.size() - keep);
        return;
      }
      std::string_view r(pending_.data(), e);
      while (!r.empty() && r.back() == '\n') r.remove_suffix(1);
      emit(d, r);
      pending_.erase(0, e + f_.think_end.size());
      mode_ = Mode::text;
      after_think_ = true;
      continue;
    }
    if (mode_ == Mode::call) {
      const size_t e = f_.style.end.empty() ? std::string::npos : pending_.find(f_.style.end);
      if (e == std::string::npos) {
        if (!at_end) return;
        end_call(d, pending_, f_.style.start + pending_);
        pending_.clear();
        mode_ = Mode::text;
        return;
      }
      end_call(d, std::string_view(pending_).substr(0, e),
               f_.style.start + pending_.substr(0, e + f_.style.end.size()));
      pending_.erase(0, e + f_.style.end.size());
      mode_ = Mode::text;
      continue;
    }
    if (mode_ == Mode::whole_reply) {
      if (!at_end) return;
      end_call(d, pending_, pending_);
      pending_.clear();
      mode_ = Mode::text;
      return;
    }
    // Text: the next marker, whichever comes first.
    if (f_.tools && f_.style.whole_reply && !content_started_ && d.calls.empty()) {
      const size_t first = pending_.find_first_not_of(" \n\t\r");
      if (first == std::string::npos && !at_end) return;  // nothing but spaces yet
      const std::string_view rest = first == std::string::npos
                                        ? std::string_view()
                                        : std::string_view(pending_).substr(first);
      const std::string& start = f_.style.start;
      const bool marker =
          !start.empty() && (rest.starts_with(start) || std::string_view(start).starts_with(rest));
      if (marker && !rest.starts_with(start) && !at_end) return;  // may still be the marker
      if (!marker && first != std::string::npos && (rest[0] == '{' || rest[0] == '[')) {
        pending_.erase(0, first);
        mode_ = Mode::whole_reply;
        continue;
      }
    }
    size_t best = std::string::npos;
    Mode next = Mode::text;
    size_t marker_len = 0;
    auto consider = [&](const std::string& marker, Mode m) {
      if (marker.empty()) return;
      const size_t at = pending_.find(marker);
      if (at < best) best = at, next = m, marker_len = marker.size();
    };
    if (!f_.think_start.empty() && !content_started_) consider(f_.think_start, Mode::thinking);
    if (f_.tools) consider(f_.style.start, Mode::call);
    if (best == std::string::npos) {
      size_t keep = 0;
      if (!at_end) {
        if (!f_.think_start.empty() && !content_started_)
          keep = std::max(keep, partial_suffix(pending_, f_.think_start));
        if (f_.tools) keep = std::max(keep, partial_suffix(pending_, f_.style.start));
      }
      emit(d, std::string_view(pending_).substr(0, pending_.size() - keep));
      pending_.erase(0, pending_.size() - keep);
      return;
    }
    emit(d, std::string_view(pending_).substr(0, best));
    pending_.erase(0, best + marker_len);
    mode_ = next;
  }
}

}  // namespace vkllm::core::chat
