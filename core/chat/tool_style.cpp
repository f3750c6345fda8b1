#include "core/chat/tool_style.h"

#include <fmt/format.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <random>

#include "registry/registry.h"
#include "sdk/base/error.h"

namespace vkllm::core::chat {

using nlohmann::ordered_json;

ToolStyle tool_style_for(const std::string& t) {
  for (const auto& st : registry::tool_styles().at("styles")) {
    bool match = !st.contains("template_contains");
    for (const auto& needle : st.value("template_contains", nlohmann::json::array()))
      match = match || t.find(needle.get<std::string>()) != std::string::npos;
    if (!match) continue;
    ToolStyle s;
    s.name = st.at("name").get<std::string>();
    s.start = st.value("start", "");
    s.end = st.value("end", "");
    s.list = st.value("list", false);
    s.whole_reply = st.value("whole_reply", false);
    s.python = st.value("python", false);
    s.args_key = st.value("args_key", "arguments");
    s.template_renders_tools =
        st.value("renders_tools", "yes") != "auto" || t.find("tools") != std::string::npos;
    return s;
  }
  throw InternalError("[registry] tool_styles.json has no fallback style");
}

std::string tools_instructions(const ToolStyle& style, const ordered_json& tools) {
  std::string list;
  for (const auto& t : tools) list += t.dump() + "\n";
  std::string how;
  if (style.python) {
    how =
        "To call a function, reply with only\n```tool_code\nfunction_name(argument=value, "
        "...)\n```";
  } else {
    how = fmt::format(
        "To call a function, reply with\n{}\n{{\"name\": <function-name>, \"{}\": "
        "<arguments-json-object>}}\n{}",
        style.start, style.args_key, style.end);
  }
  return fmt::format("You can call these functions:\n{}\n{}", list, how);
}

namespace {

// A python literal (str, int, float, True/False/None, list, tuple, dict) as JSON.
class PyLiteral {
 public:
  explicit PyLiteral(std::string_view s) : s_(s) {}
  size_t pos() const { return p_; }
  void ws() {
    while (p_ < s_.size() && std::isspace(static_cast<unsigned char>(s_[p_]))) ++p_;
  }
  bool eat(char c) {
    ws();
    if (p_ < s_.size() && s_[p_] == c) return ++p_, true;
    return false;
  }
  std::optional<std::string> identifier() {
    ws();
    size_t b = p_;
    while (p_ < s_.size() &&
           (std::isalnum(static_cast<unsigned char>(s_[p_])) || s_[p_] == '_' || s_[p_] == '.'))
      ++p_;
    if (b == p_) return std::nullopt;
    return std::string(s_.substr(b, p_ - b));
  }
  std::optional<ordered_json> value(int depth = 0) {
    ws();
    if (p_ >= s_.size() || depth > 64) return std::nullopt;
    const char c = s_[p_];
    if (c == '"' || c == '\'') return string();
    if (c == '[' || c == '(') {
      const char close = c == '[' ? ']' : ')';
      ++p_;
      ordered_json a = ordered_json::array();
      if (eat(close)) return a;
      do {
        if (auto v = value(depth + 1))
          a.push_back(*v);
        else
          return std::nullopt;
      } while (eat(','));
      if (!eat(close)) return std::nullopt;
      return a;
    }
    if (c == '{') {
      ++p_;
      ordered_json o = ordered_json::object();
      if (eat('}')) return o;
      do {
        auto k = value(depth + 1);
        if (!k || !k->is_string() || !eat(':')) return std::nullopt;
        auto v = value(depth + 1);
        if (!v) return std::nullopt;
        o[k->get<std::string>()] = *v;
      } while (eat(','));
      if (!eat('}')) return std::nullopt;
      return o;
    }
    size_t b = p_;
    while (p_ < s_.size() && (std::isalnum(static_cast<unsigned char>(s_[p_])) || s_[p_] == '.' ||
                              s_[p_] == '-' || s_[p_] == '+' || s_[p_] == '_'))
      ++p_;
    std::string word(s_.substr(b, p_ - b));
    if (word == "True" || word == "true") return ordered_json(true);
    if (word == "False" || word == "false") return ordered_json(false);
    if (word == "None" || word == "null") return ordered_json(nullptr);
    auto n = ordered_json::parse(word, nullptr, false);
    if (n.is_discarded() || !n.is_number()) return std::nullopt;
    return n;
  }

