#include "core/tokenizer/pipeline.h"

#include <fmt/format.h>

#include <algorithm>
#include <array>
#include <optional>
#include <queue>

#include "core/tokenizer/text.h"
#include "sdk/base/error.h"
#include "sdk/base/json_get.h"

namespace vkllm::core::tok {

Normalizer::~Normalizer() = default;
PreTokenizer::~PreTokenizer() = default;
Model::~Model() = default;
PostProcessor::~PostProcessor() = default;
Decoder::~Decoder() = default;

namespace {

[[noreturn]] void unsupported(const char* stage, const nlohmann::json& j) {
  throw ModelError(fmt::format("[tokenizer] {} type '{}' is not supported", stage,
                               j.value("type", std::string("?"))));
}

std::string str(const nlohmann::json& j, const char* key, const std::string& fallback = "") {
  return j.contains(key) && j[key].is_string() ? j[key].get<std::string>() : fallback;
}

void replace_all(std::string& s, const std::string& from, const std::string& to) {
  if (from.empty()) return;
  size_t pos = 0;
  while ((pos = s.find(from, pos)) != std::string::npos) {
    s.replace(pos, from.size(), to);
    pos += to.size();
  }
}

// A pattern block: {"String": "..."} or {"Regex": "..."}.
struct Pattern {
  std::string literal;
  std::unique_ptr<text::Regex> regex;
  explicit Pattern(const nlohmann::json& p) {
    if (p.contains("Regex")) {
      regex = std::make_unique<text::Regex>(p["Regex"].get<std::string>());
    } else if (p.contains("String")) {
      literal = p["String"].get<std::string>();
    } else {
      throw ModelError("[tokenizer] pattern needs String or Regex");
    }
  }
  std::vector<std::pair<size_t, size_t>> find_all(std::string_view s) const {
    if (regex) return regex->find_all(s);
    std::vector<std::pair<size_t, size_t>> out;
    if (literal.empty()) return out;
    size_t pos = 0;
    while ((pos = s.find(literal, pos)) != std::string::npos) {
      out.emplace_back(pos, pos + literal.size());
      pos += literal.size();
    }
    return out;
  }
};

// ---------------------------------------------------------------- normalizers
struct NormSequence : Normalizer {
  std::vector<std::unique_ptr<Normalizer>> parts;
  std::string normalize(std::string s) const override {
    for (const auto& p : parts) s = p->normalize(std::move(s));
    return s;
  }
};
struct NormUnicode : Normalizer {
  text::NormForm form;
  explicit NormUnicode(text::NormForm f) : form(f) {}
  std::string normalize(std::string s) const override { return text::normalize(s, form); }
};
struct NormLowercase : Normalizer {
  std::string normalize(std::string s) const override { return text::lowercase(s); }
};
struct NormPrepend : Normalizer {
  std::string prepend;
  std::string normalize(std::string s) const override { return s.empty() ? s : prepend + s; }
};
struct NormReplace : Normalizer {
  Pattern pattern;
  std::string content;
  explicit NormReplace(const nlohmann::json& j)
      : pattern(j.at("pattern")), content(str(j, "content")) {}
  std::string normalize(std::string s) const override {
    std::string out;
    size_t at = 0;
    for (auto [b, e] : pattern.find_all(s)) {
      out.append(s, at, b - at);
      out += content;
      at = e;
    }
    out.append(s, at, std::string::npos);
    return out;
  }
};
struct NormStrip : Normalizer {
  bool left = true, right = true;
  std::string normalize(std::string s) const override {
    auto ws = [](char c) {
      return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
    };
    size_t b = 0, e = s.size();
    if (left)
      while (b < e && ws(s[b])) ++b;
    if (right)
      while (e > b && ws(s[e - 1])) --e;
    return s.substr(b, e - b);
  }
};

// ------------------------------------------------------------ pre-tokenizers
enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };
Behavior behavior_of(const std::string& s) {
  if (s == "Removed") return Behavior::Removed;
  if (s == "Isolated") return Behavior::Isolated;
  if (s == "MergedWithPrevious") return Behavior::MergedWithPrevious;
  if (s == "MergedWithNext") return Behavior::MergedWithNext;
  if (s == "Contiguous") return Behavior::Contiguous;
  throw ModelError("[tokenizer] unknown split behavior '" + s + "'");
}

// Splits s by the matches of a pattern according to HF's SplitDelimiterBehavior.
std::vector<std::string> split_by(std::string_view s,
                                  const std::vector<std::pair<size_t, size_t>>& m,
                                  Behavior behavior, bool invert) {
  // (begin, end, is_match) segments covering s
  std::vector<std::tuple<size_t, size_t, bool>> segs;
  size_t at = 0;
  for (auto [b, e] : m) {
    if (b > at) segs.emplace_back(at, b, false);
    segs.emplace_back(b, e, true);
    at = e;
  }
  if (at < s.size()) segs.emplace_back(at, s.size(), false);
  if (invert)
    for (auto& sg : segs) std::get<2>(sg) = !std::get<2>(sg);
  std::vector<std::string> out;
  bool pending_next = false;  // MergedWithNext: the last match waits for the next piece
  bool last_was_match = false;
  for (auto [b, e, match] : segs) {
    std::string piece(s.substr(b, e - b));
    switch (behavior) {
      case Behavior::Removed:
        if (!match) out.push_back(piece);
        break;
      case Behavior::Isolated:
        out.push_back(piece);
        break;
      case Behavior::MergedWithPrevious:
        if (match && !out.empty() && !last_was_match)
          out.back() += piece;
        else
          out.push_back(piece);
        break;
      case Behavior::MergedWithNext:
        if (pending_next)
          out.back() += piece;
        else
          out.push_back(piece);
        pending_next = match;
        break;
      case Behavior::Contiguous:
        if (match && last_was_match && !out.empty())
          out.back() += piece;
        else
          out.push_back(piece);
        break;
    }
    last_was_match = match;
  }
  return out;
}

struct PreSequence : PreTokenizer {
  std::vector<std::unique_ptr<PreTokenizer>> parts;
  std::vector<Piece> split(std::vector<Piece> p) const override {
    for (const auto& part : parts) p = part->split(std::move(p));
    return p;
  }
};

struct PreSplit : PreTokenizer {
  Pattern pattern;
  Behavior behavior;
  bool invert;
  explicit PreSplit(const nlohmann::json& j)
      : pattern(j.at("pattern")),
        behavior(behavior_of(str(j, "behavior"))),
        invert(j.value("invert", false)) {}
  std::vector<Piece> split(std::vector<Piece> in) const override {
    std::vector<Piece> out;
    for (auto& p : in) {
      bool first = p.first;
      for (auto& s : split_by(p.text, pattern.find_all(p.text), behavior, invert)) {
        out.push_back({std::move(s), first});
        first = false;
      }
    }
    return out;
  }
};

const char* kGpt2Pattern =
    R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)";

