// Built-in filters, tests, globals and the Python methods templates call on strings, lists
// and dicts. The sandbox is immutable, as transformers' ImmutableSandboxedEnvironment: methods
// that would modify a value raise an error.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <ctime>
#include <set>

#include "core/jinja/error.h"
#include "core/jinja/interp.h"

namespace vkllm::core::jinja {
namespace {

bool is_ws(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }

std::string strip(const std::string& s, const Value& chars, bool left, bool right) {
  auto drop = [&](char c) {
    if (chars.is_none() || chars.is_undefined()) return is_ws(c);
    return chars.as_string().find(c) != std::string::npos;
  };
  size_t b = 0, e = s.size();
  if (left) while (b < e && drop(s[b])) ++b;
  if (right) while (e > b && drop(s[e - 1])) --e;
  return s.substr(b, e - b);
}

Array split(const std::string& s, const Value& sep, int64_t maxsplit) {
  Array out;
  if (sep.is_none() || sep.is_undefined()) {
    size_t i = 0;
    int64_t n = 0;
    while (i < s.size()) {
      while (i < s.size() && is_ws(s[i])) ++i;
      if (i >= s.size()) break;
      if (maxsplit >= 0 && n == maxsplit) {
        size_t e = s.size();
        while (e > i && is_ws(s[e - 1])) --e;
        out.push_back(Value(s.substr(i, e - i)));
        return out;
      }
      size_t j = i;
      while (j < s.size() && !is_ws(s[j])) ++j;
      out.push_back(Value(s.substr(i, j - i)));
      ++n;
      i = j;
    }
    return out;
  }
  const std::string& d = sep.as_string();
  if (d.empty()) throw TemplateError("empty separator", 0);
  size_t i = 0;
  int64_t n = 0;
  while (true) {
    size_t j = s.find(d, i);
    if (j == std::string::npos || (maxsplit >= 0 && n == maxsplit)) {
      out.push_back(Value(s.substr(i)));
      return out;
    }
    out.push_back(Value(s.substr(i, j - i)));
    i = j + d.size();
    ++n;
  }
}

std::string replace(std::string s, const std::string& from, const std::string& to, int64_t count) {
  if (from.empty()) return s;
  size_t pos = 0;
  int64_t n = 0;
  while ((count < 0 || n < count) && (pos = s.find(from, pos)) != std::string::npos) {
    s.replace(pos, from.size(), to);
    pos += to.size();
    ++n;
  }
  return s;
}

std::string upper(std::string s) {
  for (auto& c : s) c = char(std::toupper(static_cast<unsigned char>(c)));
  return s;
}
std::string lower(std::string s) {
  for (auto& c : s) c = char(std::tolower(static_cast<unsigned char>(c)));
  return s;
}
std::string title(const std::string& s) {
  std::string out = s;
  bool prev_alpha = false;
  for (auto& c : out) {
    bool alpha = std::isalpha(static_cast<unsigned char>(c));
    c = char(alpha ? (prev_alpha ? std::tolower(static_cast<unsigned char>(c)) : std::toupper(static_cast<unsigned char>(c))) : c);
    prev_alpha = alpha || (static_cast<unsigned char>(c) >= 0x80);
  }
  return out;
}

std::string html_escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&#34;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
  return out;
}

const std::string& need_string(const Value& v, const char* what, int line) {
  if (!v.is_string()) throw TemplateError(fmt::format("{} expects a string, got {}", what, v.type_name()), line);
  return v.as_string();
}

Array as_list(const Value& v, int line) {
  if (v.is_array()) return v.array();
  if (v.is_object()) {
    Array a;
    for (const auto& [k, x] : v.object_ref().items()) a.push_back(Value(k));
    return a;
  }
  if (v.is_string()) {
    Array a;
    const std::string& s = v.as_string();
    for (size_t i = 0; i < s.size();) {
      unsigned char c = static_cast<unsigned char>(s[i]);
      size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 0xe ? 3 : 4;
      a.push_back(Value(s.substr(i, n)));
      i += n;
    }
    return a;
  }
  if (v.is_undefined()) return {};
  throw TemplateError("'" + v.type_name() + "' object is not iterable", line);
}

int64_t py_len(const Value& v, int line) {
  if (v.is_string()) {
    int64_t n = 0;
    for (unsigned char c : v.as_string()) n += (c & 0xc0) != 0x80;
    return n;
  }
  if (v.is_array()) return int64_t(v.array().size());
  if (v.is_object()) return int64_t(v.object_ref().size());
  if (v.is_undefined()) return 0;
  throw TemplateError("object of type '" + v.type_name() + "' has no len()", line);
}

Value bound(const std::string& name, std::function<Value(Args&)> fn) { return Value(Callable{name, std::move(fn)}); }

// Attribute path "a.b.0" on a value (for map/sort/selectattr attribute=...).
Value attr_path(Interpreter& in, Value v, const std::string& path, int line) {
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('.', i);
    std::string part = path.substr(i, j == std::string::npos ? std::string::npos : j - i);
    bool digits = !part.empty() && part.size() < 19 && std::all_of(part.begin(), part.end(), ::isdigit);
    v = digits ? in.get_item(v, Value(int64_t(std::stoll(part))), line) : in.get_item(v, Value(part), line);
    if (j == std::string::npos) break;
    i = j + 1;
  }
  return v;
}

}  // namespace

