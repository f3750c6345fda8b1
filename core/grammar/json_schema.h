#pragma once
// JSON Schema to GBNF: the grammar of the JSON texts a schema accepts, for constrained decoding.
//
// Supported: type (one or a list), properties + required (declared order; optional properties
// may be left out), additionalProperties (false when absent and properties are given; true or a
// schema adds further keys, never a declared one), enum, const, items, prefixItems, minItems,
// maxItems, strings with minLength/maxLength, pattern (a regular-expression subset: literals,
// classes, . \d \w \s, groups, |, * + ? {m,n}, ^ $) or format (date, time, date-time, uuid,
// email, ipv4, uri), integers with minimum/maximum/exclusiveMinimum/exclusiveMaximum, numbers
// (minimum 0 only), nested objects, anyOf/oneOf, allOf of objects, $ref into $defs/definitions
// (recursion included), nullable. Annotations (title, description, default, examples, ...) are
// ignored; any other keyword that constrains is refused with an InputError naming it and where
// it is (a JSON pointer), never silently dropped.
#include <nlohmann/json.hpp>

#include <memory>
#include <string>

namespace vkllm::core::grammar {

// Several schemas in one grammar (a tool call's arguments per tool): add() compiles a schema into
// a rule (named after `name`, made unique) and returns its name; gbnf() writes the grammar with
// `root ::= root_body` and every rule added.
class JsonGrammar {
 public:
  JsonGrammar();
  ~JsonGrammar();
  std::string add(const nlohmann::ordered_json& schema, const std::string& name,
                  const std::string& where = "json_schema");
  std::string gbnf(const std::string& root_body) const;

 private:
  class Compiler;
  std::unique_ptr<Compiler> c_;
};

std::string json_schema_to_gbnf(const nlohmann::ordered_json& schema,
                                const std::string& where = "json_schema");

// The grammar of any JSON object (OpenAI's response_format json_object).
std::string json_object_gbnf();

// A regular expression (the subset above) as a GBNF expression (one parenthesised group) matching
// the JSON string content, escapes included, of the strings it matches. `where` names it in errors.
std::string regex_to_gbnf(const std::string& pattern, const std::string& where);

}  // namespace vkllm::core::grammar
