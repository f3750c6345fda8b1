#pragma once
// Syntax tree of a parsed template (internal).
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/jinja/value.h"

namespace vkllm::core::jinja {

struct Expr;
using ExprPtr = std::shared_ptr<Expr>;

struct Expr {
  enum Kind {
    Literal, Name, Attr, Item, Slice, Call, Filter, Test, Unary, Binary, Compare, Ternary,
    List, Dict, Tuple, And, Or, Not, Concat
  } kind;
  int line = 0;
  Value literal;                        // Literal
  std::string name;                     // Name, Attr, Filter/Test name, operator
  ExprPtr a, b, c;                      // operands: object/left/cond ...
  std::vector<ExprPtr> items;           // List/Tuple items, Call positional args, Compare operands
  std::vector<std::pair<ExprPtr, ExprPtr>> pairs;           // Dict
  std::vector<std::pair<std::string, ExprPtr>> kwargs;      // Call/Filter/Test keyword args
  std::vector<std::string> ops;         // Compare operators
  bool negated = false;                 // Test: "is not"
  Expr(Kind k, int l) : kind(k), line(l) {}
};

struct Node;
using NodePtr = std::shared_ptr<Node>;
using Body = std::vector<NodePtr>;

struct Node {
  enum Kind { Text, Output, If, For, Set, SetBlock, Macro, CallBlock, FilterBlock, Break, Continue, With, Block } kind;
  int line = 0;
  std::string text;                          // Text
  ExprPtr expr;                              // Output, Set value, For iterable, CallBlock call
  std::vector<std::pair<ExprPtr, Body>> branches;  // If: (cond or null for else, body)
  std::vector<std::string> targets;          // For/Set names (tuple unpacking)
  ExprPtr target_attr;                       // Set ns.attr: the object expression
  std::string attr;                          // Set ns.attr: the attribute
  ExprPtr filter;                            // For "if" clause; SetBlock/FilterBlock filter chain
  Body body, else_body;
  std::string name;                          // Macro name
  std::vector<std::pair<std::string, ExprPtr>> params;  // Macro params (default or null); With
  Node(Kind k, int l) : kind(k), line(l) {}
};

// Parses source into a Block node (throws TemplateError).
NodePtr parse_template(const std::string& source, bool trim_blocks, bool lstrip_blocks);

}  // namespace vkllm::core::jinja