Value Interpreter::get_attr(const Value& obj, const std::string& name, int line) {
  if (obj.is_undefined()) {
    throw TemplateError(fmt::format("'{}' is undefined (reading .{})", obj.undefined_name().empty() ? "value" : obj.undefined_name(), name), line);
  }
  if (obj.is_string()) {
    std::string s = obj.as_string();
    if (name == "strip" || name == "lstrip" || name == "rstrip") {
      bool l = name != "rstrip", r = name != "lstrip";
      return bound(name, [s, l, r](Args& a) { return Value(strip(s, a.get(0, "chars", Value(None{})), l, r)); });
    }
    if (name == "upper") return bound(name, [s](Args&) { return Value(upper(s)); });
    if (name == "lower") return bound(name, [s](Args&) { return Value(lower(s)); });
    if (name == "title") return bound(name, [s](Args&) { return Value(title(s)); });
    if (name == "capitalize") {
      return bound(name, [s](Args&) {
        std::string r = lower(s);
        if (!r.empty()) r[0] = char(std::toupper(static_cast<unsigned char>(r[0])));
        return Value(r);
      });
    }
    if (name == "startswith" || name == "endswith") {
      bool start = name == "startswith";
      return bound(name, [s, start](Args& a) {
        Value p = a.get(0, "prefix");
        Array pats = p.is_array() ? p.array() : Array{p};
        for (const auto& x : pats) {
          const std::string& t = need_string(x, start ? "startswith" : "endswith", a.line);
          if (start ? s.starts_with(t) : s.ends_with(t)) return Value(true);
        }
        return Value(false);
      });
    }
    if (name == "split" || name == "rsplit") {
      bool r = name == "rsplit";
      return bound(name, [s, r](Args& a) {
        Value sep = a.get(0, "sep", Value(None{}));
        int64_t maxsplit = a.get(1, "maxsplit", Value(int64_t(-1))).as_int();
        if (!r || maxsplit < 0) return Value(split(s, sep, maxsplit));
        // rsplit with a limit: split from the right
        Array all = split(s, sep, -1);
        if (int64_t(all.size()) <= maxsplit + 1) return Value(all);
        std::string d = sep.is_none() ? " " : sep.as_string();
        size_t keep = all.size() - size_t(maxsplit);
        std::string head;
        for (size_t i = 0; i < keep; ++i) head += (i ? d : "") + all[i].as_string();
        Array out{Value(head)};
        out.insert(out.end(), all.begin() + long(keep), all.end());
        return Value(out);
      });
    }
    if (name == "splitlines") {
      return bound(name, [s](Args&) {
        Array out;
        size_t i = 0;
        while (i < s.size()) {
          size_t j = s.find_first_of("\r\n", i);
          if (j == std::string::npos) {
            out.push_back(Value(s.substr(i)));
            break;
          }
          out.push_back(Value(s.substr(i, j - i)));
          i = j + ((s[j] == '\r' && j + 1 < s.size() && s[j + 1] == '\n') ? 2 : 1);
        }
        return Value(out);
      });
    }
    if (name == "replace") {
      return bound(name, [s](Args& a) {
        return Value(replace(s, need_string(a.get(0, "old"), "replace", a.line),
                             need_string(a.get(1, "new"), "replace", a.line), a.get(2, "count", Value(int64_t(-1))).as_int()));
      });
    }
    if (name == "find" || name == "rfind" || name == "index" || name == "count") {
      return bound(name, [s, name](Args& a) {
        const std::string& t = need_string(a.get(0, "sub"), name.c_str(), a.line);
        if (name == "count") {
          if (t.empty()) return Value(int64_t(s.size() + 1));
          int64_t n = 0;
          for (size_t p = s.find(t); p != std::string::npos; p = s.find(t, p + t.size())) ++n;
          return Value(n);
        }
        size_t p = name == "rfind" ? s.rfind(t) : s.find(t);
        if (p == std::string::npos) {
          if (name == "index") throw TemplateError("substring not found", a.line);
          return Value(int64_t(-1));
        }
        return Value(int64_t(p));
      });
    }
    if (name == "join") {
      return bound(name, [s](Args& a) {
        std::string out;
        Array items = as_list(a.get(0, "iterable"), a.line);
        for (size_t i = 0; i < items.size(); ++i) out += (i ? s : "") + items[i].str();
        return Value(out);
      });
    }
    if (name == "isdigit" || name == "isalpha" || name == "isalnum" || name == "isspace" || name == "isupper" ||
        name == "islower") {
      return bound(name, [s, name](Args&) {
        if (s.empty()) return Value(false);
        auto all = [&](auto pred) { return std::all_of(s.begin(), s.end(), [&](char c) { return pred(static_cast<unsigned char>(c)); }); };
        if (name == "isdigit") return Value(all(::isdigit));
        if (name == "isalpha") return Value(all(::isalpha));
        if (name == "isalnum") return Value(all(::isalnum));
        if (name == "isspace") return Value(all(::isspace));
        bool any_alpha = std::any_of(s.begin(), s.end(), [](char c) { return std::isalpha(static_cast<unsigned char>(c)); });
        if (name == "isupper") return Value(any_alpha && upper(s) == s);
        return Value(any_alpha && lower(s) == s);
      });
    }
    if (name == "format") {
      return bound(name, [s](Args& a) {
        std::string out;
        size_t auto_i = 0;
        for (size_t i = 0; i < s.size(); ++i) {
          if (s[i] == '{' && i + 1 < s.size() && s[i + 1] == '{') { out += '{'; ++i; continue; }
          if (s[i] == '}' && i + 1 < s.size() && s[i + 1] == '}') { out += '}'; ++i; continue; }
          if (s[i] != '{') { out += s[i]; continue; }
          size_t e = s.find('}', i);
          if (e == std::string::npos) throw TemplateError("bad format string", a.line);
          std::string key = s.substr(i + 1, e - i - 1);
          bool index = !key.empty() && key.size() < 9 &&
                       std::all_of(key.begin(), key.end(), [](char k) { return std::isdigit(static_cast<unsigned char>(k)); });
          if (!key.empty() && !index && std::isdigit(static_cast<unsigned char>(key[0])))
            throw TemplateError("bad format field {" + key + "}", a.line);
          Value v = key.empty() ? a.get(auto_i++, "") : index ? a.get(size_t(std::stoul(key)), "") : a.get(1000, key.c_str());
          out += v.str();
          i = e;
        }
        return Value(out);
      });
    }
    return Value::undefined(name);
  }
  if (obj.is_object()) {
    const Object& o = obj.object_ref();
    if (o.find("__namespace__")) {
      const Value* v = o.find(name);
      return v ? *v : Value::undefined(name);
    }
    if (name == "items") {
      return bound(name, [obj](Args&) {
        Array out;
        for (const auto& [k, v] : obj.object_ref().items()) out.push_back(Value(Array{Value(k), v}));
        return Value(out);
      });
    }
    if (name == "keys") {
      return bound(name, [obj](Args&) {
        Array out;
        for (const auto& [k, v] : obj.object_ref().items()) out.push_back(Value(k));
        return Value(out);
      });
    }
    if (name == "values") {
      return bound(name, [obj](Args&) {
        Array out;
        for (const auto& [k, v] : obj.object_ref().items()) out.push_back(v);
        return Value(out);
      });
    }
    if (name == "get") {
      return bound(name, [obj](Args& a) {
        Value k = a.get(0, "key");
        const Value* v = k.is_string() ? obj.object_ref().find(k.as_string()) : nullptr;
        return v ? *v : a.get(1, "default", Value(None{}));
      });
    }
    if (name == "update" || name == "pop" || name == "setdefault" || name == "clear" || name == "popitem") {
      throw TemplateError(fmt::format("access to attribute '{}' of 'dict' object is unsafe (the sandbox is immutable)", name), line);
    }
    const Value* v = o.find(name);
    return v ? *v : Value::undefined(name);
  }
  if (obj.is_array()) {
    if (name == "append" || name == "extend" || name == "pop" || name == "insert" || name == "remove" ||
        name == "sort" || name == "reverse" || name == "clear") {
      throw TemplateError(fmt::format("access to attribute '{}' of 'list' object is unsafe (the sandbox is immutable)", name), line);
    }
    if (name == "index" || name == "count") {
      return bound(name, [obj, name](Args& a) {
        Value x = a.get(0, "value");
        int64_t n = 0;
        const Array& arr = obj.array();
        for (size_t i = 0; i < arr.size(); ++i) {
          if (arr[i].equals(x)) {
            if (name == "index") return Value(int64_t(i));
            ++n;
          }
        }
        if (name == "index") throw TemplateError(x.repr() + " is not in list", a.line);
        return Value(n);
      });
    }
    return Value::undefined(name);
  }
  return Value::undefined(name);
}

