// JSON Schema `pattern` (ECMA-262 subset) to GBNF over JSON string content. Characters that JSON
// must escape come out as their escapes (\" \\ \u00XX), so the generated JSON decodes to a
// string the pattern matches. Negated classes and `.` leave out control characters (a narrower
// language, still matching the pattern).
#include <fmt/format.h>

#include <algorithm>
#include <vector>

#include "core/grammar/grammar.h"
#include "core/grammar/json_schema.h"
#include "sdk/base/error.h"

namespace vkllm::core::grammar {
namespace {

using Ranges = std::vector<std::pair<uint32_t, uint32_t>>;

std::string class_char(uint32_t c) {
  if (c < 0x20 || c == '"' || c == '\\' || c == ']' || c == '[' || c == '-' || c == '^' ||
      c == 0x7F)
    return fmt::format("\\x{:02X}", c);
  if (c < 0x80) return std::string(1, char(c));
  if (c < 0x10000) return fmt::format("\\u{:04X}", c);
  return fmt::format("\\U{:08X}", c);
}

std::string range_text(uint32_t a, uint32_t b) {
  return b > a ? fmt::format("{}-{}", class_char(a), class_char(b)) : class_char(a);
}

// JSON string content for one code point, as a GBNF literal.
std::string json_char(uint32_t c) {
  if (c == '"') return R"("\\\"")";
  if (c == '\\') return R"("\\\\")";
  if (c < 0x20) return fmt::format(R"("\\u{:04x}")", c);
  return fmt::format("\"{}\"", class_char(c));
}

class RegexCompiler {
 public:
  RegexCompiler(const std::string& p, const std::string& where) : s_(p), where_(where) {}

  std::string compile() {
    bool anchored_start = false, anchored_end = false;
    if (!s_.empty() && s_[0] == '^') anchored_start = true, ++p_;
    std::string body = alternation(0);
    if (p_ < s_.size() && s_[p_] == '$') anchored_end = true, ++p_;
    if (p_ != s_.size()) fail(fmt::format("unexpected '{}'", s_[p_]));
    const std::string any = R"(( [^"\\\x00-\x1F] | "\\" ["\\/bfnrt] )*)";
    return fmt::format("({}{}{})", anchored_start ? "" : any + " ", body,
                       anchored_end ? "" : " " + any);
  }

 private:
  [[noreturn]] void fail(const std::string& what) const {
    throw InputError(fmt::format("[{}] pattern {:?} at offset {}: {}", where_, s_, p_, what));
  }
  bool at(char c) const { return p_ < s_.size() && s_[p_] == c; }

  std::string alternation(int depth) {
    if (depth > 50) fail("groups are nested too deeply");
    std::vector<std::string> alts{sequence(depth)};
    while (at('|')) {
      ++p_;
      alts.push_back(sequence(depth));
    }
    if (alts.size() == 1) return alts[0];
    std::string out = "(";
    for (size_t i = 0; i < alts.size(); ++i) out += (i ? " | " : "") + alts[i];
    return out + ")";
  }

  std::string sequence(int depth) {
    std::string out;
    while (p_ < s_.size() && !at('|') && !at(')')) {
      if (at('$') && p_ + 1 == s_.size()) break;
      std::string atom_text = atom(depth);
      atom_text = quantified(fmt::format("({})", atom_text));
      out += (out.empty() ? "" : " ") + atom_text;
    }
    return out.empty() ? "\"\"" : out;
  }

