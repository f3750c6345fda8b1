// Template lexing (text and tags, whitespace control) and recursive-descent parsing of Jinja2
// statements and expressions, following Jinja2's grammar and operator precedence.
#include <fmt/format.h>

#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <set>

#include "core/jinja/ast.h"
#include "core/jinja/error.h"
#include "core/limits.h"

namespace vkllm::core::jinja {
namespace {

// ------------------------------------------------------------------ segments
struct Segment {
  enum Type { Text, Var, Block, Comment } type;
  std::string content;
  int line;
  bool strip_before = false, strip_after = false, keep_before = false, keep_after = false;
};

int count_lines(const std::string& s, size_t from, size_t to) {
  int n = 0;
  for (size_t i = from; i < to && i < s.size(); ++i) n += s[i] == '\n';
  return n;
}

// Finds the closing delimiter `close` ("}}" or "%}") of a tag starting at `from`, skipping
// string literals.
size_t find_close(const std::string& s, size_t from, const char* close, int line) {
  char quote = 0;
  for (size_t i = from; i + 1 < s.size(); ++i) {
    char c = s[i];
    if (quote) {
      if (c == '\\') ++i;
      else if (c == quote) quote = 0;
      continue;
    }
    if (c == '\'' || c == '"') quote = c;
    else if (c == close[0] && s[i + 1] == close[1]) return i;
  }
  throw TemplateError(fmt::format("tag is not closed (missing '{}')", close), line);
}

std::vector<Segment> lex(const std::string& src, bool trim_blocks, bool lstrip_blocks) {
  std::vector<Segment> segs;
  size_t pos = 0;
  int line = 1;
  while (pos < src.size()) {
    size_t start = std::string::npos;
    for (const char* open : {"{{", "{%", "{#"}) {
      size_t p = src.find(open, pos);
      if (p < start) start = p;
    }
    if (start == std::string::npos) {
      segs.push_back({Segment::Text, src.substr(pos), line});
      break;
    }
    if (start > pos) {
      segs.push_back({Segment::Text, src.substr(pos, start - pos), line});
      line += count_lines(src, pos, start);
    }
    char kind = src[start + 1];
    size_t inner = start + 2;
    Segment seg{kind == '{' ? Segment::Var : kind == '%' ? Segment::Block : Segment::Comment, "", line};
    if (inner < src.size() && (src[inner] == '-' || src[inner] == '+')) {
      (src[inner] == '-' ? seg.strip_before : seg.keep_before) = true;
      ++inner;
    }
    size_t close;
    if (seg.type == Segment::Comment) {
      close = src.find("#}", inner);
      if (close == std::string::npos) throw TemplateError("comment is not closed (missing '#}')", line);
    } else {
      close = find_close(src, inner, seg.type == Segment::Var ? "}}" : "%}", line);
    }
    size_t content_end = close;
    if (content_end > inner && (src[content_end - 1] == '-' || src[content_end - 1] == '+')) {
      (src[content_end - 1] == '-' ? seg.strip_after : seg.keep_after) = true;
      --content_end;
    }
    seg.content = src.substr(inner, content_end - inner);
    line += count_lines(src, start, close + 2);
    pos = close + 2;
    // {% raw %} ... {% endraw %}: everything in between is text.
    if (seg.type == Segment::Block) {
      std::string c = seg.content;
      size_t a = c.find_first_not_of(" \t\r\n"), b = c.find_last_not_of(" \t\r\n");
      if (a != std::string::npos && c.substr(a, b - a + 1) == "raw") {
        size_t search = pos;
        while (true) {
          size_t e = src.find("{%", search);
          if (e == std::string::npos) throw TemplateError("{% raw %} without {% endraw %}", seg.line);
          size_t ce = find_close(src, e + 2, "%}", line);
          std::string tag = src.substr(e + 2, ce - e - 2);
          size_t t0 = tag.find_first_not_of(" \t\r\n-+"), t1 = tag.find_last_not_of(" \t\r\n-+");
          if (t0 != std::string::npos && tag.substr(t0, t1 - t0 + 1) == "endraw") {
            segs.push_back(seg);  // the raw tag itself (for whitespace control), then the text
            segs.back().type = Segment::Comment;
            segs.push_back({Segment::Text, src.substr(pos, e - pos), line});
            line += count_lines(src, pos, ce + 2);
            Segment end{Segment::Comment, "", line};
            end.strip_before = tag.find_first_not_of(" \t\r\n") != std::string::npos && tag[tag.find_first_not_of(" \t\r\n")] == '-';
            end.strip_after = !tag.empty() && tag.back() == '-';
            segs.push_back(end);
            pos = ce + 2;
            break;
          }
          search = ce + 2;
        }
        continue;
      }
    }
    segs.push_back(seg);
  }
  // Whitespace control.
  for (size_t i = 0; i < segs.size(); ++i) {
    Segment& s = segs[i];
    if (s.type == Segment::Text) continue;
    bool blockish = s.type != Segment::Var;
    if (i > 0 && segs[i - 1].type == Segment::Text) {
      std::string& prev = segs[i - 1].content;
      if (s.strip_before) {
        size_t e = prev.find_last_not_of(" \t\r\n\v\f");
        prev.erase(e == std::string::npos ? 0 : e + 1);
      } else if (lstrip_blocks && blockish && !s.keep_before) {
        size_t nl = prev.find_last_of('\n');
        size_t from = nl == std::string::npos ? 0 : nl + 1;
        bool only_ws = prev.find_first_not_of(" \t", from) == std::string::npos;
        // At the template start (no newline before) lstrip applies only when this text is the
        // first segment.
        if (only_ws && (nl != std::string::npos || i == 1)) prev.erase(from);
      }
    }
    if (i + 1 < segs.size() && segs[i + 1].type == Segment::Text) {
      std::string& next = segs[i + 1].content;
      if (s.strip_after) {
        size_t b = next.find_first_not_of(" \t\r\n\v\f");
        next.erase(0, b == std::string::npos ? next.size() : b);
      } else if (trim_blocks && blockish && !s.keep_after) {
        if (next.starts_with("\r\n")) next.erase(0, 2);
        else if (next.starts_with("\n")) next.erase(0, 1);
      }
    }
  }
  return segs;
}

// ------------------------------------------------------------------- tokens
struct Token {
  enum Type { Name, Int, Float, String, Op, End } type;
  std::string text;
  Value value;
};

std::vector<Token> tokenize(const std::string& s, int line) {
  std::vector<Token> out;
  size_t i = 0;
  while (i < s.size()) {
    char c = s[i];
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    if (std::isalpha(static_cast<unsigned char>(c)) || c == '_') {
      size_t j = i;
      while (j < s.size() && (std::isalnum(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      out.push_back({Token::Name, s.substr(i, j - i), {}});
      i = j;
      continue;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) {
      size_t j = i;
      bool is_float = false;
      while (j < s.size() && (std::isdigit(static_cast<unsigned char>(s[j])) || s[j] == '_')) ++j;
      if (j + 1 < s.size() && s[j] == '.' && std::isdigit(static_cast<unsigned char>(s[j + 1]))) {
        is_float = true;
        ++j;
        while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
      }
      if (j < s.size() && (s[j] == 'e' || s[j] == 'E')) {
        size_t k = j + 1;
        if (k < s.size() && (s[k] == '+' || s[k] == '-')) ++k;
        if (k < s.size() && std::isdigit(static_cast<unsigned char>(s[k]))) {
          is_float = true;
          j = k;
          while (j < s.size() && std::isdigit(static_cast<unsigned char>(s[j]))) ++j;
        }
      }
      std::string num;
      for (size_t k = i; k < j; ++k)
        if (s[k] != '_') num += s[k];
      Token t{is_float ? Token::Float : Token::Int, num, {}};
      if (is_float) {
        t.value = Value(std::strtod(num.c_str(), nullptr));  // overflow gives inf, as Python
      } else {
        errno = 0;
        long long v = std::strtoll(num.c_str(), nullptr, 10);
        if (errno == ERANGE)
          throw TemplateError(fmt::format("integer literal {} does not fit 64 bits", num), line);
        t.value = Value(int64_t(v));
      }
      out.push_back(t);
      i = j;
      continue;
    }
    if (c == '\'' || c == '"') {
      std::string v;
      size_t j = i + 1;
      for (; j < s.size() && s[j] != c; ++j) {
        if (s[j] != '\\' || j + 1 >= s.size()) {
          v += s[j];
          continue;
        }
        char e = s[++j];
        switch (e) {
          case 'n': v += '\n'; break;
          case 't': v += '\t'; break;
          case 'r': v += '\r'; break;
          case '0': v += '\0'; break;
          case '\\': v += '\\'; break;
          case '\'': v += '\''; break;
          case '"': v += '"'; break;
          case 'u':
          case 'x': {
            size_t len = e == 'u' ? 4 : 2;
            if (j + len < s.size()) {
              const std::string hex = s.substr(j + 1, len);
              if (!std::all_of(hex.begin(), hex.end(),
                               [](char h) { return std::isxdigit(static_cast<unsigned char>(h)); }))
                throw TemplateError(fmt::format("bad escape \\{}{}", e, hex), line);
              char32_t cp = char32_t(std::stoul(hex, nullptr, 16));
              std::string enc;
              if (cp < 0x80) enc += char(cp);
              else if (cp < 0x800) { enc += char(0xc0 | (cp >> 6)); enc += char(0x80 | (cp & 0x3f)); }
              else { enc += char(0xe0 | (cp >> 12)); enc += char(0x80 | ((cp >> 6) & 0x3f)); enc += char(0x80 | (cp & 0x3f)); }
              v += enc;
              j += len;
            }
            break;
          }
          default: v += '\\'; v += e;
        }
      }
      if (j >= s.size()) throw TemplateError("unterminated string literal", line);
      Token t{Token::String, v, Value(v)};
      out.push_back(t);
      i = j + 1;
      continue;
    }
    static const char* kOps[] = {"**", "//", "==", "!=", "<=", ">=", "+", "-", "*", "/", "%", "~", "<", ">",
                                 "=", "(", ")", "[", "]", "{", "}", ".", ",", ":", "|"};
    bool matched = false;
    for (const char* op : kOps) {
      size_t n = std::strlen(op);
      if (s.compare(i, n, op) == 0) {
        out.push_back({Token::Op, op, {}});
        i += n;
        matched = true;
        break;
      }
    }
    if (!matched) throw TemplateError(fmt::format("unexpected character '{}'", c), line);
  }
  out.push_back({Token::End, "", {}});
  return out;
}

// ------------------------------------------------------------------- parser
constexpr size_t kMaxTagNodes = 4096;

class ExprParser {
 public:
  ExprParser(std::vector<Token> toks, int line) : t_(std::move(toks)), line_(line) {}

  const Token& peek(size_t k = 0) const { return t_[std::min(p_ + k, t_.size() - 1)]; }
  bool at_end() const { return peek().type == Token::End; }
  bool is_op(const char* op, size_t k = 0) const { return peek(k).type == Token::Op && peek(k).text == op; }
  bool is_name(const char* n, size_t k = 0) const { return peek(k).type == Token::Name && peek(k).text == n; }
  Token next() { return t_[std::min(p_++, t_.size() - 1)]; }
  void expect_op(const char* op) {
    if (!is_op(op)) fail(fmt::format("expected '{}'", op));
    ++p_;
  }
  std::string expect_name() {
    if (peek().type != Token::Name) fail("expected a name");
    return next().text;
  }
  void expect_end() {
    if (!at_end()) fail(fmt::format("unexpected '{}'", peek().text));
  }
  [[noreturn]] void fail(const std::string& what) const {
    std::string near = at_end() ? "end of tag" : "'" + peek().text + "'";
    throw TemplateError(fmt::format("{} near {}", what, near), line_);
  }

  ExprPtr mk(Expr::Kind k) {
    // Bounds the tree of one tag: left-associative chains (a + b + c ...) grow without
    // recursion here but evaluate and free recursively.
    if (++nodes_ > kMaxTagNodes)
      fail(fmt::format("expression of more than {} parts", kMaxTagNodes));
    return std::make_shared<Expr>(k, line_);
  }
  // Counts one level of the parser's recursion (parentheses, unary operators, 'not').
  struct Level {
    ExprParser& p;
    explicit Level(ExprParser& parser) : p(parser) {
      if (++p.depth_ > limits::kTemplateNesting)
        p.fail(fmt::format("expression nested deeper than {} levels", limits::kTemplateNesting));
    }
    ~Level() { --p.depth_; }
    Level(const Level&) = delete;
    Level& operator=(const Level&) = delete;
  };

  ExprPtr expression(bool with_ternary = true) {
    Level level(*this);
    ExprPtr e = parse_or();
    if (with_ternary && is_name("if")) {
      ++p_;
      auto t = mk(Expr::Ternary);
      t->a = e;
      t->b = parse_or();
      if (is_name("else")) {
        ++p_;
        t->c = expression();
      }
      return t;
    }
    return e;
  }

  // a, b, c  (a tuple when there is a comma)
  ExprPtr tuple_or_expression() {
    ExprPtr first = expression();
    if (!is_op(",")) return first;
    auto t = mk(Expr::Tuple);
    t->items.push_back(first);
    while (is_op(",")) {
      ++p_;
      if (at_end() || is_op(")") || is_op("]")) break;
      t->items.push_back(expression());
    }
    return t;
  }

  ExprPtr parse_or() {
    ExprPtr l = parse_and();
    while (is_name("or")) {
      ++p_;
      auto n = mk(Expr::Or);
      n->a = l;
      n->b = parse_and();
      l = n;
    }
    return l;
  }
  ExprPtr parse_and() {
    ExprPtr l = parse_not();
    while (is_name("and")) {
      ++p_;
      auto n = mk(Expr::And);
      n->a = l;
      n->b = parse_not();
      l = n;
    }
    return l;
  }
  ExprPtr parse_not() {
    if (is_name("not")) {
      Level level(*this);
      ++p_;
      auto n = mk(Expr::Not);
      n->a = parse_not();
      return n;
    }
    return parse_compare();
  }
  ExprPtr parse_compare() {
    ExprPtr first = parse_math1();
    auto c = mk(Expr::Compare);
    c->items.push_back(first);
    while (true) {
      std::string op;
      if (peek().type == Token::Op && (peek().text == "==" || peek().text == "!=" || peek().text == "<" ||
                                       peek().text == "<=" || peek().text == ">" || peek().text == ">=")) {
        op = next().text;
      } else if (is_name("in")) {
        ++p_;
        op = "in";
      } else if (is_name("not") && is_name("in", 1)) {
        p_ += 2;
        op = "not in";
      } else {
        break;
      }
      c->ops.push_back(op);
      c->items.push_back(parse_math1());
    }
    return c->ops.empty() ? first : c;
  }
  ExprPtr binary(const std::string& op, ExprPtr l, ExprPtr r) {
    auto n = mk(Expr::Binary);
    n->name = op;
    n->a = std::move(l);
    n->b = std::move(r);
    return n;
  }
  ExprPtr parse_math1() {
    ExprPtr l = parse_concat();
    while (is_op("+") || is_op("-")) {
      std::string op = next().text;
      l = binary(op, l, parse_concat());
    }
    return l;
  }
  ExprPtr parse_concat() {
    ExprPtr l = parse_math2();
    if (!is_op("~")) return l;
    auto n = mk(Expr::Concat);
    n->items.push_back(l);
    while (is_op("~")) {
      ++p_;
      n->items.push_back(parse_math2());
    }
    return n;
  }
  ExprPtr parse_math2() {
    ExprPtr l = parse_pow();
    while (is_op("*") || is_op("/") || is_op("//") || is_op("%")) {
      std::string op = next().text;
      l = binary(op, l, parse_pow());
    }
    return l;
  }
  ExprPtr parse_pow() {
    ExprPtr l = parse_unary(true);
    while (is_op("**")) {
      ++p_;
      l = binary("**", l, parse_unary(true));
    }
    return l;
  }
  ExprPtr parse_unary(bool with_filter) {
    ExprPtr n;
    if (is_op("-") || is_op("+")) {
      Level level(*this);
      auto u = mk(Expr::Unary);
      u->name = next().text;
      u->a = parse_unary(false);
      n = u;
    } else {
      n = postfix(primary());
    }
    if (with_filter) n = filters_and_tests(n);
    return n;
  }

  ExprPtr primary() {
    const Token& t = peek();
    if (t.type == Token::Name) {
      std::string n = next().text;
      if (n == "true" || n == "True") return literal(Value(true));
      if (n == "false" || n == "False") return literal(Value(false));
      if (n == "none" || n == "None") return literal(Value(None{}));
      auto e = mk(Expr::Name);
      e->name = n;
      return e;
    }
    if (t.type == Token::String) {
      std::string s;
      while (peek().type == Token::String) s += next().text;  // adjacent literals concatenate
      return literal(Value(s));
    }
    if (t.type == Token::Int || t.type == Token::Float) return literal(next().value);
    if (is_op("(")) {
      ++p_;
      if (is_op(")")) {
        ++p_;
        return mk(Expr::Tuple);
      }
      ExprPtr e = tuple_or_expression();
      expect_op(")");
      return e;
    }
    if (is_op("[")) {
      ++p_;
      auto l = mk(Expr::List);
      while (!is_op("]")) {
        l->items.push_back(expression());
        if (!is_op(",")) break;
        ++p_;
      }
      expect_op("]");
      return l;
    }
    if (is_op("{")) {
      ++p_;
      auto d = mk(Expr::Dict);
      while (!is_op("}")) {
        ExprPtr k = expression();
        expect_op(":");
        d->pairs.emplace_back(k, expression());
        if (!is_op(",")) break;
        ++p_;
      }
      expect_op("}");
      return d;
    }
    fail("expected an expression");
  }

  ExprPtr literal(Value v) {
    auto e = mk(Expr::Literal);
    e->literal = std::move(v);
    return e;
  }

  void call_args(Expr& e) {
    expect_op("(");
    while (!is_op(")")) {
      if (peek().type == Token::Name && is_op("=", 1)) {
        std::string k = next().text;
        ++p_;
        e.kwargs.emplace_back(k, expression());
      } else {
        if (is_op("*")) fail("*args in calls are not supported");
        e.items.push_back(expression());
      }
      if (!is_op(",")) break;
      ++p_;
    }
    expect_op(")");
  }

  ExprPtr postfix(ExprPtr n) {
    while (true) {
      if (is_op(".")) {
        ++p_;
        auto a = mk(Expr::Attr);
        a->a = n;
        if (peek().type == Token::Int) {
          auto it = mk(Expr::Item);
          it->a = n;
          it->b = literal(next().value);
          n = it;
          continue;
        }
        a->name = expect_name();
        n = a;
      } else if (is_op("[")) {
        ++p_;
        ExprPtr lo, hi, step;
        bool slice = false;
        if (!is_op(":")) lo = expression();
        if (is_op(":")) {
          slice = true;
          ++p_;
          if (!is_op("]") && !is_op(":")) hi = expression();
          if (is_op(":")) {
            ++p_;
            if (!is_op("]")) step = expression();
          }
        }
        expect_op("]");
        if (slice) {
          auto s = mk(Expr::Slice);
          s->a = n;
          s->items = {lo, hi, step};
          n = s;
        } else {
          auto it = mk(Expr::Item);
          it->a = n;
          it->b = lo;
          n = it;
        }
      } else if (is_op("(")) {
        auto c = mk(Expr::Call);
        c->a = n;
        call_args(*c);
        n = c;
      } else {
        return n;
      }
    }
  }

  ExprPtr filters_and_tests(ExprPtr n) {
    while (true) {
      if (is_op("|")) {
        ++p_;
        auto f = mk(Expr::Filter);
        f->a = n;
        f->name = expect_name();
        while (is_op(".")) {  // dotted filter names
          ++p_;
          f->name += "." + expect_name();
        }
        if (is_op("(")) call_args(*f);
        n = f;
      } else if (is_name("is")) {
        ++p_;
        auto t = mk(Expr::Test);
        t->a = n;
        if (is_name("not")) {
          ++p_;
          t->negated = true;
        }
        t->name = expect_name();
        if (is_op("(")) {
          call_args(*t);
        } else if ((peek().type == Token::Name && !is_name("and") && !is_name("or") && !is_name("else") &&
                    !is_name("if") && !is_name("is") && !is_name("in") && !is_name("not")) ||
                   peek().type == Token::String || peek().type == Token::Int || peek().type == Token::Float ||
                   is_op("[") || is_op("{")) {
          t->items.push_back(postfix(primary()));
        }
        n = t;
      } else {
        return n;
      }
    }
  }

 private:
  std::vector<Token> t_;
  size_t p_ = 0;
  int line_;
  int depth_ = 0;
  size_t nodes_ = 0;
};

// --------------------------------------------------------------- statements
class Parser {
 public:
  Parser(std::vector<Segment> segs) : s_(std::move(segs)) {}

  NodePtr parse() {
    auto root = std::make_shared<Node>(Node::Block, 1);
    root->body = body({});
    if (i_ < s_.size()) {
      throw TemplateError(fmt::format("unexpected '{{% {} %}}'", first_word(s_[i_])), s_[i_].line);
    }
    return root;
  }

 private:
  static std::string first_word(const Segment& s) {
    auto toks = tokenize(s.content, s.line);
    return toks.empty() || toks[0].type != Token::Name ? "" : toks[0].text;
  }

  // Parses nodes until a block tag whose first word is in `ends` (left unconsumed).
  Body body(const std::set<std::string>& ends) {
    if (++depth_ > limits::kTemplateNesting) {
      throw TemplateError(
          fmt::format("blocks nested deeper than {} levels", limits::kTemplateNesting),
          i_ < s_.size() ? s_[i_].line : 0);
    }
    struct Leave {
      int& d;
      ~Leave() { --d; }
    } leave{depth_};
    Body out;
    while (i_ < s_.size()) {
      const Segment& seg = s_[i_];
      if (seg.type == Segment::Text) {
        if (!seg.content.empty()) {
          auto n = std::make_shared<Node>(Node::Text, seg.line);
          n->text = seg.content;
          out.push_back(n);
        }
        ++i_;
      } else if (seg.type == Segment::Comment) {
        ++i_;
      } else if (seg.type == Segment::Var) {
        ExprParser p(tokenize(seg.content, seg.line), seg.line);
        auto n = std::make_shared<Node>(Node::Output, seg.line);
        n->expr = p.tuple_or_expression();
        p.expect_end();
        out.push_back(n);
        ++i_;
      } else {
        std::string w = first_word(seg);
        if (ends.count(w)) return out;
        out.push_back(statement(seg, w));
      }
    }
    if (!ends.empty()) {
      std::string list;
      for (const auto& e : ends) list += (list.empty() ? "" : " or ") + ("{% " + e + " %}");
      throw TemplateError("missing " + list + " before the end of the template", s_.empty() ? 0 : s_.back().line);
    }
    return out;
  }

  // Consumes the end tag `name` (checking it has nothing after the keyword).
  void end_tag(const std::string& name) {
    const Segment& seg = s_[i_];
    ExprParser p(tokenize(seg.content, seg.line), seg.line);
    if (p.expect_name() != name) p.fail("expected " + name);
    if (name != "endblock" && name != "endmacro") p.expect_end();
    ++i_;
  }

  std::vector<std::string> targets(ExprParser& p) {
    std::vector<std::string> names;
    bool paren = p.is_op("(");
    if (paren) p.next();
    names.push_back(p.expect_name());
    while (p.is_op(",")) {
      p.next();
      names.push_back(p.expect_name());
    }
    if (paren) p.expect_op(")");
    return names;
  }

  NodePtr statement(const Segment& seg, const std::string& word) {
    ExprParser p(tokenize(seg.content, seg.line), seg.line);
    p.next();  // the keyword
    int line = seg.line;
    ++i_;
    if (word == "if") {
      auto n = std::make_shared<Node>(Node::If, line);
      ExprPtr cond = p.expression();
      p.expect_end();
      while (true) {
        Body b = body({"elif", "else", "endif"});
        n->branches.emplace_back(cond, std::move(b));
        std::string w = first_word(s_[i_]);
        if (w == "endif") {
          end_tag("endif");
          break;
        }
        const Segment& s2 = s_[i_];
        ExprParser p2(tokenize(s2.content, s2.line), s2.line);
        p2.next();
        ++i_;
        if (w == "elif") {
          cond = p2.expression();
          p2.expect_end();
        } else {
          p2.expect_end();
          n->branches.emplace_back(nullptr, body({"endif"}));
          end_tag("endif");
          break;
        }
      }
      return n;
    }
    if (word == "for") {
      auto n = std::make_shared<Node>(Node::For, line);
      n->targets = targets(p);
      if (!p.is_name("in")) p.fail("expected 'in'");
      p.next();
      n->expr = p.expression(false);
      if (p.is_name("if")) {
        p.next();
        n->filter = p.expression(false);
      }
      if (p.is_name("recursive")) p.fail("recursive loops are not supported");
      p.expect_end();
      n->body = body({"else", "endfor"});
      if (first_word(s_[i_]) == "else") {
        ++i_;
        n->else_body = body({"endfor"});
      }
      end_tag("endfor");
      return n;
    }
    if (word == "set") {
      // set ns.attr = v | set a, b = v | set a = v | set a %}...{% endset
      if (p.peek().type == Token::Name && p.is_op(".", 1)) {
        auto n = std::make_shared<Node>(Node::Set, line);
        auto obj = std::make_shared<Expr>(Expr::Name, line);
        obj->name = p.expect_name();
        p.expect_op(".");
        n->target_attr = obj;
        n->attr = p.expect_name();
        p.expect_op("=");
        n->expr = p.tuple_or_expression();
        p.expect_end();
        return n;
      }
      auto names = targets(p);
      if (p.is_op("=")) {
        p.next();
        auto n = std::make_shared<Node>(Node::Set, line);
        n->targets = names;
        n->expr = p.tuple_or_expression();
        p.expect_end();
        return n;
      }
      auto n = std::make_shared<Node>(Node::SetBlock, line);
      n->targets = names;
      if (p.is_op("|")) {
        auto dummy = std::make_shared<Expr>(Expr::Literal, line);
        n->filter = p.filters_and_tests(dummy);
      }
      p.expect_end();
      n->body = body({"endset"});
      end_tag("endset");
      return n;
    }
    if (word == "macro") {
      auto n = std::make_shared<Node>(Node::Macro, line);
      n->name = p.expect_name();
      p.expect_op("(");
      while (!p.is_op(")")) {
        std::string param = p.expect_name();
        ExprPtr def;
        if (p.is_op("=")) {
          p.next();
          def = p.expression();
        }
        n->params.emplace_back(param, def);
        if (!p.is_op(",")) break;
        p.next();
      }
      p.expect_op(")");
      p.expect_end();
      n->body = body({"endmacro"});
      end_tag("endmacro");
      return n;
    }
    if (word == "call") {
      auto n = std::make_shared<Node>(Node::CallBlock, line);
      if (p.is_op("(")) {  // caller parameters
        p.next();
        while (!p.is_op(")")) {
          std::string param = p.expect_name();
          ExprPtr def;
          if (p.is_op("=")) {
            p.next();
            def = p.expression();
          }
          n->params.emplace_back(param, def);
          if (!p.is_op(",")) break;
          p.next();
        }
        p.expect_op(")");
      }
      n->expr = p.expression();
      p.expect_end();
      n->body = body({"endcall"});
      end_tag("endcall");
      return n;
    }
    if (word == "filter") {
      auto n = std::make_shared<Node>(Node::FilterBlock, line);
      auto dummy = std::make_shared<Expr>(Expr::Literal, line);
      // "filter upper" is "| upper" applied to the block
      std::vector<Token> toks = tokenize(seg.content, line);
      toks[0] = {Token::Op, "|", {}};
      ExprParser fp(toks, line);
      n->filter = fp.filters_and_tests(dummy);
      fp.expect_end();
      n->body = body({"endfilter"});
      end_tag("endfilter");
      return n;
    }
    if (word == "with") {
      auto n = std::make_shared<Node>(Node::With, line);
      while (!p.at_end()) {
        std::string name = p.expect_name();
        p.expect_op("=");
        n->params.emplace_back(name, p.expression());
        if (!p.is_op(",")) break;
        p.next();
      }
      p.expect_end();
      n->body = body({"endwith"});
      end_tag("endwith");
      return n;
    }
    if (word == "break" || word == "continue") {
      p.expect_end();
      return std::make_shared<Node>(word == "break" ? Node::Break : Node::Continue, line);
    }
    if (word == "generation") {  // transformers' AssistantTracker: marks assistant text
      p.expect_end();
      auto n = std::make_shared<Node>(Node::Block, line);
      n->body = body({"endgeneration"});
      end_tag("endgeneration");
      return n;
    }
    throw TemplateError(fmt::format("unsupported construct '{{% {} %}}'", word.empty() ? seg.content : word), line);
  }

  std::vector<Segment> s_;
  size_t i_ = 0;
  int depth_ = 0;
};

}  // namespace

NodePtr parse_template(const std::string& source, bool trim_blocks, bool lstrip_blocks) {
  return Parser(lex(source, trim_blocks, lstrip_blocks)).parse();
}

}  // namespace vkllm::core::jinja