Value Interpreter::get_item(const Value& obj, const Value& key, int line) {
  if (obj.is_undefined()) {
    throw TemplateError(fmt::format("'{}' is undefined (reading [{}])", obj.undefined_name().empty() ? "value" : obj.undefined_name(), key.repr()), line);
  }
  if (obj.is_array() && (key.is_int() || key.is_bool())) {
    int64_t i = key.is_bool() ? int64_t(key.as_bool()) : key.as_int();
    int64_t n = int64_t(obj.array().size());
    if (i < 0) i += n;
    if (i < 0 || i >= n) return Value::undefined("list index");
    return obj.array()[size_t(i)];
  }
  if (obj.is_string() && key.is_int()) {
    Array chars = as_list(obj, line);
    int64_t i = key.as_int(), n = int64_t(chars.size());
    if (i < 0) i += n;
    if (i < 0 || i >= n) return Value::undefined("string index");
    return chars[size_t(i)];
  }
  if (obj.is_object() && key.is_string()) {
    const Value* v = obj.object_ref().find(key.as_string());
    if (v) return *v;
    return get_attr(obj, key.as_string(), line);
  }
  if (key.is_string()) return get_attr(obj, key.as_string(), line);
  return Value::undefined("item");
}

Value Interpreter::call(const Value& f, Args& args, int line) {
  if (!f.is_callable()) throw TemplateError("'" + f.type_name() + "' object is not callable", line);
  args.line = line;
  return f.callable().fn(args);
}

