#pragma once
// A context-free grammar over bytes, the form constrained decoding runs on. It is read from
// llama.cpp's GBNF (rules of literals, character classes, groups and the repetition operators
// * + ? {m} {m,} {m,n}); Unicode character classes are lowered to their UTF-8 byte sequences, so
// a token (a byte string) is matched byte by byte and output is always valid UTF-8.
//
//   root   ::= object
//   object ::= "{" ws ( pair ( "," ws pair )* )? "}"
//   ws     ::= [ \t\n]{0,4}
//
// Checked when built: every rule referenced is defined, no rule is left-recursive (a rule that can
// reach itself before reading a byte), every rule can finish.
#include <bitset>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vkllm::core::grammar {

struct Element {
  enum Kind : uint8_t { end, bytes, rule } kind = end;
  int32_t arg = 0;  // bytes: index into Grammar::byte_sets; rule: the rule's index
};

class Grammar {
 public:
  // Parses GBNF; the start rule is `root`. InputError naming the line and column (and `where`,
  // e.g. the file) on a syntax error, an undefined rule, left recursion or a rule that can never
  // finish.
  static Grammar parse(std::string_view gbnf, const std::string& where = "grammar");

  // The program: each rule's alternatives laid out one after another, each a run of elements
  // ended by Element::end.
  const std::vector<Element>& code() const { return code_; }
  const std::vector<int32_t>& alternatives(int32_t rule) const { return alts_[size_t(rule)]; }
  const std::bitset<256>& byte_set(int32_t i) const { return sets_[size_t(i)]; }
  int32_t root() const { return root_; }
  // The fewest bytes that finish the alternative from code position `pos`.
  int32_t min_bytes_from(int32_t pos) const { return min_from_[size_t(pos)]; }
  const std::string& rule_name(int32_t rule) const { return names_[size_t(rule)]; }
  size_t rules() const { return alts_.size(); }

 private:
  friend class Builder;
  void finish(const std::string& where);

  std::vector<Element> code_;
  std::vector<std::vector<int32_t>> alts_;  // per rule: start positions in code_
  std::vector<std::bitset<256>> sets_;
  std::vector<std::string> names_;
  std::vector<int32_t> min_from_;
  int32_t root_ = 0;
};

// The GBNF of a literal string: "..." with the escapes GBNF reads.
std::string gbnf_literal(std::string_view text);

}  // namespace vkllm::core::grammar
