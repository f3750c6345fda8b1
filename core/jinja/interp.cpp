#include "core/jinja/interp.h"

#include <fmt/format.h>

#include <cmath>

#include "core/jinja/error.h"
#include "core/jinja/template.h"
#include "core/limits.h"

namespace vkllm::core::jinja {

// Frames of exec_node and eval: bounds the interpreter's stack whatever the template nests
// (blocks, expressions, macro recursion).
constexpr int kMaxNesting = 2048;

struct Interpreter::Nesting {
  Interpreter& in;
  Nesting(Interpreter& i, int line) : in(i) {
    if (++in.nesting_ > kMaxNesting) {
      --in.nesting_;
      throw TemplateError(fmt::format("the template nests deeper than {} levels", kMaxNesting),
                          line);
    }
  }
  ~Nesting() { --in.nesting_; }
  Nesting(const Nesting&) = delete;
  Nesting& operator=(const Nesting&) = delete;
};

void Interpreter::step(int line) {
  if (++steps_ > limits::kTemplateSteps) {
    throw TemplateError(fmt::format("the template ran more than {} loop iterations and macro "
                                    "calls (the limit per render)",
                                    limits::kTemplateSteps),
                        line);
  }
}

void Interpreter::check_size(uint64_t n, bool is_list, int line) {
  if (is_list && n > limits::kTemplateSteps) {
    throw TemplateError(
        fmt::format("a list of {} items is longer than the limit of {}", n, limits::kTemplateSteps),
        line);
  }
  if (!is_list && n > limits::kTemplateOutputBytes) {
    throw TemplateError(fmt::format("a string of {} bytes is longer than the {} MiB limit", n,
                                    limits::kTemplateOutputBytes >> 20),
                        line);
  }
}

Value Interpreter::eval(const Expr& e) {
  Nesting guard(*this, e.line);
  Value v = eval_expr(e);
  if (v.is_string()) check_size(v.as_string().size(), false, e.line);
  if (v.is_array()) check_size(v.array().size(), true, e.line);
  return v;
}

Interpreter::Interpreter(std::shared_ptr<Object> globals, std::function<std::time_t()> now)
    : now_(std::move(now)) {
  scopes_.push_back(std::move(globals));
}

Value Interpreter::lookup(const std::string& name) const {
  for (auto it = scopes_.rbegin(); it != scopes_.rend(); ++it) {
    if (const Value* v = (*it)->find(name)) return *v;
  }
  return Value::undefined(name);
}

void Interpreter::assign(const std::string& name, Value v) {
  scopes_.back()->set(name, std::move(v));
}

Value Interpreter::compare(const std::string& op, const Value& a, const Value& b, int line) {
  try {
    if (op == "==") return a.equals(b);
    if (op == "!=") return !a.equals(b);
    if (op == "<") return a.less(b);
    if (op == ">") return b.less(a);
    if (op == "<=") return !b.less(a);
    if (op == ">=") return !a.less(b);
  } catch (const TemplateError& e) {
    throw TemplateError(e.what() + std::string(" (comparing with ") + op + ")", line);
  }
  if (op == "in" || op == "not in") {
    bool in = false;
    if (b.is_string()) {
      if (!a.is_string())
        throw TemplateError("'in <string>' requires a string on the left, got " + a.type_name(),
                            line);
      in = b.as_string().find(a.as_string()) != std::string::npos;
    } else if (b.is_array()) {
      for (const auto& x : b.array()) in = in || x.equals(a);
    } else if (b.is_object()) {
      in = a.is_string() && b.object_ref().find(a.as_string()) != nullptr;
    } else if (b.is_undefined()) {
      throw TemplateError("'" + b.undefined_name() + "' is undefined", line);
    } else {
      throw TemplateError("argument of type '" + b.type_name() + "' is not iterable", line);
    }
    return op == "in" ? in : !in;
  }
  throw TemplateError("unknown comparison " + op, line);
}

Value Interpreter::binary(const std::string& op, const Value& a, const Value& b, int line) {
  auto undefined_check = [&](const Value& v) {
    if (v.is_undefined()) throw TemplateError("'" + v.undefined_name() + "' is undefined", line);
  };
  undefined_check(a);
  undefined_check(b);
  if (op == "+") {
    if (a.is_string() && b.is_string()) {
      check_size(uint64_t(a.as_string().size()) + b.as_string().size(), false, line);
      return a.as_string() + b.as_string();
    }
    if (a.is_array() && b.is_array()) {
      check_size(uint64_t(a.array().size()) + b.array().size(), true, line);
      Array r = a.array();
      r.insert(r.end(), b.array().begin(), b.array().end());
      return r;
    }
  }
  if (op == "*" && ((a.is_string() && b.is_int()) || (a.is_int() && b.is_string()))) {
    const std::string& s = a.is_string() ? a.as_string() : b.as_string();
    int64_t n = a.is_int() ? a.as_int() : b.as_int();
    if (n > 0 && !s.empty()) check_size(uint64_t(n) > limits::kTemplateOutputBytes ? uint64_t(n) : uint64_t(n) * s.size(), false, line);
    std::string r;
    for (int64_t i = 0; i < n; ++i) r += s;
    return r;
  }
  bool numeric = (a.is_number() || a.is_bool()) && (b.is_number() || b.is_bool());
  if (!numeric) {
    throw TemplateError(fmt::format("unsupported operand type(s) for {}: '{}' and '{}'", op,
                                    a.type_name(), b.type_name()),
                        line);
  }
  bool ints = !a.is_float() && !b.is_float();
  double x = a.as_double(), y = b.as_double();
  auto ival = [](const Value& v) { return v.is_bool() ? int64_t(v.as_bool()) : v.as_int(); };
  // Python's integers do not overflow; ours are 64-bit and say so rather than wrap.
  auto checked = [&](bool (*f)(int64_t, int64_t, int64_t*)) {
    int64_t r = 0;
    if (f(ival(a), ival(b), &r)) throw TemplateError("integer overflow (beyond 64 bits)", line);
    return Value(r);
  };
  if (op == "+") return ints ? checked([](int64_t p, int64_t q, int64_t* r) { return __builtin_add_overflow(p, q, r); }) : Value(x + y);
  if (op == "-") return ints ? checked([](int64_t p, int64_t q, int64_t* r) { return __builtin_sub_overflow(p, q, r); }) : Value(x - y);
  if (op == "*") return ints ? checked([](int64_t p, int64_t q, int64_t* r) { return __builtin_mul_overflow(p, q, r); }) : Value(x * y);
  if (op == "/") {
    if (y == 0) throw TemplateError("division by zero", line);
    return x / y;
  }
  if (op == "//" || op == "%") {
    if (y == 0) throw TemplateError("integer division or modulo by zero", line);
    if (ints) {
      int64_t p = ival(a), q = ival(b);
      if (p == INT64_MIN && q == -1) throw TemplateError("integer overflow (beyond 64 bits)", line);
      int64_t d = p / q, m = p % q;
      if (m != 0 && ((m < 0) != (q < 0))) {
        d -= 1;
        m += q;
      }
      return op == "//" ? Value(d) : Value(m);
    }
    double d = std::floor(x / y);
    return op == "//" ? Value(d) : Value(x - d * y);
  }
  if (op == "**") {
    if (ints && ival(b) >= 0) {
      int64_t p = 1, base = ival(a);
      for (int64_t i = 0; i < ival(b); ++i) {
        if (__builtin_mul_overflow(p, base, &p))
          throw TemplateError("integer overflow (beyond 64 bits)", line);
        if (p == 0 || p == 1) break;  // stays there (base 0 or 1)
        if (p == -1 || base == -1) {    // base -1: the sign alternates
          p = (ival(b) % 2 == 0) ? 1 : -1;
          break;
        }
      }
      return p;
    }
    return std::pow(x, y);
  }
  throw TemplateError("unknown operator " + op, line);
}

Value Interpreter::eval_expr(const Expr& e) {
  switch (e.kind) {
    case Expr::Literal:
      return e.literal;
    case Expr::Name:
      return lookup(e.name);
    case Expr::Attr: {
      Value obj = eval(*e.a);
      return get_attr(obj, e.name, e.line);
    }
    case Expr::Item: {
      Value obj = eval(*e.a);
      return get_item(obj, eval(*e.b), e.line);
    }
    case Expr::Slice: {
      Value obj = eval(*e.a);
      auto bound = [&](size_t i) { return e.items[i] ? eval(*e.items[i]) : Value(None{}); };
      Value lo = bound(0), hi = bound(1), st = bound(2);
      int64_t step = st.is_none() ? 1 : st.as_int();
      if (step == 0) throw TemplateError("slice step cannot be zero", e.line);
      auto apply = [&](int64_t n, auto&& take) {
        auto norm = [&](const Value& v, int64_t dflt) -> int64_t {
          if (v.is_none()) return dflt;
          int64_t i = v.as_int();
          if (i < 0) i += n;
          return step > 0 ? std::clamp<int64_t>(i, 0, n) : std::clamp<int64_t>(i, -1, n - 1);
        };
        int64_t b = norm(lo, step > 0 ? 0 : n - 1), en = norm(hi, step > 0 ? n : -1);
        for (int64_t i = b; step > 0 ? i < en : i > en; i += step) take(i);
      };
      if (obj.is_string()) {
        // Python slices strings by code point.
        std::vector<std::string> cps;
        const std::string& s = obj.as_string();
        for (size_t i = 0; i < s.size();) {
          unsigned char c = static_cast<unsigned char>(s[i]);
          size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 0xe ? 3 : 4;
          cps.push_back(s.substr(i, n));
          i += n;
        }
        std::string r;
        apply(int64_t(cps.size()), [&](int64_t i) { r += cps[size_t(i)]; });
        return r;
      }
      if (obj.is_array()) {
        Array r;
        const Array& a = obj.array();
        apply(int64_t(a.size()), [&](int64_t i) { r.push_back(a[size_t(i)]); });
        return r;
      }
      throw TemplateError("'" + obj.type_name() + "' object is not subscriptable", e.line);
    }
    case Expr::Call: {
      Value f = eval(*e.a);
      Args args;
      args.line = e.line;
      for (const auto& a : e.items) args.pos.push_back(eval(*a));
      for (const auto& [k, v] : e.kwargs) args.kw.emplace_back(k, eval(*v));
      if (f.is_undefined()) {
        throw TemplateError("'" + f.undefined_name() + "' is undefined (called as a function)",
                            e.line);
      }
      return call(f, args, e.line);
    }
    case Expr::Filter: {
      Value v = eval(*e.a);
      Args args;
      args.line = e.line;
      for (const auto& a : e.items) args.pos.push_back(eval(*a));
      for (const auto& [k, x] : e.kwargs) args.kw.emplace_back(k, eval(*x));
      return apply_filter(e.name, v, args, e.line);
    }
    case Expr::Test: {
      Value v = eval(*e.a);
      Args args;
      args.line = e.line;
      for (const auto& a : e.items) args.pos.push_back(eval(*a));
      for (const auto& [k, x] : e.kwargs) args.kw.emplace_back(k, eval(*x));
      bool r = apply_test(e.name, v, args, e.line);
      return e.negated ? !r : r;
    }
    case Expr::Unary: {
      Value v = eval(*e.a);
      if (!v.is_number() && !v.is_bool()) {
        throw TemplateError(
            fmt::format("bad operand type for unary {}: '{}'", e.name, v.type_name()), e.line);
      }
      if (e.name == "+") return v;
      return v.is_float() ? Value(-v.as_double())
                          : Value(-(v.is_bool() ? int64_t(v.as_bool()) : v.as_int()));
    }
    case Expr::Binary:
      return binary(e.name, eval(*e.a), eval(*e.b), e.line);
    case Expr::Compare: {
      Value left = eval(*e.items[0]);
      for (size_t i = 0; i < e.ops.size(); ++i) {
        Value right = eval(*e.items[i + 1]);
        if (!compare(e.ops[i], left, right, e.line).truthy()) return false;
        left = right;
      }
      return true;
    }
    case Expr::Ternary: {
      if (eval(*e.b).truthy()) return eval(*e.a);
      return e.c ? eval(*e.c) : Value::undefined();
    }
    case Expr::List:
    case Expr::Tuple: {
      Array a;
      for (const auto& x : e.items) a.push_back(eval(*x));
      return a;
    }
    case Expr::Dict: {
      auto o = std::make_shared<Object>();
      for (const auto& [k, v] : e.pairs) {
        Value key = eval(*k);
        if (!key.is_string()) throw TemplateError("dictionary keys must be strings here", e.line);
        o->set(key.as_string(), eval(*v));
      }
      return o;
    }
    case Expr::And: {
      Value a = eval(*e.a);
      return a.truthy() ? eval(*e.b) : a;
    }
    case Expr::Or: {
      Value a = eval(*e.a);
      return a.truthy() ? a : eval(*e.b);
    }
    case Expr::Not:
      return !eval(*e.a).truthy();
    case Expr::Concat: {
      std::string s;
      for (const auto& x : e.items) s += eval(*x).str();
      return s;
    }
  }
  throw TemplateError("bad expression", e.line);
}

Value Interpreter::call_macro(const Node& m, const std::vector<std::weak_ptr<Object>>& weak_closure,
                              Args& args, const Value& caller, int line) {
  std::vector<std::shared_ptr<Object>> closure;
  for (const auto& w : weak_closure) {
    auto s = w.lock();
    if (!s) throw TemplateError("macro called after its scope ended", line);
    closure.push_back(std::move(s));
  }
  step(line);
  if (++depth_ > limits::kTemplateMacroDepth) {
    depth_ = 0;
    throw TemplateError(fmt::format("macro recursion is deeper than {} calls",
                                    limits::kTemplateMacroDepth),
                        line);
  }
  auto frame = std::make_shared<Object>();
  std::vector<Value> extra;
  for (size_t i = 0; i < m.params.size(); ++i) {
    const auto& [name, def] = m.params[i];
    Value v = args.get(i, name.c_str());
    if (v.is_undefined() && def) v = eval(*def);
    frame->set(name, v);
  }
  for (size_t i = m.params.size(); i < args.pos.size(); ++i) extra.push_back(args.pos[i]);
  frame->set("varargs", Value(extra));
  auto kwargs = std::make_shared<Object>();
  for (const auto& [k, v] : args.kw) {
    bool is_param = false;
    for (const auto& p : m.params) is_param = is_param || p.first == k;
    if (!is_param) kwargs->set(k, v);
  }
  frame->set("kwargs", Value(kwargs));
  if (!caller.is_undefined()) frame->set("caller", caller);
  auto saved = scopes_;
  scopes_ = closure;
  scopes_.push_back(frame);
  std::string out;
  try {
    exec(m.body, out);
  } catch (...) {
    scopes_ = saved;
    --depth_;
    throw;
  }
  scopes_ = saved;
  --depth_;
  return out;
}

void Interpreter::exec(const Body& body, std::string& out) {
  for (const auto& n : body) exec_node(*n, out);
}

void Interpreter::exec_node(const Node& n, std::string& out) {
  Nesting guard(*this, n.line);
  switch (n.kind) {
    case Node::Text:
      out += n.text;
      check_size(out.size(), false, n.line);
      return;
    case Node::Output:
      out += eval(*n.expr).str();
      check_size(out.size(), false, n.line);
      return;
    case Node::Block:
      exec(n.body, out);
      return;
    case Node::If:
      for (const auto& [cond, body] : n.branches) {
        if (!cond || eval(*cond).truthy()) {
          exec(body, out);
          return;
        }
      }
      return;
    case Node::For: {
      Value it = eval(*n.expr);
      Array items;
      if (it.is_array())
        items = it.array();
      else if (it.is_object())
        for (const auto& [k, v] : it.object_ref().items()) items.push_back(Value(k));
      else if (it.is_string()) {
        const std::string& s = it.as_string();
        check_size(s.size(), true, n.line);
        for (size_t i = 0; i < s.size();) {
          unsigned char c = static_cast<unsigned char>(s[i]);
          size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 0xe ? 3 : 4;
          items.push_back(Value(s.substr(i, len)));
          i += len;
        }
      } else if (!it.is_undefined() && !it.is_none()) {
        throw TemplateError("'" + it.type_name() + "' object is not iterable", n.line);
      } else if (it.is_none()) {
        throw TemplateError("'NoneType' object is not iterable", n.line);
      }
      auto unpack = [&](Object& frame, const Value& item) {
        if (n.targets.size() == 1) {
          frame.set(n.targets[0], item);
          return;
        }
        if (!item.is_array() || item.array().size() != n.targets.size()) {
          throw TemplateError(
              fmt::format("cannot unpack {} into {} names", item.repr(), n.targets.size()), n.line);
        }
        for (size_t k = 0; k < n.targets.size(); ++k) frame.set(n.targets[k], item.array()[k]);
      };
      if (n.filter) {  // "for x in xs if cond": filter before loop.* counts
        Array kept;
        for (const auto& item : items) {
          step(n.line);
          auto frame = std::make_shared<Object>();
          unpack(*frame, item);
          scopes_.push_back(frame);
          bool keep = eval(*n.filter).truthy();
          scopes_.pop_back();
          if (keep) kept.push_back(item);
        }
        items.swap(kept);
      }
      if (items.empty()) {
        exec(n.else_body, out);
        return;
      }
      int64_t len = int64_t(items.size());
      for (int64_t i = 0; i < len; ++i) {
        step(n.line);
        auto frame = std::make_shared<Object>();
        unpack(*frame, items[size_t(i)]);
        auto loop = std::make_shared<Object>();
        loop->set("index", Value(i + 1));
        loop->set("index0", Value(i));
        loop->set("revindex", Value(len - i));
        loop->set("revindex0", Value(len - i - 1));
        loop->set("first", Value(i == 0));
        loop->set("last", Value(i == len - 1));
        loop->set("length", Value(len));
        loop->set("depth", Value(1));
        loop->set("depth0", Value(0));
        loop->set("previtem", i > 0 ? items[size_t(i - 1)] : Value::undefined("loop.previtem"));
        loop->set("nextitem",
                  i + 1 < len ? items[size_t(i + 1)] : Value::undefined("loop.nextitem"));
        loop->set("cycle", Value(Callable{"loop.cycle", [i](Args& a) -> Value {
                                            if (a.pos.empty())
                                              throw TemplateError("loop.cycle() needs arguments",
                                                                  a.line);
                                            return a.pos[size_t(i) % a.pos.size()];
                                          }}));
        frame->set("loop", Value(loop));
        scopes_.push_back(frame);
        try {
          exec(n.body, out);
        } catch (const LoopControl& c) {
          scopes_.pop_back();
          if (c.kind == LoopControl::Break) return;
          continue;
        } catch (...) {
          scopes_.pop_back();
          throw;
        }
        scopes_.pop_back();
      }
      return;
    }
    case Node::Set: {
      Value v = eval(*n.expr);
      if (n.target_attr) {
        Value obj = eval(*n.target_attr);
        if (!obj.is_object() || !obj.object_ref().find("__namespace__")) {
          throw TemplateError("cannot assign attribute on non-namespace object", n.line);
        }
        obj.object_ref().set(n.attr, v);
        return;
      }
      if (n.targets.size() == 1) {
        assign(n.targets[0], v);
      } else {
        if (!v.is_array() || v.array().size() != n.targets.size()) {
          throw TemplateError(fmt::format("cannot unpack into {} names", n.targets.size()), n.line);
        }
        for (size_t k = 0; k < n.targets.size(); ++k) assign(n.targets[k], v.array()[k]);
      }
      return;
    }
    case Node::SetBlock: {
      std::string captured;
      exec(n.body, captured);
      Value v(captured);
      if (n.filter) {
        // The filter chain was parsed over a placeholder literal; evaluate it on the capture.
        std::vector<const Expr*> chain;
        for (const Expr* f = n.filter.get(); f && f->kind == Expr::Filter; f = f->a.get())
          chain.push_back(f);
        for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
          Args args;
          args.line = n.line;
          for (const auto& a : (*it)->items) args.pos.push_back(eval(*a));
          for (const auto& [k, x] : (*it)->kwargs) args.kw.emplace_back(k, eval(*x));
          v = apply_filter((*it)->name, v, args, n.line);
        }
      }
      assign(n.targets[0], v);
      return;
    }
    case Node::FilterBlock: {
      std::string captured;
      exec(n.body, captured);
      Value v(captured);
      std::vector<const Expr*> chain;
      for (const Expr* f = n.filter.get(); f && f->kind == Expr::Filter; f = f->a.get())
        chain.push_back(f);
      for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
        Args args;
        args.line = n.line;
        for (const auto& a : (*it)->items) args.pos.push_back(eval(*a));
        v = apply_filter((*it)->name, v, args, n.line);
      }
      out += v.str();
      return;
    }
    case Node::Macro: {
      // The macro is stored in one of these scopes: capture them weakly (no reference cycle).
      std::vector<std::weak_ptr<Object>> closure(scopes_.begin(), scopes_.end());
      const Node* node = &n;
      Interpreter* self = this;
      assign(n.name, Value(Callable{n.name, [self, node, closure](Args& a) -> Value {
                                      Value caller = a.get(1000, "caller");
                                      std::erase_if(a.kw,
                                                    [](auto& kv) { return kv.first == "caller"; });
                                      return self->call_macro(*node, closure, a, caller, a.line);
                                    }}));
      return;
    }
    case Node::CallBlock: {
      const Node* node = &n;
      Interpreter* self = this;
      std::vector<std::weak_ptr<Object>> closure(scopes_.begin(), scopes_.end());
      Value caller(Callable{"caller", [self, node, closure](Args& a) -> Value {
                              Node body(Node::Macro, node->line);
                              body.params = node->params;
                              body.body = node->body;
                              return self->call_macro(body, closure, a, Value::undefined(), a.line);
                            }});
      const Expr& call_expr = *n.expr;
      if (call_expr.kind != Expr::Call)
        throw TemplateError("{% call %} needs a macro call", n.line);
      Value f = eval(*call_expr.a);
      Args args;
      args.line = n.line;
      for (const auto& a : call_expr.items) args.pos.push_back(eval(*a));
      for (const auto& [k, v] : call_expr.kwargs) args.kw.emplace_back(k, eval(*v));
      args.kw.emplace_back("caller", caller);
      out += call(f, args, n.line).str();
      return;
    }
    case Node::With: {
      auto frame = std::make_shared<Object>();
      for (const auto& [k, v] : n.params) frame->set(k, eval(*v));
      scopes_.push_back(frame);
      try {
        exec(n.body, out);
      } catch (...) {
        scopes_.pop_back();
        throw;
      }
      scopes_.pop_back();
      return;
    }
    case Node::Break:
      throw LoopControl{LoopControl::Break};
    case Node::Continue:
      throw LoopControl{LoopControl::Continue};
  }
}