struct PreByteLevel : PreTokenizer {
  bool add_prefix_space;
  std::unique_ptr<text::Regex> regex;
  explicit PreByteLevel(const nlohmann::json& j)
      : add_prefix_space(j.value("add_prefix_space", true)) {
    if (j.value("use_regex", true)) regex = std::make_unique<text::Regex>(kGpt2Pattern);
  }
  std::vector<Piece> split(std::vector<Piece> in) const override {
    std::vector<Piece> out;
    for (auto& p : in) {
      std::string s = p.text;
      if (add_prefix_space && !s.empty() && s[0] != ' ') s = " " + s;
      std::vector<std::string> parts;
      if (regex)
        parts = split_by(s, regex->find_all(s), Behavior::Isolated, false);
      else
        parts.push_back(s);
      bool first = p.first;
      for (auto& part : parts) {
        std::string mapped;
        for (unsigned char c : part) mapped += text::byte_to_unicode(c);
        out.push_back({std::move(mapped), first});
        first = false;
      }
    }
    return out;
  }
};

struct PreMetaspace : PreTokenizer {
  std::string replacement;
  std::string scheme;  // always, first, never
  bool split_pieces;
  explicit PreMetaspace(const nlohmann::json& j)
      : replacement(str(j, "replacement", "\xe2\x96\x81")), split_pieces(j.value("split", true)) {
    if (j.contains("prepend_scheme"))
      scheme = str(j, "prepend_scheme");
    else
      scheme = j.value("add_prefix_space", true) ? "always" : "never";
  }
  std::vector<Piece> split(std::vector<Piece> in) const override {
    std::vector<Piece> out;
    for (auto& p : in) {
      std::string s = p.text;
      replace_all(s, " ", replacement);
      bool prepend = scheme == "always" || (scheme == "first" && p.first);
      if (prepend && !s.starts_with(replacement)) s = replacement + s;
      if (!split_pieces) {
        out.push_back({s, p.first});
        continue;
      }
      std::vector<std::pair<size_t, size_t>> m;
      size_t pos = 0;
      while ((pos = s.find(replacement, pos)) != std::string::npos) {
        m.emplace_back(pos, pos + replacement.size());
        pos += replacement.size();
      }
      bool first = p.first;
      for (auto& part : split_by(s, m, Behavior::MergedWithNext, false)) {
        out.push_back({std::move(part), first});
        first = false;
      }
    }
    return out;
  }
};

