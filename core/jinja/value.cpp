#include "core/jinja/value.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>

#include "core/jinja/error.h"

namespace vkllm::core::jinja {

TemplateError::TemplateError(const std::string& msg, int line)
    : InputError(line > 0 ? fmt::format("[template] line {}: {}", line, msg) : "[template] " + msg), line_(line) {}
TemplateError::~TemplateError() = default;

void Value::type_error(const char* expected) const {
  throw TemplateError(fmt::format("expected {}, got '{}'", expected, type_name()), 0);
}

const Value* Object::find(const std::string& key) const {
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : &items_[it->second].second;
}

Value* Object::find(const std::string& key) {
  auto it = index_.find(key);
  return it == index_.end() ? nullptr : &items_[it->second].second;
}

void Object::set(const std::string& key, Value v) {
  if (Value* existing = find(key)) {
    *existing = std::move(v);
    return;
  }
  index_[key] = items_.size();
  items_.emplace_back(key, std::move(v));
}

bool Object::erase(const std::string& key) {
  auto it = index_.find(key);
  if (it == index_.end()) return false;
  items_.erase(items_.begin() + long(it->second));
  index_.clear();
  for (size_t i = 0; i < items_.size(); ++i) index_[items_[i].first] = i;
  return true;
}

Value Value::from_json(const nlohmann::ordered_json& j) {
  switch (j.type()) {
    case nlohmann::ordered_json::value_t::null: return Value(None{});
    case nlohmann::ordered_json::value_t::boolean: return Value(j.get<bool>());
    case nlohmann::ordered_json::value_t::number_integer: return Value(j.get<int64_t>());
    case nlohmann::ordered_json::value_t::number_unsigned: return Value(int64_t(j.get<uint64_t>()));
    case nlohmann::ordered_json::value_t::number_float: return Value(j.get<double>());
    case nlohmann::ordered_json::value_t::string: return Value(j.get<std::string>());
    case nlohmann::ordered_json::value_t::array: {
      Array a;
      for (const auto& e : j) a.push_back(from_json(e));
      return Value(std::move(a));
    }
    case nlohmann::ordered_json::value_t::object: {
      auto o = std::make_shared<Object>();
      for (const auto& [k, v] : j.items()) o->set(k, from_json(v));
      return Value(o);
    }
    default: return Value::undefined();
  }
}

bool Value::truthy() const {
  return std::visit(
      [](const auto& x) -> bool {
        using T = std::decay_t<decltype(x)>;
        if constexpr (std::is_same_v<T, Undefined> || std::is_same_v<T, None>) return false;
        else if constexpr (std::is_same_v<T, bool>) return x;
        else if constexpr (std::is_same_v<T, int64_t>) return x != 0;
        else if constexpr (std::is_same_v<T, double>) return x != 0.0;
        else if constexpr (std::is_same_v<T, std::string>) return !x.empty();
        else if constexpr (std::is_same_v<T, std::shared_ptr<Array>>) return !x->empty();
        else if constexpr (std::is_same_v<T, std::shared_ptr<Object>>) return x->size() != 0;
        else return true;
      },
      v_);
}

std::string py_float_repr(double d) {
  if (std::isnan(d)) return "nan";
  if (std::isinf(d)) return d > 0 ? "inf" : "-inf";
  char buf[64];
  int prec = 1;
  for (; prec <= 17; ++prec) {
    std::snprintf(buf, sizeof buf, "%.*e", prec - 1, d);
    if (std::strtod(buf, nullptr) == d) break;
  }
  // buf holds d.ddddde±XX with `prec` significant digits
  std::string s = buf;
  size_t e = s.find('e');
  std::string mant = s.substr(0, e);
  int exp = std::stoi(s.substr(e + 1));
  bool neg = mant[0] == '-';
  if (neg) mant.erase(0, 1);
  std::string digits;
  for (char c : mant) if (c != '.') digits += c;
  while (digits.size() > 1 && digits.back() == '0') digits.pop_back();
  std::string out;
  if (exp < -4 || exp >= 16) {
    out = digits.substr(0, 1);
    if (digits.size() > 1) out += "." + digits.substr(1);
    out += fmt::format("e{}{:02d}", exp < 0 ? "-" : "+", std::abs(exp));
  } else if (exp < 0) {
    out = "0." + std::string(size_t(-exp - 1), '0') + digits;
  } else {
    if (digits.size() <= size_t(exp) + 1) {
      out = digits + std::string(size_t(exp) + 1 - digits.size(), '0') + ".0";
    } else {
      out = digits.substr(0, size_t(exp) + 1) + "." + digits.substr(size_t(exp) + 1);
    }
  }
  return neg ? "-" + out : out;
}

namespace {

std::string py_str_repr(const std::string& s) {
  bool has_single = s.find('\'') != std::string::npos, has_double = s.find('"') != std::string::npos;
  char q = (has_single && !has_double) ? '"' : '\'';
  std::string out(1, q);
  for (unsigned char c : s) {
    if (c == '\\') out += "\\\\";
    else if (c == '\n') out += "\\n";
    else if (c == '\r') out += "\\r";
    else if (c == '\t') out += "\\t";
    else if (c == q) out += std::string("\\") + char(c);
    else if (c < 0x20 || c == 0x7f) out += fmt::format("\\x{:02x}", c);
    else out += char(c);
  }
  return out + q;
}

void json_string(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      default:
        if (c < 0x20) out += fmt::format("\\u{:04x}", c);
        else out += char(c);
    }
  }
  out += '"';
}

