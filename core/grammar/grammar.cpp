// GBNF reader: recursive descent into rules of alternatives; groups and repetitions become helper
// rules, Unicode character classes become alternatives of UTF-8 byte-range sequences.
#include "core/grammar/grammar.h"

#include <fmt/format.h>

#include <algorithm>
#include <limits>
#include <map>
#include <unordered_map>

#include "sdk/base/error.h"

namespace vkllm::core::grammar {
namespace {

constexpr int32_t kInf = std::numeric_limits<int32_t>::max() / 4;
constexpr int kMaxRepeat = 4096;
constexpr uint32_t kMaxCodePoint = 0x10FFFF;

using Seq = std::vector<Element>;
using Ranges = std::vector<std::pair<uint32_t, uint32_t>>;  // code point ranges, inclusive

void utf8_encode(uint32_t c, uint8_t* out, int& n) {
  if (c < 0x80) {
    out[0] = uint8_t(c), n = 1;
  } else if (c < 0x800) {
    out[0] = uint8_t(0xC0 | (c >> 6)), out[1] = uint8_t(0x80 | (c & 0x3F)), n = 2;
  } else if (c < 0x10000) {
    out[0] = uint8_t(0xE0 | (c >> 12)), out[1] = uint8_t(0x80 | ((c >> 6) & 0x3F));
    out[2] = uint8_t(0x80 | (c & 0x3F)), n = 3;
  } else {
    out[0] = uint8_t(0xF0 | (c >> 18)), out[1] = uint8_t(0x80 | ((c >> 12) & 0x3F));
    out[2] = uint8_t(0x80 | ((c >> 6) & 0x3F)), out[3] = uint8_t(0x80 | (c & 0x3F)), n = 4;
  }
}

// Splits [lo, hi] (no surrogates) into runs whose UTF-8 encodings are byte-wise ranges.
void utf8_sequences(uint32_t lo, uint32_t hi,
                    std::vector<std::vector<std::pair<uint8_t, uint8_t>>>& out) {
  for (uint32_t edge : {0x7Fu, 0x7FFu, 0xFFFFu}) {
    if (lo <= edge && hi > edge) {
      utf8_sequences(lo, edge, out);
      utf8_sequences(edge + 1, hi, out);
      return;
    }
  }
  uint8_t a[4], b[4];
  int n = 0, m = 0;
  utf8_encode(lo, a, n);
  utf8_encode(hi, b, m);
  for (int i = 1; i < n; ++i) {
    const uint32_t mask = (1u << (6 * i)) - 1;
    if ((lo & ~mask) != (hi & ~mask)) {
      if ((lo & mask) != 0) {
        utf8_sequences(lo, lo | mask, out);
        utf8_sequences((lo | mask) + 1, hi, out);
        return;
      }
      if ((hi & mask) != mask) {
        utf8_sequences(lo, (hi & ~mask) - 1, out);
        utf8_sequences(hi & ~mask, hi, out);
        return;
      }
    }
  }
  std::vector<std::pair<uint8_t, uint8_t>> seq;
  for (int i = 0; i < n; ++i) seq.emplace_back(a[i], b[i]);
  out.push_back(std::move(seq));
}

Ranges normalize(Ranges r) {
  std::sort(r.begin(), r.end());
  Ranges out;
  for (auto [a, b] : r) {
    if (!out.empty() && a <= out.back().second + 1)
      out.back().second = std::max(out.back().second, b);
    else
      out.emplace_back(a, b);
  }
  return out;
}

Ranges complement(const Ranges& r) {
  Ranges out;
  uint32_t next = 0;
  for (auto [a, b] : r) {
    if (a > next) out.emplace_back(next, a - 1);
    next = b + 1;
  }
  if (next <= kMaxCodePoint) out.emplace_back(next, kMaxCodePoint);
  return out;
}

Ranges without_surrogates(const Ranges& r) {
  Ranges out;
  for (auto [a, b] : r) {
    if (b < 0xD800 || a > 0xDFFF) {
      out.emplace_back(a, b);
      continue;
    }
    if (a < 0xD800) out.emplace_back(a, 0xD7FF);
    if (b > 0xDFFF) out.emplace_back(0xE000, b);
  }
  return out;
}

}  // namespace

class Builder {
 public:
  Builder(std::string_view src, std::string where) : s_(src), where_(std::move(where)) {}