bool Interpreter::apply_test(const std::string& name, const Value& v, Args& a, int line) {
  Value arg = a.get(0, "other");
  if (name == "defined") return !v.is_undefined();
  if (name == "undefined") return v.is_undefined();
  if (name == "none") return v.is_none();
  if (name == "boolean") return v.is_bool();
  if (name == "true") return v.is_bool() && v.as_bool();
  if (name == "false") return v.is_bool() && !v.as_bool();
  if (name == "number") return v.is_number();
  if (name == "integer") return v.is_int();
  if (name == "float") return v.is_float();
  if (name == "string") return v.is_string();
  if (name == "mapping") return v.is_object();
  if (name == "iterable") return v.is_array() || v.is_object() || v.is_string();
  if (name == "sequence") return v.is_array() || v.is_string() || v.is_object();
  if (name == "callable") return v.is_callable();
  if (name == "sameas") return v.same(arg);
  if (name == "eq" || name == "equalto" || name == "==") return v.equals(arg);
  if (name == "ne" || name == "!=") return !v.equals(arg);
  if (name == "lt" || name == "lessthan" || name == "<") return v.less(arg);
  if (name == "le" || name == "<=") return !arg.less(v);
  if (name == "gt" || name == "greaterthan" || name == ">") return arg.less(v);
  if (name == "ge" || name == ">=") return !v.less(arg);
  if (name == "in") {
    Args none;
    (void)none;
    if (arg.is_string()) return v.is_string() && arg.as_string().find(v.as_string()) != std::string::npos;
    for (const auto& x : as_list(arg, line)) if (x.equals(v)) return true;
    return false;
  }
  if (name == "divisibleby") return arg.as_int() != 0 && v.as_int() % arg.as_int() == 0;
  if (name == "even") return v.is_int() && v.as_int() % 2 == 0;
  if (name == "odd") return v.is_int() && v.as_int() % 2 != 0;
  if (name == "lower") return v.is_string() && lower(v.as_string()) == v.as_string();
  if (name == "upper") return v.is_string() && upper(v.as_string()) == v.as_string();
  if (name == "escaped") return false;
  throw TemplateError("unknown test '" + name + "'", line);
}