void dumps(std::string& out, const Value& v, int indent, int depth, const std::string& item_sep,
           const std::string& key_sep, bool sort_keys) {
  auto newline = [&](int d) {
    if (indent >= 0) {
      out += '\n';
      out.append(size_t(indent * d), ' ');
    }
  };
  if (v.is_none()) out += "null";
  else if (v.is_bool()) out += v.as_bool() ? "true" : "false";
  else if (v.is_int()) out += std::to_string(v.as_int());
  else if (v.is_float()) {
    double d = v.as_double();
    out += std::isnan(d) ? "NaN" : std::isinf(d) ? (d > 0 ? "Infinity" : "-Infinity") : py_float_repr(d);
  } else if (v.is_string()) json_string(out, v.as_string());
  else if (v.is_array()) {
    const auto& a = v.array();
    if (a.empty()) {
      out += "[]";
      return;
    }
    out += '[';
    for (size_t i = 0; i < a.size(); ++i) {
      if (i) out += item_sep;
      newline(depth + 1);
      dumps(out, a[i], indent, depth + 1, item_sep, key_sep, sort_keys);
    }
    newline(depth);
    out += ']';
  } else if (v.is_object()) {
    auto items = v.object_ref().items();
    if (items.empty()) {
      out += "{}";
      return;
    }
    if (sort_keys) std::stable_sort(items.begin(), items.end(), [](auto& a, auto& b) { return a.first < b.first; });
    out += '{';
    for (size_t i = 0; i < items.size(); ++i) {
      if (i) out += item_sep;
      newline(depth + 1);
      json_string(out, items[i].first);
      out += key_sep;
      dumps(out, items[i].second, indent, depth + 1, item_sep, key_sep, sort_keys);
    }
    newline(depth);
    out += '}';
  } else if (v.is_undefined()) {
    throw TemplateError("Object of type Undefined is not JSON serializable", 0);
  } else {
    throw TemplateError("Object of type " + v.type_name() + " is not JSON serializable", 0);
  }
}

}  // namespace

std::string py_json_dumps(const Value& v, int indent, const std::string& item_sep, const std::string& key_sep,
                          bool sort_keys) {
  std::string out;
  dumps(out, v, indent, 0, item_sep, key_sep, sort_keys);
  return out;
}

std::string Value::str() const {
  if (is_undefined()) return "";
  if (is_none()) return "None";
  if (is_bool()) return as_bool() ? "True" : "False";
  if (is_int()) return std::to_string(as_int());
  if (is_float()) return py_float_repr(as_double());
  if (is_string()) return as_string();
  return repr();
}