  Grammar build() {
    skip();
    while (p_ < s_.size()) {
      const size_t at = p_;
      std::string name = identifier();
      if (name.empty()) fail(at, "expected a rule name");
      skip();
      if (s_.substr(p_, 3) != "::=") fail(p_, fmt::format("expected '::=' after '{}'", name));
      p_ += 3;
      const int32_t r = rule_id(name);
      if (defined_[size_t(r)]) fail(at, fmt::format("rule '{}' is defined twice", name));
      defined_[size_t(r)] = true;
      rules_[size_t(r)] = alternatives(0);
      skip();
    }
    for (size_t r = 0; r < rules_.size(); ++r) {
      if (!defined_[r]) fail(first_use_[r], fmt::format("rule '{}' is not defined", names_[r]));
    }
    auto it = ids_.find("root");
    if (it == ids_.end())
      throw InputError(fmt::format("[{}] the grammar has no 'root' rule", where_));

    Grammar g;
    g.root_ = it->second;
    g.names_ = names_;
    g.sets_ = sets_;
    g.alts_.resize(rules_.size());
    for (size_t r = 0; r < rules_.size(); ++r) {
      for (const auto& alt : rules_[r]) {
        g.alts_[r].push_back(int32_t(g.code_.size()));
        g.code_.insert(g.code_.end(), alt.begin(), alt.end());
        g.code_.push_back({Element::end, 0});
      }
    }
    g.finish(where_);
    return g;
  }

 private:
  [[noreturn]] void fail(size_t at, const std::string& what) const {
    size_t line = 1, col = 1;
    for (size_t i = 0; i < at && i < s_.size(); ++i) {
      if (s_[i] == '\n')
        ++line, col = 1;
      else
        ++col;
    }
    throw InputError(fmt::format("[{}:{}:{}] {}", where_, line, col, what));
  }

  void skip() {
    while (p_ < s_.size()) {
      char c = s_[p_];
      if (c == ' ' || c == '\t' || c == '\n' || c == '\r') {
        ++p_;
      } else if (c == '#') {
        while (p_ < s_.size() && s_[p_] != '\n') ++p_;
      } else {
        break;
      }
    }
  }
  static bool name_char(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_';
  }
  std::string identifier() {
    size_t b = p_;
    while (p_ < s_.size() && name_char(s_[p_])) ++p_;
    return std::string(s_.substr(b, p_ - b));
  }
  // Whether `name ::=` starts here (the next rule, which ends the current one).
  bool at_rule_start() const {
    size_t q = p_;
    while (q < s_.size() && name_char(s_[q])) ++q;
    if (q == p_) return false;
    while (q < s_.size() && (s_[q] == ' ' || s_[q] == '\t' || s_[q] == '\n' || s_[q] == '\r')) ++q;
    return s_.substr(q, 3) == "::=";
  }

  int32_t rule_id(const std::string& name) {
    auto [it, fresh] = ids_.emplace(name, int32_t(rules_.size()));
    if (fresh) {
      rules_.emplace_back();
      names_.push_back(name);
      defined_.push_back(false);
      first_use_.push_back(p_);
    }
    return it->second;
  }
  int32_t helper(const std::string& base, std::vector<Seq> alts) {
    const int32_t r = rule_id(fmt::format("{}-{}", base, helpers_++));
    rules_[size_t(r)] = std::move(alts);
    defined_[size_t(r)] = true;
    return r;
  }
  int32_t byte_set(const std::bitset<256>& b) {
    std::string key = b.to_string();
    auto [it, fresh] = set_ids_.emplace(key, int32_t(sets_.size()));
    if (fresh) sets_.push_back(b);
    return it->second;
  }
  Element single_byte(uint8_t c) {
    std::bitset<256> b;
    b.set(c);
    return {Element::bytes, byte_set(b)};
  }