struct PreRegexSplit : PreTokenizer {  // Whitespace, Digits, Punctuation, WhitespaceSplit
  std::unique_ptr<text::Regex> regex;
  Behavior behavior;
  bool invert;
  PreRegexSplit(const char* pattern, Behavior b, bool inv)
      : regex(std::make_unique<text::Regex>(pattern)), behavior(b), invert(inv) {}
  std::vector<Piece> split(std::vector<Piece> in) const override {
    std::vector<Piece> out;
    for (auto& p : in) {
      bool first = p.first;
      for (auto& s : split_by(p.text, regex->find_all(p.text), behavior, invert)) {
        if (s.empty()) continue;
        out.push_back({std::move(s), first});
        first = false;
      }
    }
    return out;
  }
};

// ---------------------------------------------------------------- BPE model
struct PairHash {
  size_t operator()(const std::pair<int32_t, int32_t>& p) const {
    return std::hash<uint64_t>()((uint64_t(uint32_t(p.first)) << 32) | uint32_t(p.second));
  }
};

struct Bpe : Model {
  std::unordered_map<std::string, int32_t> vocab_;
  std::unordered_map<std::pair<int32_t, int32_t>, std::pair<int32_t, int32_t>, PairHash>
      merges_;  // -> rank, id
  std::optional<int32_t> unk_;
  bool fuse_unk = false, byte_fallback = false, ignore_merges = false;
  std::string prefix, suffix;
  std::array<int32_t, 256> byte_ids{};
  mutable std::mutex mu_;
  mutable std::unordered_map<std::string, std::vector<int32_t>> cache_;

  explicit Bpe(const nlohmann::json& j) {
    for (const auto& [k, v] : j.at("vocab").items())
      vocab_[k] = json::as<int32_t>(v, "vocabulary id of '" + k + "'");
    std::string unk = str(j, "unk_token");
    if (!unk.empty()) {
      auto it = vocab_.find(unk);
      if (it != vocab_.end()) unk_ = it->second;
    }
    fuse_unk = j.value("fuse_unk", false);
    byte_fallback = j.value("byte_fallback", false);
    ignore_merges = j.value("ignore_merges", false);
    prefix = str(j, "continuing_subword_prefix");
    suffix = str(j, "end_of_word_suffix");
    byte_ids.fill(-1);
    if (byte_fallback) {
      for (int b = 0; b < 256; ++b) {
        auto it = vocab_.find(fmt::format("<0x{:02X}>", b));
        if (it != vocab_.end()) byte_ids[size_t(b)] = it->second;
      }
    }
    int32_t rank = 0;
    for (const auto& m : j.at("merges")) {
      std::string a, b;
      if (m.is_string()) {
        std::string s = m.get<std::string>();
        size_t sp = s.find(' ', 1);  // the first token may itself be a space-free string
        if (sp == std::string::npos) throw ModelError("[tokenizer] merge '" + s + "' has no space");
        a = s.substr(0, sp);
        b = s.substr(sp + 1);
      } else {
        a = m.at(0).get<std::string>();
        b = m.at(1).get<std::string>();
      }
      auto ia = vocab_.find(a), ib = vocab_.find(b);
      std::string merged =
          a + (b.starts_with(prefix) && !prefix.empty() ? b.substr(prefix.size()) : b);
      auto im = vocab_.find(merged);
      if (ia == vocab_.end() || ib == vocab_.end() || im == vocab_.end()) {
        throw ModelError(
            fmt::format("[tokenizer] merge '{} {}' uses tokens missing from the vocabulary", a, b));
      }
      merges_.emplace(std::make_pair(ia->second, ib->second), std::make_pair(rank++, im->second));
    }
  }