Value Interpreter::apply_filter(const std::string& name, const Value& v, Args& a, int line) {
  auto str_of = [&](const Value& x) { return x.str(); };
  if (name == "length" || name == "count") return py_len(v, line);
  if (name == "string") return v.str();
  if (name == "safe") return v;
  if (name == "escape" || name == "e" || name == "forceescape") return html_escape(v.str());
  if (name == "upper") return upper(str_of(v));
  if (name == "lower") return lower(str_of(v));
  if (name == "title") return title(str_of(v));
  if (name == "capitalize") {
    std::string r = lower(str_of(v));
    if (!r.empty()) r[0] = char(std::toupper(static_cast<unsigned char>(r[0])));
    return r;
  }
  if (name == "trim") return strip(str_of(v), a.get(0, "chars", Value(None{})), true, true);
  if (name == "replace") {
    return replace(str_of(v), a.get(0, "old").str(), a.get(1, "new").str(), a.get(2, "count", Value(int64_t(-1))).as_int());
  }
  if (name == "default" || name == "d") {
    bool boolean = a.get(1, "boolean", Value(false)).truthy();
    if (v.is_undefined() || (boolean && !v.truthy())) return a.get(0, "default_value", Value(""));
    return v;
  }
  if (name == "first" || name == "last") {
    Array l = as_list(v, line);
    if (l.empty()) return Value::undefined(name);
    return name == "first" ? l.front() : l.back();
  }
  if (name == "list") return as_list(v, line);
  if (name == "reverse") {
    if (v.is_string()) {
      Array chars = as_list(v, line);
      std::string r;
      for (auto it = chars.rbegin(); it != chars.rend(); ++it) r += it->as_string();
      return r;
    }
    Array l = as_list(v, line);
    std::reverse(l.begin(), l.end());
    return l;
  }
  if (name == "join") {
    Array l = as_list(v, line);
    std::string sep = a.get(0, "d", Value("")).str();
    Value attr = a.get(1, "attribute");
    std::string out;
    for (size_t i = 0; i < l.size(); ++i) {
      Value x = attr.is_undefined() ? l[i] : attr_path(*this, l[i], attr.str(), line);
      out += (i ? sep : "") + x.str();
    }
    return out;
  }
  if (name == "int") {
    // Python's int(): truncation; NaN, infinities and values past 64 bits are errors here.
    auto whole = [&](double d) -> Value {
      if (!(std::fabs(d) < 9.2e18)) throw TemplateError(fmt::format("cannot convert {} to an integer", d), line);
      return int64_t(d);
    };
    if (v.is_int()) return v;
    if (v.is_float()) return whole(v.as_double());
    if (v.is_bool()) return int64_t(v.as_bool());
    if (v.is_string()) {
      try {
        size_t used = 0;
        std::string s = strip(v.as_string(), Value(None{}), true, true);
        int64_t r = std::stoll(s, &used, 0);
        if (used == s.size()) return r;
        return whole(std::stod(s));
      } catch (const TemplateError&) {
        throw;
      } catch (...) {
      }
    }
    return a.get(0, "default", Value(int64_t(0)));
  }
  if (name == "float") {
    if (v.is_number() || v.is_bool()) return v.as_double();
    if (v.is_string()) {
      try {
        return std::stod(v.as_string());
      } catch (...) {
      }
    }
    return a.get(0, "default", Value(0.0));
  }
  if (name == "abs") {
    if (v.is_int()) return std::abs(v.as_int());
    return std::fabs(v.as_double());
  }
  if (name == "round") {
    int64_t prec = a.get(0, "precision", Value(int64_t(0))).as_int();
    std::string method = a.get(1, "method", Value("common")).str();
    double f = std::pow(10.0, double(prec)), x = v.as_double() * f;
    double r = method == "ceil" ? std::ceil(x) : method == "floor" ? std::floor(x) : std::round(x);
    return r / f;
  }
  if (name == "tojson") {
    Value indent = a.get(0, "indent", Value(None{}));
    Value seps = a.get(1000, "separators", Value(None{}));
    bool sort_keys = a.get(1001, "sort_keys", Value(false)).truthy();
    if (indent.is_int() && indent.as_int() > 1024)
      throw TemplateError("tojson: indent larger than 1024 is not supported", line);
    int ind = indent.is_int() ? int(std::max<int64_t>(indent.as_int(), 0)) : -1;
    std::string item_sep = ind >= 0 ? "," : ", ", key_sep = ": ";
    if (seps.is_array() && seps.array().size() == 2) {
      item_sep = seps.array()[0].str();
      key_sep = seps.array()[1].str();
    }
    try {
      return py_json_dumps(v, ind, item_sep, key_sep, sort_keys);
    } catch (const TemplateError& e) {
      throw TemplateError(e.what(), line);
    }
  }
  if (name == "items") {
    if (!v.is_object()) throw TemplateError("items filter needs a mapping", line);
    Array out;
    for (const auto& [k, x] : v.object_ref().items()) out.push_back(Value(Array{Value(k), x}));
    return out;
  }
  if (name == "dictsort") {
    if (!v.is_object()) throw TemplateError("dictsort needs a mapping", line);
    bool by_value = a.get(1, "by", Value("key")).str() == "value";
    bool reverse = a.get(2, "reverse", Value(false)).truthy();
    Array out;
    for (const auto& [k, x] : v.object_ref().items()) out.push_back(Value(Array{Value(k), x}));
    std::stable_sort(out.begin(), out.end(), [&](const Value& p, const Value& q) {
      const Value& x = p.array()[by_value ? 1 : 0];
      const Value& y = q.array()[by_value ? 1 : 0];
      return reverse ? y.less(x) : x.less(y);
    });
    return out;
  }
  if (name == "sort") {
    Array l = as_list(v, line);
    bool reverse = a.get(0, "reverse", Value(false)).truthy();
    Value attr = a.get(2, "attribute");
    auto key = [&](const Value& x) { return attr.is_undefined() ? x : attr_path(*this, x, attr.str(), line); };
    std::stable_sort(l.begin(), l.end(), [&](const Value& x, const Value& y) {
      return reverse ? key(y).less(key(x)) : key(x).less(key(y));
    });
    return l;
  }
  if (name == "unique") {
    Array out;
    for (const auto& x : as_list(v, line)) {
      if (std::none_of(out.begin(), out.end(), [&](const Value& y) { return y.equals(x); })) out.push_back(x);
    }
    return out;
  }
  if (name == "sum") {
    Value attr = a.get(0, "attribute");
    Value total = a.get(1, "start", Value(int64_t(0)));
    for (const auto& x : as_list(v, line)) {
      total = binary("+", total, attr.is_undefined() ? x : attr_path(*this, x, attr.str(), line), line);
    }
    return total;
  }
  if (name == "min" || name == "max") {
    Array l = as_list(v, line);
    if (l.empty()) return Value::undefined(name);
    Value best = l[0];
    for (const auto& x : l) {
      if (name == "min" ? x.less(best) : best.less(x)) best = x;
    }
    return best;
  }
  if (name == "map") {
    Array out;
    Value attr = a.get(1000, "attribute");
    for (const auto& x : as_list(v, line)) {
      if (!attr.is_undefined()) {
        Value r = attr_path(*this, x, attr.str(), line);
        if (r.is_undefined()) r = a.get(1001, "default", r);
        out.push_back(r);
      } else {
        if (a.pos.empty()) throw TemplateError("map needs a filter name or attribute=", line);
        Args rest;
        rest.line = line;
        rest.pos.assign(a.pos.begin() + 1, a.pos.end());
        rest.kw = a.kw;
        out.push_back(apply_filter(a.pos[0].str(), x, rest, line));
      }
    }
    return out;
  }
  if (name == "select" || name == "reject" || name == "selectattr" || name == "rejectattr") {
    bool attr_mode = name.ends_with("attr");
    bool want = name.starts_with("select");
    size_t first = attr_mode ? 1 : 0;
    Array out;
    for (const auto& x : as_list(v, line)) {
      Value subject = attr_mode ? attr_path(*this, x, a.get(0, "attribute").str(), line) : x;
      bool ok;
      if (a.pos.size() <= first) {
        ok = subject.truthy();
      } else {
        Args rest;
        rest.line = line;
        rest.pos.assign(a.pos.begin() + long(first) + 1, a.pos.end());
        ok = apply_test(a.pos[first].str(), subject, rest, line);
      }
      if (ok == want) out.push_back(x);
    }
    return out;
  }
  if (name == "attr") return get_attr(v, a.get(0, "name").str(), line);
  if (name == "indent") {
    int64_t width = a.get(0, "width", Value(int64_t(4))).is_int() ? a.get(0, "width", Value(int64_t(4))).as_int() : 4;
    width = std::max<int64_t>(width, 0);
    bool first = a.get(1, "first", Value(false)).truthy();
    bool blank = a.get(2, "blank", Value(false)).truthy();
    std::string s = v.str(), out;
    Interpreter::check_size(
        uint64_t(width) * uint64_t(1 + std::count(s.begin(), s.end(), '\n')) + s.size(), false,
        line);
    std::string pad(size_t(width), ' ');
    size_t i = 0;
    bool first_line = true;
    while (i <= s.size()) {
      size_t j = s.find('\n', i);
      std::string line_s = s.substr(i, j == std::string::npos ? std::string::npos : j - i);
      bool add = first_line ? first : (blank || !line_s.empty());
      out += (add ? pad : "") + line_s;
      if (j == std::string::npos) break;
      out += '\n';
      i = j + 1;
      first_line = false;
    }
    return out;
  }
  if (name == "center") {
    std::string s = v.str();
    int64_t w = a.get(0, "width", Value(int64_t(80))).as_int();
    int64_t n = py_len(Value(s), line);
    if (n >= w) return s;
    Interpreter::check_size(uint64_t(w), false, line);
    size_t left = size_t((w - n) / 2), right = size_t(w - n) - left;
    return std::string(left, ' ') + s + std::string(right, ' ');
  }
  if (name == "wordcount") return int64_t(split(v.str(), Value(None{}), -1).size());
  if (name == "truncate") {
    int64_t len = a.get(0, "length", Value(int64_t(255))).as_int();
    Array chars = as_list(Value(v.str()), line);
    if (int64_t(chars.size()) <= len) return v.str();
    std::string end = a.get(2, "end", Value("...")).str(), out;
    for (int64_t i = 0; i < len - int64_t(end.size()) && i < int64_t(chars.size()); ++i) out += chars[size_t(i)].as_string();
    return out + end;
  }
  if (name == "batch") {
    int64_t n = a.get(0, "linecount").as_int();
    if (n <= 0) throw TemplateError("batch size must be positive", line);
    Array out, cur;
    for (const auto& x : as_list(v, line)) {
      cur.push_back(x);
      if (int64_t(cur.size()) == n) {
        out.push_back(Value(cur));
        cur.clear();
      }
    }
    if (!cur.empty()) out.push_back(Value(cur));
    return out;
  }
  if (name == "format") {
    // printf-style: "%s and %d" | format(a, b)
    std::string fmt_s = v.str(), out;
    size_t k = 0;
    for (size_t i = 0; i < fmt_s.size(); ++i) {
      if (fmt_s[i] == '%' && i + 1 < fmt_s.size()) {
        char c = fmt_s[++i];
        if (c == '%') out += '%';
        else if (k < a.pos.size()) out += a.pos[k++].str();
        continue;
      }
      out += fmt_s[i];
    }
    return out;
  }
  throw TemplateError("unknown filter '" + name + "'", line);
}