  std::vector<Seq> alternatives(int depth) {
    if (depth > 200) fail(p_, "groups are nested too deeply");
    std::vector<Seq> alts;
    alts.push_back(sequence(depth));
    while (p_ < s_.size() && s_[p_] == '|') {
      ++p_;
      alts.push_back(sequence(depth));
    }
    return alts;
  }

  Seq sequence(int depth) {
    Seq seq;
    for (;;) {
      skip();
      if (p_ >= s_.size() || s_[p_] == '|' || s_[p_] == ')') break;
      if (at_rule_start()) break;
      const size_t at = p_;
      Seq item = primary(depth);
      skip();
      if (p_ < s_.size() && (s_[p_] == '*' || s_[p_] == '+' || s_[p_] == '?' || s_[p_] == '{')) {
        item = repeat(at, std::move(item));
      }
      seq.insert(seq.end(), item.begin(), item.end());
    }
    return seq;
  }

  Seq primary(int depth) {
    const char c = s_[p_];
    if (c == '"') {
      ++p_;
      Seq seq;
      while (true) {
        if (p_ >= s_.size()) fail(p_, "unterminated string literal");
        if (s_[p_] == '"') break;
        uint8_t buf[4];
        int n = 0;
        utf8_encode(code_point(), buf, n);
        for (int i = 0; i < n; ++i) seq.push_back(single_byte(buf[i]));
      }
      ++p_;
      return seq;
    }
    if (c == '[') return {char_class()};
    if (c == '.') {
      ++p_;
      return {lowered({{0, kMaxCodePoint}})};
    }
    if (c == '(') {
      ++p_;
      auto alts = alternatives(depth + 1);
      skip();
      if (p_ >= s_.size() || s_[p_] != ')') fail(p_, "expected ')'");
      ++p_;
      if (alts.size() == 1) return alts[0];
      return {{Element::rule, helper("group", std::move(alts))}};
    }
    if (name_char(c)) return {{Element::rule, rule_id(identifier())}};
    fail(p_, fmt::format("unexpected '{}'", c));
  }

  // One character of a literal or class, escapes included.
  uint32_t code_point() {
    if (p_ >= s_.size()) fail(p_, "unexpected end of the grammar");
    const unsigned char c = static_cast<unsigned char>(s_[p_]);
    if (c == '\\') {
      if (++p_ >= s_.size()) fail(p_, "unfinished escape");
      const char e = s_[p_++];
      int hex = 0;
      switch (e) {
        case 'n':
          return '\n';
        case 't':
          return '\t';
        case 'r':
          return '\r';
        case 'x':
          hex = 2;
          break;
        case 'u':
          hex = 4;
          break;
        case 'U':
          hex = 8;
          break;
        case '\\':
        case '"':
        case '[':
        case ']':
        case '-':
        case '^':
        case '/':
          return uint32_t(e);
        default:
          fail(p_ - 1, fmt::format("unknown escape '\\{}'", e));
      }
      uint32_t v = 0;
      for (int i = 0; i < hex; ++i, ++p_) {
        if (p_ >= s_.size() || !std::isxdigit(static_cast<unsigned char>(s_[p_])))
          fail(p_, "expected a hexadecimal digit");
        const char h = s_[p_];
        v = v * 16 + uint32_t(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
      }
      if (v > kMaxCodePoint || (v >= 0xD800 && v <= 0xDFFF))
        fail(p_, fmt::format("U+{:X} is not a Unicode scalar value", v));
      return v;
    }
    // A UTF-8 character of the grammar's own text.
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || p_ + size_t(n) > s_.size()) fail(p_, "the grammar is not valid UTF-8");
    uint32_t v = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (int i = 1; i < n; ++i) {
      const unsigned char d = static_cast<unsigned char>(s_[p_ + size_t(i)]);
      if ((d & 0xC0) != 0x80) fail(p_, "the grammar is not valid UTF-8");
      v = (v << 6) | (d & 0x3F);
    }
    p_ += size_t(n);
    return v;
  }