  const std::unordered_map<std::string, int32_t>& vocab() const override { return vocab_; }

  void tokenize(const std::string& piece, std::vector<int32_t>& out) const override {
    if (piece.empty()) return;
    {
      std::lock_guard lock(mu_);
      auto it = cache_.find(piece);
      if (it != cache_.end()) {
        out.insert(out.end(), it->second.begin(), it->second.end());
        return;
      }
    }
    std::vector<int32_t> ids = merge(piece);
    out.insert(out.end(), ids.begin(), ids.end());
    std::lock_guard lock(mu_);
    if (cache_.size() > 200000) cache_.clear();
    cache_.emplace(piece, std::move(ids));
  }

  std::vector<int32_t> merge(const std::string& piece) const {
    if (ignore_merges) {
      auto it = vocab_.find(piece);
      if (it != vocab_.end()) return {it->second};
    }
    // Initial symbols: characters (with subword prefix/suffix), unknowns as bytes or unk.
    std::vector<int32_t> sym;
    auto chars = text::utf8_chars(piece);
    bool last_unk = false;
    for (size_t i = 0; i < chars.size(); ++i) {
      std::string c(chars[i]);
      if (i > 0 && !prefix.empty()) c = prefix + c;
      if (i + 1 == chars.size() && !suffix.empty()) c += suffix;
      auto it = vocab_.find(c);
      if (it != vocab_.end()) {
        sym.push_back(it->second);
        last_unk = false;
      } else if (byte_fallback && std::all_of(chars[i].begin(), chars[i].end(),
                                              [&](char b) { return byte_ids[uint8_t(b)] >= 0; })) {
        for (unsigned char b : chars[i]) sym.push_back(byte_ids[b]);
        last_unk = false;
      } else if (unk_) {
        if (!(fuse_unk && last_unk)) sym.push_back(*unk_);
        last_unk = true;
      } else {
        throw InputError(
            fmt::format("[tokenizer] character '{}' is not in the vocabulary and the "
                        "tokenizer has no unknown token",
                        std::string(chars[i])));
      }
    }
    // Merge the lowest-ranked adjacent pair (leftmost on ties) until none applies, with a heap
    // of candidate pairs over a linked list of symbols: O(n log n) for long pieces.
    const size_t n = sym.size();
    if (n < 2) return sym;
    std::vector<int32_t> prev(n), next(n);
    std::vector<bool> alive(n, true);
    for (size_t i = 0; i < n; ++i) {
      prev[i] = int32_t(i) - 1;
      next[i] = i + 1 < n ? int32_t(i + 1) : -1;
    }
    struct Cand {
      int32_t rank, pos, left, right, id;
      bool operator>(const Cand& o) const { return rank != o.rank ? rank > o.rank : pos > o.pos; }
    };
    std::priority_queue<Cand, std::vector<Cand>, std::greater<Cand>> heap;
    auto push = [&](int32_t i) {
      if (i < 0 || next[size_t(i)] < 0) return;
      int32_t j = next[size_t(i)];
      auto it = merges_.find({sym[size_t(i)], sym[size_t(j)]});
      if (it != merges_.end())
        heap.push({it->second.first, i, sym[size_t(i)], sym[size_t(j)], it->second.second});
    };
    for (size_t i = 0; i + 1 < n; ++i) push(int32_t(i));
    while (!heap.empty()) {
      Cand c = heap.top();
      heap.pop();
      size_t i = size_t(c.pos);
      int32_t j = next[i];
      if (!alive[i] || j < 0 || sym[i] != c.left || sym[size_t(j)] != c.right) continue;  // stale
      sym[i] = c.id;
      alive[size_t(j)] = false;
      next[i] = next[size_t(j)];
      if (next[i] >= 0) prev[size_t(next[i])] = int32_t(i);
      push(prev[i]);
      push(int32_t(i));
    }
    std::vector<int32_t> out;
    for (int32_t i = 0; i >= 0; i = next[size_t(i)]) out.push_back(sym[size_t(i)]);
    return out;
  }
};

