#pragma once
// The template interpreter (internal): scopes, expression evaluation, statements, and the
// built-in filters, tests, methods and globals.
#include <ctime>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/jinja/ast.h"
#include "core/jinja/value.h"

namespace vkllm::core::jinja {

struct LoopControl {
  enum Kind { Break, Continue } kind;
};

class Interpreter {
 public:
  Interpreter(std::shared_ptr<Object> globals, std::function<std::time_t()> now);

  void exec(const Body& body, std::string& out);
  // Evaluates e within the render's limits (core/limits.h): nesting, and the size of the
  // strings and lists it makes.
  Value eval(const Expr& e);
  // Counts one loop iteration or macro call against the render's step limit.
  void step(int line);
  // Throws when a string or list of `n` bytes / items would pass the render's size limits.
  static void check_size(uint64_t n, bool is_list, int line);

  // Built-ins (builtins.cpp).
  Value apply_filter(const std::string& name, const Value& v, Args& args, int line);
  bool apply_test(const std::string& name, const Value& v, Args& args, int line);
  Value get_attr(const Value& obj, const std::string& name, int line);
  Value get_item(const Value& obj, const Value& key, int line);
  Value call(const Value& f, Args& args, int line);
  std::time_t now() const { return now_ ? now_() : std::time(nullptr); }

  Value lookup(const std::string& name) const;
  void assign(const std::string& name, Value v);
  std::vector<std::shared_ptr<Object>>& scopes() { return scopes_; }

 private:
  void exec_node(const Node& n, std::string& out);
  Value eval_expr(const Expr& e);
  struct Nesting;
  Value call_macro(const Node& macro, const std::vector<std::weak_ptr<Object>>& closure, Args& args,
                   const Value& caller, int line);
  Value compare(const std::string& op, const Value& a, const Value& b, int line);
  Value binary(const std::string& op, const Value& a, const Value& b, int line);

  std::vector<std::shared_ptr<Object>> scopes_;
  std::function<std::time_t()> now_;
  int depth_ = 0;    // macro calls in progress
  int nesting_ = 0;  // exec_node / eval frames in progress
  uint64_t steps_ = 0;
};

// Defines the global functions (range, namespace, dict, raise_exception, strftime_now, ...).
void install_globals(Object& globals, Interpreter& interp);
bool known_filter(const std::string& name);
bool known_test(const std::string& name);

}  // namespace vkllm::core::jinja