  Element char_class() {
    const size_t at = p_++;
    bool negated = false;
    if (p_ < s_.size() && s_[p_] == '^') negated = true, ++p_;
    Ranges r;
    while (true) {
      if (p_ >= s_.size()) fail(at, "unterminated character class");
      if (s_[p_] == ']') break;
      uint32_t lo = code_point(), hi = lo;
      if (p_ + 1 < s_.size() && s_[p_] == '-' && s_[p_ + 1] != ']') {
        ++p_;
        hi = code_point();
        if (hi < lo) fail(at, "a character range ends before it starts");
      }
      r.emplace_back(lo, hi);
    }
    ++p_;
    r = normalize(std::move(r));
    if (negated) r = complement(r);
    if (r.empty()) fail(at, "the character class matches nothing");
    return lowered(without_surrogates(r));
  }

  // A set of code points as one element: a byte set when every code point is ASCII, else a helper
  // rule of UTF-8 sequences (shared between identical classes).
  Element lowered(const Ranges& r) {
    std::string key;
    for (auto [a, b] : r) key += fmt::format("{:x}-{:x},", a, b);
    if (auto it = classes_.find(key); it != classes_.end()) return it->second;
    std::vector<std::vector<std::pair<uint8_t, uint8_t>>> seqs;
    for (auto [a, b] : r) utf8_sequences(a, b, seqs);
    std::bitset<256> single;
    std::vector<Seq> alts;
    for (const auto& s : seqs) {
      if (s.size() == 1) {
        for (int v = s[0].first; v <= s[0].second; ++v) single.set(size_t(v));
        continue;
      }
      Seq alt;
      for (auto [a, b] : s) {
        std::bitset<256> bs;
        for (int v = a; v <= b; ++v) bs.set(size_t(v));
        alt.push_back({Element::bytes, byte_set(bs)});
      }
      alts.push_back(std::move(alt));
    }
    Element e;
    if (single.any()) {
      Element one{Element::bytes, byte_set(single)};
      if (alts.empty()) return classes_[key] = one;
      alts.insert(alts.begin(), Seq{one});
    }
    e = {Element::rule, helper("char", std::move(alts))};
    return classes_[key] = e;
  }

  int count() {
    size_t b = p_;
    while (p_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[p_]))) ++p_;
    if (b == p_) fail(p_, "expected a number");
    if (p_ - b > 5 || std::stoi(std::string(s_.substr(b, p_ - b))) > kMaxRepeat)
      fail(b, fmt::format("repetition counts are limited to {}", kMaxRepeat));
    return std::stoi(std::string(s_.substr(b, p_ - b)));
  }

  Seq repeat(size_t at, Seq item) {
    Element x = item.size() == 1 ? item[0] : Element{Element::rule, helper("seq", {item})};
    int lo = 0, hi = -1;  // hi -1: unbounded
    const char op = s_[p_++];
    if (op == '+') {
      lo = 1;
    } else if (op == '?') {
      hi = 1;
    } else if (op == '{') {
      skip();
      lo = count();
      skip();
      hi = lo;
      if (p_ < s_.size() && s_[p_] == ',') {
        ++p_;
        skip();
        hi = (p_ < s_.size() && s_[p_] == '}') ? -1 : count();
        skip();
      }
      if (p_ >= s_.size() || s_[p_] != '}') fail(p_, "expected '}'");
      ++p_;
      if (hi >= 0 && hi < lo) fail(at, "a repetition's maximum is below its minimum");
    }
    Seq out(size_t(lo), x);
    if (hi < 0) {
      // star ::= x star | ε
      const int32_t r = rule_id(fmt::format("star-{}", helpers_++));
      defined_[size_t(r)] = true;
      rules_[size_t(r)] = {{x, {Element::rule, r}}, {}};
      out.push_back({Element::rule, r});
    } else if (hi > lo) {
      // opt_k ::= x opt_{k-1} | ε, nested so that each count parses one way.
      int32_t prev = helper("opt", {{x}, {}});
      for (int k = 1; k < hi - lo; ++k) prev = helper("opt", {{x, {Element::rule, prev}}, {}});
      out.push_back({Element::rule, prev});
    }
    return out;
  }

  std::string_view s_;
  std::string where_;
  size_t p_ = 0;
  int helpers_ = 0;
  std::vector<std::vector<Seq>> rules_;
  std::vector<std::string> names_;
  std::vector<bool> defined_;
  std::vector<size_t> first_use_;
  std::unordered_map<std::string, int32_t> ids_;
  std::vector<std::bitset<256>> sets_;
  std::unordered_map<std::string, int32_t> set_ids_;
  std::unordered_map<std::string, Element> classes_;
};