bool known_filter(const std::string& n) {
  static const std::set<std::string> k = {
      "length", "count", "string", "safe", "escape", "e", "forceescape", "upper", "lower", "title",
      "capitalize", "trim", "replace", "default", "d", "first", "last", "list", "reverse", "join", "int",
      "float", "abs", "round", "tojson", "items", "dictsort", "sort", "unique", "sum", "min", "max", "map",
      "select", "reject", "selectattr", "rejectattr", "attr", "indent", "center", "wordcount", "truncate",
      "batch", "format"};
  return k.count(n) != 0;
}

bool known_test(const std::string& n) {
  static const std::set<std::string> k = {
      "defined", "undefined", "none", "boolean", "true", "false", "number", "integer", "float", "string",
      "mapping", "iterable", "sequence", "callable", "sameas", "eq", "equalto", "==", "ne", "!=", "lt",
      "lessthan", "<", "le", "<=", "gt", "greaterthan", ">", "ge", ">=", "in", "divisibleby", "even", "odd",
      "lower", "upper", "escaped"};
  return k.count(n) != 0;
}

void install_globals(Object& g, Interpreter& in) {
  g.set("range", Value(Callable{"range", [](Args& a) -> Value {
                                  int64_t start = 0, stop, step = 1;
                                  if (a.pos.size() == 1) stop = a.pos[0].as_int();
                                  else if (a.pos.size() >= 2) {
                                    start = a.pos[0].as_int();
                                    stop = a.pos[1].as_int();
                                    if (a.pos.size() > 2) step = a.pos[2].as_int();
                                  } else throw TemplateError("range expects 1 to 3 arguments", a.line);
                                  if (step == 0) throw TemplateError("range() step must not be zero", a.line);
                                  Array out;
                                  for (int64_t i = start; step > 0 ? i < stop : i > stop; i += step) {
                                    out.push_back(Value(i));
                                    if (out.size() > 1000000) throw TemplateError("range is too long", a.line);
                                  }
                                  return out;
                                }}));
  g.set("namespace", Value(Callable{"namespace", [](Args& a) -> Value {
                                      auto o = std::make_shared<Object>();
                                      o->set("__namespace__", Value(true));
                                      if (!a.pos.empty() && a.pos[0].is_object()) {
                                        for (const auto& [k, v] : a.pos[0].object_ref().items()) o->set(k, v);
                                      }
                                      for (const auto& [k, v] : a.kw) o->set(k, v);
                                      return Value(o);
                                    }}));
  g.set("dict", Value(Callable{"dict", [](Args& a) -> Value {
                                 auto o = std::make_shared<Object>();
                                 for (const auto& [k, v] : a.kw) o->set(k, v);
                                 return Value(o);
                               }}));
  g.set("raise_exception", Value(Callable{"raise_exception", [](Args& a) -> Value {
                                            throw TemplateError(a.get(0, "message", Value("")).str(), a.line);
                                          }}));
  Interpreter* self = &in;
  g.set("strftime_now", Value(Callable{"strftime_now", [self](Args& a) -> Value {
                                         std::time_t t = self->now();
                                         std::tm tm{};
                                         localtime_r(&t, &tm);
                                         char buf[256];
                                         std::string f = a.get(0, "format", Value("%Y-%m-%d")).str();
                                         size_t n = std::strftime(buf, sizeof buf, f.c_str(), &tm);
                                         return Value(std::string(buf, n));
                                       }}));
}

}  // namespace vkllm::core::jinja