std::string Value::repr() const {
  if (is_string()) return py_str_repr(as_string());
  if (is_array()) {
    std::string out = "[";
    const auto& a = array();
    for (size_t i = 0; i < a.size(); ++i) out += (i ? ", " : "") + a[i].repr();
    return out + "]";
  }
  if (is_object()) {
    std::string out = "{";
    bool first = true;
    for (const auto& [k, v] : object_ref().items()) {
      out += (first ? "" : ", ") + py_str_repr(k) + ": " + v.repr();
      first = false;
    }
    return out + "}";
  }
  if (is_callable()) return "<function " + callable().name + ">";
  if (is_undefined()) return "Undefined";
  return str();
}

std::string Value::type_name() const {
  if (is_undefined()) return "Undefined";
  if (is_none()) return "NoneType";
  if (is_bool()) return "bool";
  if (is_int()) return "int";
  if (is_float()) return "float";
  if (is_string()) return "str";
  if (is_array()) return "list";
  if (is_object()) return "dict";
  return "function";
}

nlohmann::ordered_json Value::to_json() const {
  if (is_none()) return nullptr;
  if (is_bool()) return as_bool();
  if (is_int()) return as_int();
  if (is_float()) return as_double();
  if (is_string()) return as_string();
  if (is_array()) {
    auto j = nlohmann::ordered_json::array();
    for (const auto& e : array()) j.push_back(e.to_json());
    return j;
  }
  if (is_object()) {
    auto j = nlohmann::ordered_json::object();
    for (const auto& [k, v] : object_ref().items()) j[k] = v.to_json();
    return j;
  }
  throw TemplateError(type_name() + " cannot be converted to JSON", 0);
}

bool Value::equals(const Value& o) const {
  if (is_number() || is_bool()) {
    if (o.is_number() || o.is_bool()) return as_double() == o.as_double();
    return false;
  }
  if (is_string()) return o.is_string() && as_string() == o.as_string();
  if (is_none()) return o.is_none();
  if (is_undefined()) return o.is_undefined();
  if (is_array()) {
    if (!o.is_array()) return false;
    const auto &a = array(), &b = o.array();
    if (a.size() != b.size()) return false;
    for (size_t i = 0; i < a.size(); ++i)
      if (!a[i].equals(b[i])) return false;
    return true;
  }
  if (is_object()) {
    if (!o.is_object() || object_ref().size() != o.object_ref().size()) return false;
    for (const auto& [k, v] : object_ref().items()) {
      const Value* w = o.object_ref().find(k);
      if (!w || !v.equals(*w)) return false;
    }
    return true;
  }
  return same(o);
}

bool Value::less(const Value& o) const {
  if ((is_number() || is_bool()) && (o.is_number() || o.is_bool())) return as_double() < o.as_double();
  if (is_string() && o.is_string()) return as_string() < o.as_string();
  if (is_array() && o.is_array()) {
    const auto &a = array(), &b = o.array();
    for (size_t i = 0; i < std::min(a.size(), b.size()); ++i) {
      if (a[i].less(b[i])) return true;
      if (b[i].less(a[i])) return false;
    }
    return a.size() < b.size();
  }
  throw TemplateError(fmt::format("'<' not supported between instances of '{}' and '{}'", type_name(), o.type_name()), 0);
}

bool Value::same(const Value& o) const {
  if (is_array() && o.is_array()) return &array() == &o.array();
  if (is_object() && o.is_object()) return &object_ref() == &o.object_ref();
  if (is_callable() && o.is_callable()) return &callable() == &o.callable();
  if (is_none() && o.is_none()) return true;
  if (is_undefined() && o.is_undefined()) return true;
  if (is_bool() && o.is_bool()) return as_bool() == o.as_bool();
  return false;
}

Value Args::get(size_t i, const char* name, Value fallback) const {
  for (const auto& [k, v] : kw)
    if (k == name) return v;
  if (i < pos.size()) return pos[i];
  return fallback;
}

bool Args::has(size_t i, const char* name) const {
  for (const auto& [k, v] : kw)
    if (k == name) return true;
  return i < pos.size();
}

}  // namespace vkllm::core::jinja