// ------------------------------------------------------------ post-processors
struct PostIdentity : PostProcessor {
  std::vector<int32_t> process(std::vector<int32_t> ids) const override { return ids; }
};
struct PostSequence : PostProcessor {
  std::vector<std::unique_ptr<PostProcessor>> parts;
  std::vector<int32_t> process(std::vector<int32_t> ids) const override {
    for (const auto& p : parts) ids = p->process(std::move(ids));
    return ids;
  }
};
struct PostTemplate : PostProcessor {
  std::vector<std::vector<int32_t>> before, after;  // special ids around sequence A
  bool has_a = false;
  explicit PostTemplate(const nlohmann::json& j) {
    std::unordered_map<std::string, std::vector<int32_t>> specials;
    if (j.contains("special_tokens")) {
      for (const auto& [k, v] : j["special_tokens"].items())
        specials[k] =
            json::as<std::vector<int32_t>>(v.at("ids"), "post_processor special token '" + k + "'");
    }
    for (const auto& item : j.at("single")) {
      if (item.contains("SpecialToken")) {
        std::string id = item["SpecialToken"].at("id").get<std::string>();
        auto it = specials.find(id);
        if (it == specials.end())
          throw ModelError("[tokenizer] template names unknown special token '" + id + "'");
        (has_a ? after : before).push_back(it->second);
      } else if (item.contains("Sequence")) {
        has_a = true;
      }
    }
  }
  std::vector<int32_t> process(std::vector<int32_t> ids) const override {
    std::vector<int32_t> out;
    for (const auto& b : before) out.insert(out.end(), b.begin(), b.end());
    out.insert(out.end(), ids.begin(), ids.end());
    for (const auto& a : after) out.insert(out.end(), a.begin(), a.end());
    return out;
  }
};
struct PostClsSep : PostProcessor {  // BertProcessing / RobertaProcessing
  int32_t cls, sep;
  explicit PostClsSep(const nlohmann::json& j)
      : cls(json::as<int32_t>(j.at("cls").at(1), "post_processor cls")),
        sep(json::as<int32_t>(j.at("sep").at(1), "post_processor sep")) {}
  std::vector<int32_t> process(std::vector<int32_t> ids) const override {
    ids.insert(ids.begin(), cls);
    ids.push_back(sep);
    return ids;
  }
};