 private:
  std::optional<ordered_json> string() {
    const char q = s_[p_++];
    std::string out;
    while (p_ < s_.size() && s_[p_] != q) {
      char c = s_[p_++];
      if (c == '\\' && p_ < s_.size()) {
        char e = s_[p_++];
        c = e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e;
      }
      out += c;
    }
    if (p_ >= s_.size()) return std::nullopt;
    ++p_;
    return ordered_json(out);
  }
  std::string_view s_;
  size_t p_ = 0;
};

std::optional<ToolCall> call_from_json(const ordered_json& o) {
  if (!o.is_object()) return std::nullopt;
  // {"name", "arguments"|"parameters"} or OpenAI's {"type": "function", "function": {...}}
  const ordered_json& f = o.contains("function") && o["function"].is_object() ? o["function"] : o;
  if (!f.contains("name") || !f["name"].is_string()) return std::nullopt;
  ordered_json args = ordered_json::object();
  for (const char* k : {"arguments", "parameters"}) {
    if (!f.contains(k)) continue;
    args = f[k];
    if (args.is_string()) {  // arguments already serialized
      auto parsed = ordered_json::parse(args.get<std::string>(), nullptr, false);
      if (parsed.is_discarded()) return std::nullopt;
      args = parsed;
    }
    break;
  }
  if (!args.is_object()) return std::nullopt;
  return ToolCall{new_call_id(), f["name"].get<std::string>(), args.dump()};
}

std::optional<std::vector<ToolCall>> python_calls(std::string_view body) {
  std::vector<ToolCall> out;
  PyLiteral p(body);
  bool bracketed = p.eat('[');
  do {
    auto name = p.identifier();
    if (!name || !p.eat('(')) return std::nullopt;
    ordered_json args = ordered_json::object();
    if (!p.eat(')')) {
      do {
        auto k = p.identifier();
        if (!k || !p.eat('=')) return std::nullopt;
        auto v = p.value();
        if (!v) return std::nullopt;
        args[*k] = *v;
      } while (p.eat(','));
      if (!p.eat(')')) return std::nullopt;
    }
    out.push_back({new_call_id(), *name, args.dump()});
  } while (p.eat(',') || p.eat(';'));
  if (bracketed && !p.eat(']')) return std::nullopt;
  p.ws();
  if (p.pos() != body.size()) return std::nullopt;
  return out;
}

}  // namespace

std::optional<std::vector<ToolCall>> parse_calls(std::string_view body, const ToolStyle& style) {
  // Trim whitespace and, for fenced bodies, a language tag line already consumed by start.
  while (!body.empty() && std::isspace(static_cast<unsigned char>(body.front())))
    body.remove_prefix(1);
  while (!body.empty() && std::isspace(static_cast<unsigned char>(body.back())))
    body.remove_suffix(1);
  if (body.empty()) return std::nullopt;
  std::vector<ToolCall> out;
  auto whole = ordered_json::parse(body, nullptr, false);
  if (!whole.is_discarded()) {
    if (whole.is_array()) {
      if (whole.empty()) return std::nullopt;
      for (const auto& c : whole) {
        auto call = call_from_json(c);
        if (!call) return std::nullopt;
        out.push_back(*call);
      }
      return out;
    }
    if (auto call = call_from_json(whole)) return std::vector<ToolCall>{*call};
    return std::nullopt;
  }
  // Several objects one after another (some models separate them with ';').
  size_t at = 0;
  while (at < body.size()) {
    while (at < body.size() &&
           (std::isspace(static_cast<unsigned char>(body[at])) || body[at] == ';'))
      ++at;
    if (at >= body.size()) break;
    if (body[at] != '{') {
      if (style.python) return python_calls(body);
      return std::nullopt;
    }
    // Find the end of this object by parsing prefixes at each closing brace.
    bool found = false;
    for (size_t e = body.find('}', at); e != std::string_view::npos; e = body.find('}', e + 1)) {
      auto obj = ordered_json::parse(body.substr(at, e + 1 - at), nullptr, false);
      if (obj.is_discarded()) continue;
      auto call = call_from_json(obj);
      if (!call) return std::nullopt;
      out.push_back(*call);
      at = e + 1;
      found = true;
      break;
    }
    if (!found) return style.python ? python_calls(body) : std::nullopt;
  }
  if (out.empty()) return std::nullopt;
  return out;
}

std::string new_call_id() {
  static std::atomic<uint64_t> counter{0};
  static const uint64_t seed =
      std::random_device{}() ^
      uint64_t(std::chrono::steady_clock::now().time_since_epoch().count());
  uint64_t x = seed + 0x9E3779B97F4A7C15ull * ++counter;
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
  return fmt::format("call_{:016x}{:08x}", x ^ (x >> 31), uint32_t(counter.load()));
}

}  // namespace vkllm::core::chat