Grammar Grammar::parse(std::string_view gbnf, const std::string& where) {
  return Builder(gbnf, where).build();
}

void Grammar::finish(const std::string& where) {
  const size_t n = alts_.size();
  // Fewest bytes per rule, to a fixed point; a rule that stays infinite can never finish.
  std::vector<int32_t> min_rule(n, kInf);
  auto elem_len = [&](const Element& e) {
    return e.kind == Element::bytes ? 1 : min_rule[size_t(e.arg)];
  };
  for (bool changed = true; changed;) {
    changed = false;
    for (size_t r = 0; r < n; ++r) {
      for (int32_t pos : alts_[r]) {
        int64_t len = 0;
        for (int32_t i = pos; code_[size_t(i)].kind != Element::end; ++i)
          len = std::min<int64_t>(kInf, len + elem_len(code_[size_t(i)]));
        if (len < min_rule[r]) min_rule[r] = int32_t(len), changed = true;
      }
    }
  }
  for (size_t r = 0; r < n; ++r) {
    if (min_rule[r] >= kInf)
      throw InputError(fmt::format("[{}] rule '{}' can never finish (it always needs itself)",
                                   where, names_[r]));
  }
  min_from_.assign(code_.size(), 0);
  for (size_t i = code_.size(); i-- > 0;) {
    if (code_[i].kind == Element::end) continue;
    min_from_[i] = std::min<int32_t>(kInf, elem_len(code_[i]) + min_from_[i + 1]);
  }
  // Left recursion: a rule reachable from itself through elements that read no byte, where some
  // reference on the way has something after it (a continuation to push each time round, so the
  // stack would grow without end). Loops through references in tail position only (a nullable
  // item under `*`) are fine: they add no continuation and the matcher expands each once.
  struct Edge {
    int32_t to;
    bool tail;
  };
  std::vector<std::vector<Edge>> left(n);
  for (size_t r = 0; r < n; ++r) {
    for (int32_t pos : alts_[r]) {
      for (int32_t i = pos; code_[size_t(i)].kind == Element::rule; ++i) {
        left[r].push_back({code_[size_t(i)].arg, code_[size_t(i) + 1].kind == Element::end});
        if (min_rule[size_t(code_[size_t(i)].arg)] > 0) break;
      }
    }
  }
  std::vector<int32_t> seen(n, -1);
  auto reaches = [&](int32_t from, int32_t target, int32_t stamp) {
    std::vector<int32_t> todo{from};
    seen[size_t(from)] = stamp;
    while (!todo.empty()) {
      const int32_t u = todo.back();
      todo.pop_back();
      if (u == target) return true;
      for (const Edge& e : left[size_t(u)]) {
        if (seen[size_t(e.to)] == stamp) continue;
        seen[size_t(e.to)] = stamp;
        todo.push_back(e.to);
      }
    }
    return false;
  };
  int32_t stamp = 0;
  for (size_t r = 0; r < n; ++r) {
    for (const Edge& e : left[r]) {
      if (!e.tail && reaches(e.to, int32_t(r), stamp++))
        throw InputError(
            fmt::format("[{}] rule '{}' is left-recursive (it can reach itself "
                        "before reading a character)",
                        where, names_[r]));
    }
  }
}

std::string gbnf_literal(std::string_view text) {
  std::string out = "\"";
  for (unsigned char c : text) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20 || c == 0x7F)
          out += fmt::format("\\x{:02X}", c);
        else
          out += char(c);
    }
  }
  return out + "\"";
}

}  // namespace vkllm::core::grammar