// ------------------------------------------------------------------ decoders
struct DecSequence : Decoder {
  std::vector<std::unique_ptr<Decoder>> parts;
  std::vector<std::string> decode(std::vector<std::string> t) const override {
    for (const auto& p : parts) t = p->decode(std::move(t));
    return t;
  }
  std::string piece(std::string t) const override {
    for (const auto& p : parts) t = p->piece(std::move(t));
    return t;
  }
};
struct DecByteLevel : Decoder {
  std::vector<std::string> decode(std::vector<std::string> tokens) const override {
    std::string bytes;
    for (auto& t : tokens) bytes += piece(std::move(t));
    return {text::utf8_lossy(bytes)};
  }
  std::string piece(std::string t) const override {
    std::string bytes;
    for (auto ch : text::utf8_chars(t)) {
      int b = text::unicode_to_byte(ch);
      if (b >= 0)
        bytes += char(b);
      else
        bytes.append(ch);
    }
    return bytes;
  }
};
struct DecReplace : Decoder {
  Pattern pattern;
  std::string content;
  explicit DecReplace(const nlohmann::json& j)
      : pattern(j.at("pattern")), content(str(j, "content")) {}
  std::vector<std::string> decode(std::vector<std::string> tokens) const override {
    for (auto& t : tokens) {
      std::string out;
      size_t at = 0;
      for (auto [b, e] : pattern.find_all(t)) {
        out.append(t, at, b - at);
        out += content;
        at = e;
      }
      out.append(t, at, std::string::npos);
      t = std::move(out);
    }
    return tokens;
  }
};
struct DecByteFallback : Decoder {
  static int byte_of(const std::string& t) {
    if (t.size() != 6 || !t.starts_with("<0x") || t[5] != '>') return -1;
    int v = 0;
    for (int i = 3; i < 5; ++i) {
      char c = t[size_t(i)];
      int d = (c >= '0' && c <= '9') ? c - '0' : (c >= 'A' && c <= 'F') ? c - 'A' + 10 : -1;
      if (d < 0) return -1;
      v = v * 16 + d;
    }
    return v;
  }
  std::string piece(std::string t) const override {
    int b = byte_of(t);
    return b >= 0 ? std::string(1, char(b)) : t;
  }
  std::vector<std::string> decode(std::vector<std::string> tokens) const override {
    std::vector<std::string> out;
    std::string run;
    size_t run_len = 0;
    auto flush = [&] {
      if (run_len == 0) return;
      if (text::is_valid_utf8(run)) {
        out.push_back(run);
      } else {
        for (size_t i = 0; i < run_len; ++i) out.emplace_back("\xef\xbf\xbd");
      }
      run.clear();
      run_len = 0;
    };
    for (auto& t : tokens) {
      if (int v = byte_of(t); v >= 0) {
        run += char(v);
        ++run_len;
        continue;
      }
      flush();
      out.push_back(std::move(t));
    }
    flush();
    return out;
  }
};
struct DecFuse : Decoder {
  std::vector<std::string> decode(std::vector<std::string> tokens) const override {
    std::string s;
    for (auto& t : tokens) s += t;
    return {s};
  }
};
struct DecStrip : Decoder {
  std::string content;
  size_t start, stop;
  explicit DecStrip(const nlohmann::json& j)
      : content(str(j, "content", " ")),
        start(json::get_or<uint32_t>(j, "start", 0u, "decoder Strip")),
        stop(json::get_or<uint32_t>(j, "stop", 0u, "decoder Strip")) {}
  std::vector<std::string> decode(std::vector<std::string> tokens) const override {
    for (auto& t : tokens) {
      for (size_t i = 0; i < start && t.starts_with(content); ++i) t.erase(0, content.size());
      for (size_t i = 0; i < stop && t.ends_with(content); ++i) t.erase(t.size() - content.size());
    }
    return tokens;
  }
  std::string piece(std::string t) const override { return t; }  // strips only the text's ends
};
struct DecMetaspace : Decoder {
  std::string replacement;
  bool strip_first;
  explicit DecMetaspace(const nlohmann::json& j)
      : replacement(str(j, "replacement", "\xe2\x96\x81")) {
    std::string scheme = j.contains("prepend_scheme")
                             ? str(j, "prepend_scheme")
                             : (j.value("add_prefix_space", true) ? "always" : "never");
    strip_first = scheme != "never";
  }
  std::vector<std::string> decode(std::vector<std::string> tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i) {
      replace_all(tokens[i], replacement, " ");
      if (i == 0 && strip_first && tokens[i].starts_with(' ')) tokens[i].erase(0, 1);
    }
    return tokens;
  }
  std::string piece(std::string t) const override {
    replace_all(t, replacement, " ");
    return t;
  }
};

}  // namespace