  std::string quantified(std::string a) {
    for (;;) {
      if (at('*') || at('+') || at('?')) {
        a += s_[p_++];
      } else if (at('{')) {
        size_t close = s_.find('}', p_);
        if (close == std::string::npos) fail("unterminated {m,n}");
        std::string inner = s_.substr(p_ + 1, close - p_ - 1);
        const size_t comma = inner.find(',');
        if (inner.empty() || inner.find_first_not_of("0123456789,") != std::string::npos ||
            inner[0] == ',' || inner.find(',', comma + 1) != std::string::npos || inner.size() > 11)
          fail("expected {m}, {m,} or {m,n}");
        const long lo = std::stol(inner.substr(0, comma));
        const long hi = comma == std::string::npos  ? lo
                        : comma + 1 == inner.size() ? -1
                                                    : std::stol(inner.substr(comma + 1));
        if (lo > 4096 || hi > 4096) fail("repetition counts are limited to 4096");
        if (hi >= 0 && hi < lo) fail("a repetition's maximum is below its minimum");
        a += fmt::format("{{{}}}", inner);
        p_ = close + 1;
      } else {
        return a;
      }
      if (at('?')) ++p_;  // lazy: the same language
      if (at('*') || at('+') || at('{')) fail("a quantifier follows a quantifier");
      a = fmt::format("({})", a);
    }
  }

  uint32_t utf8() {
    const unsigned char c = static_cast<unsigned char>(s_[p_]);
    int n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (n == 0 || p_ + size_t(n) > s_.size()) fail("not valid UTF-8");
    uint32_t v = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
    for (int i = 1; i < n; ++i)
      v = (v << 6) | (static_cast<unsigned char>(s_[p_ + size_t(i)]) & 0x3F);
    p_ += size_t(n);
    return v;
  }

