#pragma once
// Values of the Jinja2 interpreter, with Python semantics where templates observe them
// (truthiness, str(), repr(), comparisons, insertion-ordered dicts).
#include <nlohmann/json.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <variant>
#include <vector>

namespace vkllm::core::jinja {

class Value;
using Array = std::vector<Value>;

class Object;

struct Args;
using Function = std::function<Value(Args&)>;

struct Callable {
  std::string name;
  Function fn;
};

struct Undefined {
  std::string name;  // what was looked up, for error messages
};
struct None {};

class Value {
 public:
  using Storage = std::variant<Undefined, None, bool, int64_t, double, std::string,
                               std::shared_ptr<Array>, std::shared_ptr<Object>,
                               std::shared_ptr<Callable>>;
  Value() : v_(Undefined{}) {}
  Value(None) : v_(None{}) {}
  Value(bool b) : v_(b) {}
  Value(int i) : v_(int64_t(i)) {}
  Value(int64_t i) : v_(i) {}
  Value(double d) : v_(d) {}
  Value(const char* s) : v_(std::string(s)) {}
  Value(std::string s) : v_(std::move(s)) {}
  Value(Array a) : v_(std::make_shared<Array>(std::move(a))) {}
  Value(std::shared_ptr<Array> a) : v_(std::move(a)) {}
  Value(std::shared_ptr<Object> o) : v_(std::move(o)) {}
  Value(Callable c) : v_(std::make_shared<Callable>(std::move(c))) {}
  static Value undefined(std::string name = "") { Value v; v.v_ = Undefined{std::move(name)}; return v; }
  static Value object();
  static Value from_json(const nlohmann::ordered_json& j);

  bool is_undefined() const { return std::holds_alternative<Undefined>(v_); }
  bool is_none() const { return std::holds_alternative<None>(v_); }
  bool is_bool() const { return std::holds_alternative<bool>(v_); }
  bool is_int() const { return std::holds_alternative<int64_t>(v_); }
  bool is_float() const { return std::holds_alternative<double>(v_); }
  bool is_number() const { return is_int() || is_float(); }
  bool is_string() const { return std::holds_alternative<std::string>(v_); }
  bool is_array() const { return std::holds_alternative<std::shared_ptr<Array>>(v_); }
  bool is_object() const { return std::holds_alternative<std::shared_ptr<Object>>(v_); }
  bool is_callable() const { return std::holds_alternative<std::shared_ptr<Callable>>(v_); }

  // Typed access; a value of another type throws TemplateError ("expected an integer, got
  // 'str'"), as Python raises TypeError, whatever input reached here.
  bool as_bool() const { return get<bool>("a boolean"); }
  int64_t as_int() const { return get<int64_t>("an integer"); }
  double as_double() const {
    return is_int() ? double(as_int()) : is_bool() ? double(as_bool()) : get<double>("a number");
  }
  const std::string& as_string() const { return get<std::string>("a string"); }
  Array& array() const { return *get<std::shared_ptr<Array>>("a list"); }
  Object& object_ref() const { return *get<std::shared_ptr<Object>>("a dict"); }
  const Callable& callable() const { return *get<std::shared_ptr<Callable>>("a callable"); }
  const std::string& undefined_name() const { return get<Undefined>("undefined").name; }

  bool truthy() const;
  // Python str() and repr().
  std::string str() const;
  std::string repr() const;
  std::string type_name() const;
  nlohmann::ordered_json to_json() const;  // throws for undefined/callables
  bool equals(const Value& o) const;       // Python ==
  // Python <; throws TemplateError for unorderable types.
  bool less(const Value& o) const;
  bool same(const Value& o) const;  // identity for containers, equality otherwise
  const Storage& storage() const { return v_; }

 private:
  template <class T>
  const T& get(const char* expected) const {
    if (const T* p = std::get_if<T>(&v_)) return *p;
    type_error(expected);
  }
  [[noreturn]] void type_error(const char* expected) const;

  Storage v_;
};

// Insertion-ordered string-keyed map (Python dict).
class Object {
 public:
  const Value* find(const std::string& key) const;
  Value* find(const std::string& key);
  void set(const std::string& key, Value v);
  bool erase(const std::string& key);
  size_t size() const { return items_.size(); }
  const std::vector<std::pair<std::string, Value>>& items() const { return items_; }

 private:
  std::vector<std::pair<std::string, Value>> items_;
  std::map<std::string, size_t> index_;
};

inline Value Value::object() { return Value(std::make_shared<Object>()); }

struct Args {
  std::vector<Value> pos;
  std::vector<std::pair<std::string, Value>> kw;
  int line = 0;
  // Positional i or keyword `name`, else the default.
  Value get(size_t i, const char* name, Value fallback = Value::undefined()) const;
  bool has(size_t i, const char* name) const;
};

// Python's repr() of a float (shortest round-trip, "1.0", "1e-07", "inf").
std::string py_float_repr(double d);
// json.dumps(v, ensure_ascii=False, indent, separators, sort_keys) as Python writes it.
std::string py_json_dumps(const Value& v, int indent, const std::string& item_sep,
                          const std::string& key_sep, bool sort_keys);

}  // namespace vkllm::core::jinja