std::unique_ptr<Normalizer> Normalizer::from_json(const nlohmann::json& j) {
  if (j.is_null()) return nullptr;
  std::string type = str(j, "type");
  if (type == "Sequence") {
    auto s = std::make_unique<NormSequence>();
    for (const auto& p : j.at("normalizers")) s->parts.push_back(from_json(p));
    return s;
  }
  if (type == "NFC") return std::make_unique<NormUnicode>(text::NormForm::NFC);
  if (type == "NFD") return std::make_unique<NormUnicode>(text::NormForm::NFD);
  if (type == "NFKC") return std::make_unique<NormUnicode>(text::NormForm::NFKC);
  if (type == "NFKD") return std::make_unique<NormUnicode>(text::NormForm::NFKD);
  if (type == "Lowercase") return std::make_unique<NormLowercase>();
  if (type == "Prepend") {
    auto p = std::make_unique<NormPrepend>();
    p->prepend = str(j, "prepend");
    return p;
  }
  if (type == "Replace") return std::make_unique<NormReplace>(j);
  if (type == "Strip") {
    auto p = std::make_unique<NormStrip>();
    p->left = j.value("strip_left", true);
    p->right = j.value("strip_right", true);
    return p;
  }
  unsupported("normalizer", j);
}

std::unique_ptr<PreTokenizer> PreTokenizer::from_json(const nlohmann::json& j) {
  if (j.is_null()) return nullptr;
  std::string type = str(j, "type");
  if (type == "Sequence") {
    auto s = std::make_unique<PreSequence>();
    for (const auto& p : j.at("pretokenizers")) s->parts.push_back(from_json(p));
    return s;
  }
  if (type == "Split") return std::make_unique<PreSplit>(j);
  if (type == "ByteLevel") return std::make_unique<PreByteLevel>(j);
  if (type == "Metaspace") return std::make_unique<PreMetaspace>(j);
  if (type == "Whitespace")
    return std::make_unique<PreRegexSplit>(R"(\w+|[^\w\s]+)", Behavior::Removed, true);
  if (type == "WhitespaceSplit")
    return std::make_unique<PreRegexSplit>(R"(\s+)", Behavior::Removed, false);
  if (type == "Digits") {
    return std::make_unique<PreRegexSplit>(
        j.value("individual_digits", false) ? R"(\p{N})" : R"(\p{N}+)", Behavior::Isolated, false);
  }
  if (type == "Punctuation") {
    return std::make_unique<PreRegexSplit>(R"(\p{P})", behavior_of(str(j, "behavior", "Isolated")),
                                           false);
  }
  unsupported("pre-tokenizer", j);
}

std::unique_ptr<Model> Model::from_json(const nlohmann::json& j) {
  std::string type = str(j, "type", "BPE");
  if (type == "BPE") return std::make_unique<Bpe>(j);
  unsupported("model", j);
}

std::unique_ptr<PostProcessor> PostProcessor::from_json(const nlohmann::json& j) {
  if (j.is_null()) return std::make_unique<PostIdentity>();
  std::string type = str(j, "type");
  if (type == "Sequence") {
    auto s = std::make_unique<PostSequence>();
    for (const auto& p : j.at("processors")) s->parts.push_back(from_json(p));
    return s;
  }
  if (type == "TemplateProcessing") return std::make_unique<PostTemplate>(j);
  if (type == "ByteLevel") return std::make_unique<PostIdentity>();
  if (type == "BertProcessing" || type == "RobertaProcessing")
    return std::make_unique<PostClsSep>(j);
  unsupported("post-processor", j);
}

std::string Decoder::piece(std::string token) const {
  std::string out;
  for (auto& t : decode({std::move(token)})) out += t;
  return out;
}

std::unique_ptr<Decoder> Decoder::from_json(const nlohmann::json& j) {
  if (j.is_null()) return nullptr;
  std::string type = str(j, "type");
  if (type == "Sequence") {
    auto s = std::make_unique<DecSequence>();
    for (const auto& p : j.at("decoders")) s->parts.push_back(from_json(p));
    return s;
  }
  if (type == "ByteLevel") return std::make_unique<DecByteLevel>();
  if (type == "Replace") return std::make_unique<DecReplace>(j);
  if (type == "ByteFallback") return std::make_unique<DecByteFallback>();
  if (type == "Fuse") return std::make_unique<DecFuse>();
  if (type == "Strip") return std::make_unique<DecStrip>(j);
  if (type == "Metaspace") return std::make_unique<DecMetaspace>(j);
  unsupported("decoder", j);
}

}  // namespace vkllm::core::tok