  // An escape after '\': a class (\d \w \s and negations) into r, or one character.
  bool escape(Ranges& r, uint32_t& ch, bool& negated_class) {
    if (p_ >= s_.size()) fail("unfinished escape");
    const char e = s_[p_++];
    negated_class = false;
    switch (e) {
      case 'd':
        r = {{'0', '9'}};
        return true;
      case 'D':
        r = {{'0', '9'}}, negated_class = true;
        return true;
      case 'w':
        r = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
        return true;
      case 'W':
        r = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}}, negated_class = true;
        return true;
      case 's':
        r = {{'\t', '\r'}, {' ', ' '}};
        return true;
      case 'S':
        r = {{'\t', '\r'}, {' ', ' '}}, negated_class = true;
        return true;
      case 'n':
        ch = '\n';
        return false;
      case 't':
        ch = '\t';
        return false;
      case 'r':
        ch = '\r';
        return false;
      case 'f':
        ch = '\f';
        return false;
      case 'v':
        ch = '\v';
        return false;
      case 'u': {
        ch = 0;
        for (int i = 0; i < 4; ++i, ++p_) {
          if (p_ >= s_.size() || !std::isxdigit(static_cast<unsigned char>(s_[p_])))
            fail("expected \\uXXXX (four hexadecimal digits)");
          const char h = s_[p_];
          ch = ch * 16 + uint32_t(h <= '9' ? h - '0' : (h | 0x20) - 'a' + 10);
        }
        if (ch >= 0xD800 && ch <= 0xDFFF)
          fail("surrogate escapes (\\uD800-\\uDFFF) are not supported");
        return false;
      }
      default:
        if (std::isalnum(static_cast<unsigned char>(e)))
          fail(fmt::format("the escape \\{} is not supported", e));
        ch = uint32_t(static_cast<unsigned char>(e));
        return false;
    }
  }

  // A set of code points as JSON string content.
  static std::string set_expr(Ranges r, bool negated) {
    std::sort(r.begin(), r.end());
    std::vector<std::string> alts;
    std::string cls;
    if (negated) {
      // Everything but r, control characters, '"' and '\' (those two come back as escapes).
      cls = "[^\\x00-\\x1F\"\\\\";
      for (auto [a, b] : r) cls += range_text(a, b);
      cls += "]";
      alts.push_back(cls);
      auto inside = [&](uint32_t c) {
        return std::any_of(r.begin(), r.end(),
                           [&](auto ab) { return c >= ab.first && c <= ab.second; });
      };
      if (!inside('"')) alts.push_back(json_char('"'));
      if (!inside('\\')) alts.push_back(json_char('\\'));
    } else {
      std::string body;
      for (auto [a, b] : r) {
        for (uint32_t c = a; c <= b && c < 0x20; ++c) alts.push_back(json_char(c));
        if (a <= '"' && '"' <= b) alts.push_back(json_char('"'));
        if (a <= '\\' && '\\' <= b) alts.push_back(json_char('\\'));
        // The range without control characters, '"' and '\'.
        Ranges parts{{std::max<uint32_t>(a, 0x20), b}};
        for (uint32_t cut : {uint32_t('"'), uint32_t('\\')}) {
          Ranges next;
          for (auto [x, y] : parts) {
            if (x > y) continue;
            if (cut < x || cut > y) {
              next.emplace_back(x, y);
              continue;
            }
            if (cut > x) next.emplace_back(x, cut - 1);
            if (cut < y) next.emplace_back(cut + 1, y);
          }
          parts = next;
        }
        for (auto [x, y] : parts) {
          if (x <= y) body += range_text(x, y);
        }
      }
      if (!body.empty()) alts.insert(alts.begin(), fmt::format("[{}]", body));
    }
    if (alts.size() == 1) return alts[0];
    std::string out = "(";
    for (size_t i = 0; i < alts.size(); ++i) out += (i ? " | " : "") + alts[i];
    return out + ")";
  }

  std::string char_class() {
    ++p_;  // [
    bool negated = false;
    if (at('^')) negated = true, ++p_;
    Ranges r;
    bool first = true;
    while (true) {
      if (p_ >= s_.size()) fail("unterminated character class");
      if (at(']') && !first) break;
      first = false;
      uint32_t lo;
      if (at('\\')) {
        ++p_;
        Ranges cls;
        bool neg = false;
        if (escape(cls, lo, neg)) {
          if (neg) fail("a negated class escape inside [...] is not supported");
          r.insert(r.end(), cls.begin(), cls.end());
          continue;
        }
      } else {
        lo = utf8();
      }
      uint32_t hi = lo;
      if (at('-') && p_ + 1 < s_.size() && s_[p_ + 1] != ']') {
        ++p_;
        if (at('\\')) {
          ++p_;
          Ranges cls;
          bool neg = false;
          if (escape(cls, hi, neg)) fail("a class escape cannot end a range");
        } else {
          hi = utf8();
        }
        if (hi < lo) fail("a character range ends before it starts");
      }
      r.emplace_back(lo, hi);
    }
    ++p_;  // ]
    return set_expr(r, negated);
  }

  std::string atom(int depth) {
    const char c = s_[p_];
    if (c == '(') {
      ++p_;
      if (at('?')) {
        if (p_ + 1 < s_.size() && s_[p_ + 1] == ':')
          p_ += 2;
        else
          fail("lookarounds and named groups are not supported");
      }
      std::string inner = alternation(depth + 1);
      if (!at(')')) fail("expected ')'");
      ++p_;
      return inner;
    }
    if (c == '[') return char_class();
    if (c == '.') {
      ++p_;
      return set_expr({{'\n', '\n'}, {'\r', '\r'}}, true);
    }
    if (c == '\\') {
      ++p_;
      Ranges r;
      uint32_t ch = 0;
      bool neg = false;
      if (escape(r, ch, neg)) return set_expr(r, neg);
      return json_char(ch);
    }
    if (c == '*' || c == '+' || c == '?' || c == '{') fail("nothing to repeat");
    if (c == '^' || c == '$') fail("'^' and '$' are supported only at the ends");
    return json_char(utf8());
  }

  std::string s_, where_;
  size_t p_ = 0;
};

}  // namespace

std::string regex_to_gbnf(const std::string& pattern, const std::string& where) {
  return RegexCompiler(pattern, where).compile();
}

}  // namespace vkllm::core::grammar
