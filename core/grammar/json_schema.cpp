// JSON Schema to GBNF. Each schema becomes a rule named after where it is; values end with the
// optional whitespace `ws` (bounded, so output ends) between the tokens of containers, never
// around the whole text (it ends at its last character). See json_schema.h for what is supported.
#include "core/grammar/json_schema.h"

#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <map>
#include <optional>
#include <set>

#include "core/grammar/grammar.h"
#include "sdk/base/error.h"

namespace vkllm::core::grammar {
namespace {

using json = nlohmann::ordered_json;

// Shared rules, added when first used.
const std::map<std::string, std::string>& primitives() {
  static const std::map<std::string, std::string> p = {
      {"ws", R"(( " " | "\n" [ \t]{0,16} )?)"},
      {"char", R"([^"\\\x00-\x1F] | "\\" ( ["\\/bfnrt] | "u" [0-9a-fA-F]{4} ))"},
      {"string", R"("\"" char* "\"")"},
      {"integer", R"("-"? ( "0" | [1-9] [0-9]{0,15} ))"},
      {"number",
       R"("-"? ( "0" | [1-9] [0-9]{0,15} ) ( "." [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,2} )?)"},
      {"boolean", R"("true" | "false")"},
      {"null", R"("null")"},
      {"value", R"(object | array | string | number | boolean | null)"},
      {"object",
       R"("{" ws ( string ws ":" ws value ws ( "," ws string ws ":" ws value ws )* )? "}")"},
      {"array", R"("[" ws ( value ws ( "," ws value ws )* )? "]")"},
      {"date",
       R"([0-9]{4} "-" ( ( "0" [13578] | "1" [02] ) "-" ( "0" [1-9] | [12] [0-9] | "3" [01] ) | ( "0" [469] | "11" ) "-" ( "0" [1-9] | [12] [0-9] | "30" ) | "02-" ( "0" [1-9] | "1" [0-9] | "2" [0-8] ) ))"},
      {"time",
       R"(( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] ":" [0-5] [0-9] ( "." [0-9]{1,6} )? ( "Z" | [+-] ( [01] [0-9] | "2" [0-3] ) ":" [0-5] [0-9] ))"},
      {"date-time", R"(date "T" time)"},
      {"uuid", R"([0-9a-f]{8} "-" [0-9a-f]{4} "-" [0-9a-f]{4} "-" [0-9a-f]{4} "-" [0-9a-f]{12})"},
      {"email",
       R"([a-zA-Z0-9_+-]{1,32} ( "." [a-zA-Z0-9_+-]{1,32} ){0,3} "@" [a-zA-Z0-9] [a-zA-Z0-9-]{0,30} ( "." [a-zA-Z]{2,8} ){1,2})"},
      {"ipv4-octet", R"("25" [0-5] | "2" [0-4] [0-9] | "1" [0-9] [0-9] | [1-9] [0-9] | [0-9])"},
      {"ipv4", R"(ipv4-octet "." ipv4-octet "." ipv4-octet "." ipv4-octet)"},
      {"uri", R"("http" "s"? "://" [a-z0-9] [a-z0-9.-]{0,62} ( "/" [a-zA-Z0-9._~-]{0,32} ){0,8})"},
  };
  return p;
}
const std::map<std::string, std::vector<std::string>>& primitive_deps() {
  static const std::map<std::string, std::vector<std::string>> d = {
      {"string", {"char"}},

      {"value", {"object", "array", "string", "number", "boolean", "null"}},
      {"object", {"ws", "string", "value"}},
      {"array", {"ws", "value"}},
      {"date-time", {"date", "time"}},
      {"ipv4", {"ipv4-octet"}},
  };
  return d;
}

const std::set<std::string>& annotations() {
  static const std::set<std::string> a = {
      "title",    "description", "default",  "examples",      "$schema",          "$id",
      "$comment", "deprecated",  "readOnly", "writeOnly",     "contentMediaType", "contentEncoding",
      "$defs",    "definitions", "strict",   "discriminator", "example",          "x-order"};
  return a;
}
const std::set<std::string>& handled() {
  static const std::set<std::string> h = {"type",
                                          "properties",
                                          "required",
                                          "additionalProperties",
                                          "enum",
                                          "const",
                                          "items",
                                          "prefixItems",
                                          "minItems",
                                          "maxItems",
                                          "minLength",
                                          "maxLength",
                                          "pattern",
                                          "format",
                                          "minimum",
                                          "maximum",
                                          "exclusiveMinimum",
                                          "exclusiveMaximum",
                                          "anyOf",
                                          "oneOf",
                                          "allOf",
                                          "$ref",
                                          "nullable"};
  return h;
}

std::string literal_value(const json& v) { return gbnf_literal(v.dump()); }

// Digits of n >= 0.
std::string digits(int64_t n) { return std::to_string(n); }

// Decimal strings of equal length, x <= y: the GBNF of the numbers between them.
std::string same_length(const std::string& x, const std::string& y) {
  if (x.size() == 1) return x == y ? fmt::format("\"{}\"", x) : fmt::format("[{}-{}]", x, y);
  if (x[0] == y[0])
    return fmt::format("\"{}\" ( {} )", x[0], same_length(x.substr(1), y.substr(1)));
  const size_t rest = x.size() - 1;
  std::vector<std::string> alts;
  alts.push_back(
      fmt::format("\"{}\" ( {} )", x[0], same_length(x.substr(1), std::string(rest, '9'))));
  if (x[0] + 1 <= y[0] - 1)
    alts.push_back(fmt::format("[{}-{}] [0-9]{{{}}}", char(x[0] + 1), char(y[0] - 1), rest));
  alts.push_back(
      fmt::format("\"{}\" ( {} )", y[0], same_length(std::string(rest, '0'), y.substr(1))));
  std::string out;
  for (size_t i = 0; i < alts.size(); ++i) out += (i ? " | " : "") + alts[i];
  return out;
}

// Integers in [lo, hi], 0 <= lo <= hi (hi < 0: unbounded), written without leading zeros.
std::string natural_range(int64_t lo, int64_t hi) {
  const std::string a = digits(lo);
  const size_t max_len = hi < 0 ? std::max<size_t>(a.size() + 3, 16) : digits(hi).size();
  std::vector<std::string> alts;
  for (size_t len = a.size(); len <= max_len; ++len) {
    const std::string from = len == a.size() ? a : fmt::format("1{}", std::string(len - 1, '0'));
    const std::string to = (hi >= 0 && len == max_len) ? digits(hi) : std::string(len, '9');
    if (hi < 0 && len > a.size()) {  // every number of this length and longer
      alts.push_back(fmt::format("[1-9] [0-9]{{{},{}}}", len - 1, max_len - 1));
      break;
    }
    alts.push_back(fmt::format("( {} )", same_length(from, to)));
  }
  std::string out;
  for (size_t i = 0; i < alts.size(); ++i) out += (i ? " | " : "") + alts[i];
  return fmt::format("( {} )", out);
}

}  // namespace

class JsonGrammar::Compiler {
 public:
  std::string add(const json& schema, const std::string& name, const std::string& where) {
    root_ = &schema;
    where_ = where;
    refs_.clear();  // references are within one schema
    const std::string rule = add_rule(name, "");
    const std::string body = visit(schema, "", rule);
    for (auto& [n, b] : rules_)
      if (n == rule) b = body;
    return rule;
  }
  std::string gbnf(const std::string& root_body) const {
    std::string out = "root ::= " + root_body + "\n";
    for (const auto& [name, rule] : rules_) out += name + " ::= " + rule + "\n";
    return out;
  }

 private:
  [[noreturn]] void fail(const std::string& path, const std::string& what) const {
    throw InputError(fmt::format("[{}] {}: {}", where_, path.empty() ? "/" : path, what));
  }

  std::string use(const std::string& name) {
    if (used_.insert(name).second) {
      if (auto d = primitive_deps().find(name); d != primitive_deps().end())
        for (const auto& dep : d->second) use(dep);
      rules_.emplace_back(name, primitives().at(name));
    }
    return name;
  }
  std::string add_rule(std::string hint, const std::string& body) {
    for (auto& c : hint)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-') c = '-';
    std::string name = hint;
    for (int k = 2; taken_.count(name) || primitives().count(name); ++k)
      name = fmt::format("{}-{}", hint, k);
    taken_.insert(name);
    rules_.emplace_back(name, body);
    return name;
  }

  const json& resolve(const std::string& ref, const std::string& path) const {
    if (!ref.starts_with("#"))
      fail(path,
           fmt::format("$ref {:?}: only references within the schema (#/...) are supported", ref));
    try {
      return root_->at(json::json_pointer(ref.substr(1)));
    } catch (const json::exception&) {
      fail(path, fmt::format("$ref {:?} points to nothing", ref));
    }
  }

  // Shallow merge for allOf: properties merged, required united, the rest overridden.
  json merge(json a, const json& b, const std::string& path) const {
    if (!b.is_object()) fail(path, "allOf items must be schemas (objects)");
    for (const auto& [k, v] : b.items()) {
      if (k == "properties" && a.contains(k)) {
        for (const auto& [pk, pv] : v.items()) a[k][pk] = pv;
      } else if (k == "required" && a.contains(k)) {
        for (const auto& r : v) a[k].push_back(r);
      } else {
        a[k] = v;
      }
    }
    return a;
  }

  std::string visit(const json& s, const std::string& path, const std::string& name) {
    if (s.is_boolean()) {
      if (!s.get<bool>()) fail(path, "the schema `false` allows no value");
      return use("value");
    }
    if (!s.is_object()) fail(path, "a schema must be an object or a boolean");
    for (const auto& [k, v] : s.items()) {
      if (!handled().count(k) && !annotations().count(k))
        fail(path + "/" + k, fmt::format("the keyword '{}' is not supported", k));
    }
    if (s.contains("$ref")) {
      const std::string ref = s.at("$ref").is_string() ? s.at("$ref").get<std::string>() : "";
      if (auto it = refs_.find(ref); it != refs_.end()) return it->second;
      std::string rname = ref.substr(ref.find_last_of('/') + 1);
      std::string rule = add_rule("ref-" + rname, "");
      refs_[ref] = rule;
      std::string body = visit(resolve(ref, path + "/$ref"), ref.substr(1), rule);
      for (auto& [n, b] : rules_)
        if (n == rule) b = body;
      return rule;
    }
    if (s.contains("allOf")) {
      json merged = json::object();
      for (const auto& [k, v] : s.items())
        if (k != "allOf") merged[k] = v;
      const auto& all = s.at("allOf");
      if (!all.is_array()) fail(path + "/allOf", "must be an array");
      for (size_t i = 0; i < all.size(); ++i) {
        const json& part =
            all[i].contains("$ref") ? resolve(all[i]["$ref"].get<std::string>(), path) : all[i];
        merged = merge(merged, part, fmt::format("{}/allOf/{}", path, i));
      }
      return visit(merged, path, name);
    }
    for (const char* key : {"anyOf", "oneOf"}) {
      if (!s.contains(key)) continue;
      const auto& alts = s.at(key);
      if (!alts.is_array() || alts.empty()) fail(path + "/" + key, "must be a non-empty array");
      json rest = s;
      rest.erase(key);
      std::vector<std::string> out;
      for (size_t i = 0; i < alts.size(); ++i) {
        json branch = alts[i];
        if (branch.is_object()) {
          for (const auto& [k, v] : rest.items())
            if (!branch.contains(k)) branch[k] = v;
        }
        const std::string p = fmt::format("{}/{}/{}", path, key, i);
        out.push_back(add_rule(name + "-" + std::to_string(i),
                               visit(branch, p, name + "-" + std::to_string(i))));
      }
      return join(out);
    }
    std::string body = typed(s, path, name);
    if (s.value("nullable", false)) body = fmt::format("( {} ) | {}", body, use("null"));
    return body;
  }

  static std::string join(const std::vector<std::string>& alts) {
    std::string out;
    for (size_t i = 0; i < alts.size(); ++i) out += (i ? " | " : "") + alts[i];
    return out;
  }

  std::string typed(const json& s, const std::string& path, const std::string& name) {
    if (s.contains("const")) return literal_value(s.at("const"));
    if (s.contains("enum")) {
      const auto& e = s.at("enum");
      if (!e.is_array() || e.empty()) fail(path + "/enum", "must be a non-empty array");
      std::vector<std::string> alts;
      for (const auto& v : e) alts.push_back(literal_value(v));
      return fmt::format("( {} )", join(alts));
    }
    std::vector<std::string> types;
    if (s.contains("type")) {
      const auto& t = s.at("type");
      if (t.is_string())
        types.push_back(t.get<std::string>());
      else if (t.is_array())
        for (const auto& x : t) types.push_back(x.is_string() ? x.get<std::string>() : "");
      else
        fail(path + "/type", "must be a string or an array of strings");
    } else if (s.contains("properties") || s.contains("additionalProperties")) {
      types.push_back("object");
    } else if (s.contains("items") || s.contains("prefixItems")) {
      types.push_back("array");
    } else if (s.contains("pattern") || s.contains("format") || s.contains("minLength") ||
               s.contains("maxLength")) {
      types.push_back("string");
    } else {
      return use("value");
    }
    std::vector<std::string> alts;
    for (const auto& t : types) {
      const std::string sub = types.size() > 1 ? name + "-" + t : name;
      if (t == "object")
        alts.push_back(object(s, path, sub));
      else if (t == "array")
        alts.push_back(array(s, path, sub));
      else if (t == "string")
        alts.push_back(string(s, path));
      else if (t == "integer")
        alts.push_back(integer(s, path));
      else if (t == "number")
        alts.push_back(number(s, path));
      else if (t == "boolean")
        alts.push_back(use("boolean"));
      else if (t == "null")
        alts.push_back(use("null"));
      else
        fail(path + "/type", fmt::format("unknown type {:?}", t));
    }
    if (alts.size() == 1) return alts[0];
    for (auto& a : alts) a = fmt::format("( {} )", a);
    return join(alts);
  }

  std::string object(const json& s, const std::string& path, const std::string& name) {
    const json props = s.value("properties", json::object());
    if (!props.is_object()) fail(path + "/properties", "must be an object");
    std::set<std::string> required;
    if (s.contains("required")) {
      for (const auto& r : s.at("required")) {
        if (!r.is_string()) fail(path + "/required", "must list property names");
        if (!props.contains(r.get<std::string>()) && !props.empty())
          fail(path + "/required",
               fmt::format("{:?} is required but not among the properties", r.get<std::string>()));
        required.insert(r.get<std::string>());
      }
    }
    const json extra = s.value("additionalProperties", json(props.empty()));
    if (props.empty()) {
      if (extra.is_boolean() && !extra.get<bool>())
        return fmt::format("\"{{\" {} \"}}\"", use("ws"));
      if (extra.is_boolean()) return use("object");
      std::string kv =
          use("string") + " " + use("ws") + " \":\" " + use("ws") + " " +
          add_rule(name + "-value", visit(extra, path + "/additionalProperties", name + "-value"));
      return fmt::format("\"{{\" {} ( {} {} ( \",\" {} {} {} )* )? \"}}\"", use("ws"), kv,
                         use("ws"), use("ws"), kv, use("ws"));
    }
    // Properties in declared order; first_i: properties i.. with none written yet, rest_i: after
    // one was written (each present property is then preceded by a comma).
    std::vector<std::string> keys, kvs;
    for (const auto& [k, v] : props.items()) {
      keys.push_back(k);
      const std::string value =
          add_rule(name + "-" + k, visit(v, path + "/properties/" + k, name + "-" + k));
      kvs.push_back(literal_value(json(k)) + " " + use("ws") + " \":\" " + use("ws") + " " + value +
                    " " + use("ws"));
    }
    std::string extra_kv;
    if (!(extra.is_boolean() && !extra.get<bool>())) {
      const std::string value =
          extra.is_boolean()
              ? use("value")
              : add_rule(name + "-additional",
                         visit(extra, path + "/additionalProperties", name + "-additional"));
      extra_kv =
          add_rule(name + "-additional-kv", other_key(keys, name) + " " + use("ws") + " \":\" " +
                                                use("ws") + " " + value + " " + use("ws"));
    }
    const size_t n = keys.size();
    std::vector<std::string> first(n + 1), rest(n + 1);
    const std::string tail =
        extra_kv.empty() ? "" : fmt::format("( \",\" {} {} )*", use("ws"), extra_kv);
    rest[n] = tail.empty() ? "\"\"" : tail;
    first[n] = extra_kv.empty() ? "\"\"" : fmt::format("( {} {} )?", extra_kv, tail);
    for (size_t i = n; i-- > 0;) {
      const bool req = required.count(keys[i]) > 0;
      const std::string r_next = add_rule(fmt::format("{}-rest{}", name, i + 1), rest[i + 1]);
      const std::string f_next = add_rule(fmt::format("{}-first{}", name, i + 1), first[i + 1]);
      rest[i] = req ? fmt::format("\",\" {} {} {}", use("ws"), kvs[i], r_next)
                    : fmt::format("( \",\" {} {} )? {}", use("ws"), kvs[i], r_next);
      first[i] = req ? fmt::format("{} {}", kvs[i], r_next)
                     : fmt::format("{} {} | {}", kvs[i], r_next, f_next);
    }
    return fmt::format("\"{{\" {} ( {} ) \"}}\"", use("ws"), first[0]);
  }

  // A JSON string key that is none of `keys`: a trie of the names, leaving it at the first
  // character that differs.
  std::string other_key(const std::vector<std::string>& keys, const std::string& name) {
    use("char");
    std::function<std::string(const std::string&)> node = [&](const std::string& prefix) {
      std::set<unsigned char> next;
      bool is_key = false;
      for (const auto& k : keys) {
        if (k == prefix)
          is_key = true;
        else if (k.size() > prefix.size() && k.compare(0, prefix.size(), prefix) == 0)
          next.insert(static_cast<unsigned char>(k[prefix.size()]));
      }
      std::vector<std::string> alts;
      if (!is_key) alts.push_back("\"\\\"\"");
      std::string excluded = "\"\\\\\\x00-\\x1F";
      for (unsigned char c : next) {
        excluded += fmt::format("\\x{:02X}", c);
        alts.push_back(
            fmt::format("\"\\x{:02X}\" {}", c, add_rule(name + "-key", node(prefix + char(c)))));
      }
      alts.push_back(fmt::format(
          "( [^{}] | \"\\\\\" ( [\"\\\\/bfnrt] | \"u\" [0-9a-fA-F]{{4}} ) ) char* \"\\\"\"",
          excluded));
      return join(alts);
    };
    return fmt::format("\"\\\"\" {}", add_rule(name + "-key", node("")));
  }

  static int64_t count(const json& s, const char* key, int64_t dflt, const std::string& path,
                       Compiler* self) {
    if (!s.contains(key)) return dflt;
    const auto& v = s.at(key);
    if (!v.is_number_integer() && !v.is_number_unsigned())
      self->fail(path + "/" + key, "must be a non-negative integer");
    const int64_t n = v.get<int64_t>();
    if (n < 0 || n > 4096) self->fail(path + "/" + key, "must be between 0 and 4096");
    return n;
  }

  std::string array(const json& s, const std::string& path, const std::string& name) {
    const int64_t lo = count(s, "minItems", 0, path, this),
                  hi = count(s, "maxItems", -1, path, this);
    if (hi >= 0 && hi < lo) fail(path + "/maxItems", "is below minItems");
    std::vector<std::string> items;  // prefixItems first, then items for the rest
    if (s.contains("prefixItems")) {
      const auto& p = s.at("prefixItems");
      if (!p.is_array()) fail(path + "/prefixItems", "must be an array");
      for (size_t i = 0; i < p.size(); ++i)
        items.push_back(add_rule(
            fmt::format("{}-{}", name, i),
            visit(p[i], fmt::format("{}/prefixItems/{}", path, i), fmt::format("{}-{}", name, i))));
    }
    std::string item;
    if (s.contains("items") && !(s.at("items").is_boolean() && !s.at("items").get<bool>()))
      item = add_rule(name + "-item", visit(s.at("items"), path + "/items", name + "-item"));
    else if (!s.contains("items"))
      item = use("value");
    // Each element is followed by optional whitespace before ',' or ']'.
    for (auto& i : items) i += fmt::format(" {}", use("ws"));
    if (!item.empty()) item += fmt::format(" {}", use("ws"));
    const std::string sep = fmt::format("\",\" {}", use("ws"));
    // The sequence of elements: prefix items in order (each optional past minItems), then the
    // repeated item within the remaining counts.
    std::string seq;
    int64_t written = 0;
    std::string close;
    for (size_t i = 0; i < items.size(); ++i) {
      if (hi >= 0 && written >= hi) break;
      const std::string e = (i ? sep + " " : "") + items[i];
      if (written < lo) {
        seq += (seq.empty() ? "" : " ") + e;
      } else {
        seq += fmt::format("{}( {}", seq.empty() ? "" : " ", e);
        close += " )?";
      }
      ++written;
    }
    if (!item.empty() && (hi < 0 || written < hi)) {
      const int64_t need = std::max<int64_t>(0, lo - written);
      const int64_t room = hi < 0 ? -1 : hi - written;
      std::string more;
      if (written == 0) {
        // item ( , item ){need-1, room-1}, optional when nothing is needed
        std::string reps = room < 0
                               ? fmt::format("{{{},}}", std::max<int64_t>(need - 1, 0))
                               : fmt::format("{{{},{}}}", std::max<int64_t>(need - 1, 0), room - 1);
        more = fmt::format("{} ( {} {} ){}", item, sep, item, reps);
        if (need == 0) more = fmt::format("( {} )?", more);
      } else {
        std::string reps =
            room < 0 ? fmt::format("{{{},}}", need) : fmt::format("{{{},{}}}", need, room);
        more = fmt::format("( {} {} ){}", sep, item, reps);
      }
      seq += (seq.empty() ? "" : " ") + more;
    } else if (written < lo) {
      fail(path + "/minItems", "asks for more items than prefixItems allows");
    }
    seq += close;
    return fmt::format("\"[\" {} {} \"]\"", use("ws"), seq.empty() ? "\"\"" : seq);
  }

  std::string string(const json& s, const std::string& path) {
    const bool lengths = s.contains("minLength") || s.contains("maxLength");
    std::string content;
    if (s.contains("pattern")) {
      if (lengths || s.contains("format"))
        fail(path + "/pattern",
             "a pattern together with minLength, maxLength or format is not supported");
      if (!s.at("pattern").is_string()) fail(path + "/pattern", "must be a string");
      content =
          regex_to_gbnf(s.at("pattern").get<std::string>(), where_ + ": " + path + "/pattern");
    } else if (s.contains("format")) {
      const std::string f = s.at("format").is_string() ? s.at("format").get<std::string>() : "";
      static const std::set<std::string> formats = {"date",  "time", "date-time", "uuid",
                                                    "email", "ipv4", "uri"};
      if (!formats.count(f))
        fail(path + "/format", fmt::format("the format {:?} is not supported (supported: date, "
                                           "time, date-time, uuid, email, ipv4, uri)",
                                           f));
      if (lengths)
        fail(path + "/format", "a format together with minLength or maxLength is not supported");
      content = use(f);
    } else {
      const int64_t lo = count(s, "minLength", 0, path, this),
                    hi = count(s, "maxLength", -1, path, this);
      if (hi >= 0 && hi < lo) fail(path + "/maxLength", "is below minLength");
      content = use("char") + (hi < 0 ? (lo == 0 ? "*" : fmt::format("{{{},}}", lo))
                                      : fmt::format("{{{},{}}}", lo, hi));
    }
    return fmt::format("\"\\\"\" {} \"\\\"\"", content);
  }

  // A bound as an integer: minimum/exclusiveMinimum (sign +1) rounds up, maximum down.
  std::optional<int64_t> bound(const json& s, const char* key, bool exclusive, bool lower,
                               const std::string& path) {
    if (!s.contains(key)) return std::nullopt;
    const auto& v = s.at(key);
    if (!v.is_number()) fail(path + "/" + key, "must be a number");
    double d = v.get<double>();
    if (std::abs(d) > 1e15) fail(path + "/" + key, "must be within ±1e15");
    double r = lower ? std::ceil(d) : std::floor(d);
    if (exclusive && r == d) r += lower ? 1 : -1;
    return int64_t(r);
  }

  std::string integer(const json& s, const std::string& path) {
    std::optional<int64_t> lo = bound(s, "minimum", false, true, path),
                           hi = bound(s, "maximum", false, false, path);
    if (auto x = bound(s, "exclusiveMinimum", true, true, path)) lo = lo ? std::max(*lo, *x) : *x;
    if (auto x = bound(s, "exclusiveMaximum", true, false, path)) hi = hi ? std::min(*hi, *x) : *x;
    if (!lo && !hi) return use("integer");
    if (lo && hi && *hi < *lo) fail(path, "the integer range is empty");
    std::vector<std::string> alts;
    // Negative part: "-" and the magnitudes in [max(1, -hi), -lo].
    if (!lo || *lo < 0) {
      const int64_t mlo = hi && *hi < 0 ? -*hi : 1;
      const int64_t mhi = lo ? -*lo : -1;
      alts.push_back(fmt::format("\"-\" {}", natural_range(mlo, mhi)));
    }
    if (!hi || *hi >= 0) alts.push_back(natural_range(lo && *lo > 0 ? *lo : 0, hi ? *hi : -1));
    return fmt::format("( {} )", join(alts));
  }

  std::string number(const json& s, const std::string& path) {
    for (const char* k : {"maximum", "exclusiveMinimum", "exclusiveMaximum"})
      if (s.contains(k))
        fail(path + "/" + k,
             fmt::format("'{}' on a number is not supported (integers support every bound)", k));
    if (s.contains("minimum")) {
      if (!s.at("minimum").is_number() || s.at("minimum").get<double>() != 0.0)
        fail(path + "/minimum",
             "on a number only minimum 0 is supported (integers support every bound)");
      return R"(( "0" | [1-9] [0-9]{0,15} ) ( "." [0-9]{1,16} )? ( [eE] [-+]? [0-9]{1,2} )?)";
    }
    return use("number");
  }

  const json* root_ = nullptr;
  std::string where_;
  std::vector<std::pair<std::string, std::string>> rules_;
  std::set<std::string> used_, taken_{"root"};
  std::map<std::string, std::string> refs_;
};

JsonGrammar::JsonGrammar() : c_(std::make_unique<Compiler>()) {}
JsonGrammar::~JsonGrammar() = default;
std::string JsonGrammar::add(const json& schema, const std::string& name,
                             const std::string& where) {
  return c_->add(schema, name, where);
}
std::string JsonGrammar::gbnf(const std::string& root_body) const { return c_->gbnf(root_body); }

std::string json_schema_to_gbnf(const json& schema, const std::string& where) {
  JsonGrammar g;
  const std::string value = g.add(schema, "value-root", where);
  return g.gbnf(value);
}

std::string json_object_gbnf() {
  return json_schema_to_gbnf(json{{"type", "object"}}, "json_object");
}

}  // namespace vkllm::core::grammar