namespace {
// Jinja2 drops one trailing newline of the source (keep_trailing_newline=False).
std::string without_trailing_newline(const std::string& s) {
  if (s.ends_with("\r\n")) return s.substr(0, s.size() - 2);
  if (s.ends_with("\n") || s.ends_with("\r")) return s.substr(0, s.size() - 1);
  return s;
}

// Unknown filters and tests are errors when the template is loaded, not when a branch runs.
void check_names(const Expr* e) {
  if (!e) return;
  if (e->kind == Expr::Filter && !known_filter(e->name)) {
    throw TemplateError("unsupported filter '" + e->name + "'", e->line);
  }
  if (e->kind == Expr::Test && !known_test(e->name)) {
    throw TemplateError("unsupported test '" + e->name + "'", e->line);
  }
  check_names(e->a.get());
  check_names(e->b.get());
  check_names(e->c.get());
  for (const auto& x : e->items) check_names(x.get());
  for (const auto& [k, v] : e->pairs) {
    check_names(k.get());
    check_names(v.get());
  }
  for (const auto& [k, v] : e->kwargs) check_names(v.get());
}

void check_names(const Body& body) {
  for (const auto& n : body) {
    check_names(n->expr.get());
    check_names(n->filter.get());
    check_names(n->target_attr.get());
    for (const auto& [c, b] : n->branches) {
      check_names(c.get());
      check_names(b);
    }
    for (const auto& [k, v] : n->params) check_names(v.get());
    check_names(n->body);
    check_names(n->else_body);
  }
}
}  // namespace

namespace {
const std::string& within_limit(const std::string& source) {
  if (source.size() > limits::kTemplateBytes) {
    throw TemplateError(fmt::format("a template of {} bytes is longer than the {} KiB limit",
                                    source.size(), limits::kTemplateBytes >> 10),
                        0);
  }
  return source;
}
}  // namespace

Template::Template(const std::string& source, TemplateOptions opt)
    : root_(parse_template(without_trailing_newline(within_limit(source)), opt.trim_blocks,
                           opt.lstrip_blocks)),
      opt_(std::move(opt)) {
  check_names(root_->body);
}

namespace {}  // namespace
Template::~Template() = default;
Template::Template(Template&&) noexcept = default;

std::string Template::render(const Value& context) const {
  auto globals = std::make_shared<Object>();
  Interpreter interp(globals, opt_.now);
  install_globals(*globals, interp);
  auto ctx = std::make_shared<Object>();
  if (context.is_object()) {
    for (const auto& [k, v] : context.object_ref().items()) ctx->set(k, v);
  }
  interp.scopes().push_back(ctx);
  std::string out;
  try {
    interp.exec(root_->body, out);
  } catch (const LoopControl&) {
    throw TemplateError("{% break %} or {% continue %} outside a loop", 0);
  }
  return out;
}

}  // namespace vkllm::core::jinja
