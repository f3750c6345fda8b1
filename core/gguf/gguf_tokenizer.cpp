#include "core/gguf/gguf_tokenizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <optional>
#include <unordered_map>
#include <vector>

#include "registry/registry.h"
#include "sdk/base/error.h"

namespace vkllm::core {
namespace {

struct PreTokenizer {
  std::string name;  // llama.cpp's
  std::string regex;
  bool ignore_merges = false;
};

// The pre-tokenizer that `name` (llama.cpp's name or an alias) stands for, from the registry's
// gguf_tokenizers.json.
std::optional<PreTokenizer> find_pre(const std::string& name) {
  for (const auto& e : registry::gguf_tokenizers().at("byte_level")) {
    const auto& names = e.at("names");
    for (const auto& n : names)
      if (n == name)
        return PreTokenizer{names.at(0).get<std::string>(), e.at("regex").get<std::string>(),
                            e.value("ignore_merges", false)};
  }
  return std::nullopt;
}

std::string known_names() {
  std::string s;
  for (const auto& e : registry::gguf_tokenizers().at("byte_level"))
    for (const auto& n : e.at("names")) s += (s.empty() ? "" : ", ") + n.get<std::string>();
  return s;
}

nlohmann::json special_token(const std::string& content) {
  return {{"id", content}, {"type_id", 0}};
}

}  // namespace

std::string byte_level_pre_name(const std::string& regex) {
  for (const auto& e : registry::gguf_tokenizers().at("byte_level"))
    if (e.at("regex") == regex) return e.at("names").at(0).get<std::string>();
  return "";
}

namespace {

// The vocabulary's tokens and llama.cpp token types (1 normal, 2 unknown, 3 control, 4 user
// defined, 5 unused, 6 byte), checked.
struct Vocab {
  std::vector<std::string> tokens;
  std::vector<int> types;
  std::optional<int64_t> bos, eos, unk;
  bool add_bos = false;
};

Vocab read_vocab(const sdk::GgufFile& f, bool add_bos_default) {
  Vocab v;
  const auto& tokens = f.array("tokenizer.ggml.tokens");
  const nlohmann::json* types =
      f.has("tokenizer.ggml.token_type") ? &f.array("tokenizer.ggml.token_type") : nullptr;
  if (types && types->size() != tokens.size())
    throw ModelError(fmt::format("{}: tokenizer.ggml.token_type has {} entries for {} tokens",
                                 f.path(), types->size(), tokens.size()));
  for (size_t i = 0; i < tokens.size(); ++i) {
    if (!tokens[i].is_string())
      throw ModelError(fmt::format("{}: tokenizer.ggml.tokens[{}] is not a string", f.path(), i));
    v.tokens.push_back(tokens[i].get<std::string>());
    int type = 1;
    if (types) {
      if (!(*types)[i].is_number_integer())
        throw ModelError(
            fmt::format("{}: tokenizer.ggml.token_type[{}] is not an integer", f.path(), i));
      type = (*types)[i].get<int>();
    }
    v.types.push_back(type);
  }
  const int64_t n = int64_t(v.tokens.size());
  auto id_key = [&](const char* k) -> std::optional<int64_t> {
    if (!f.has(k)) return std::nullopt;
    return f.integer_in(k, 0, n - 1);
  };
  v.bos = id_key("tokenizer.ggml.bos_token_id");
  v.eos = id_key("tokenizer.ggml.eos_token_id");
  v.unk = id_key("tokenizer.ggml.unknown_token_id");
  v.add_bos =
      v.bos && (f.has("tokenizer.ggml.add_bos_token") ? f.boolean("tokenizer.ggml.add_bos_token")
                                                      : add_bos_default);
  return v;
}

// Control, user-defined and unknown tokens as added tokens (matched whole in text).
nlohmann::json added_tokens(const Vocab& v) {
  nlohmann::json added = nlohmann::json::array();
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    const int type = v.types[i];
    if (type != 2 && type != 3 && type != 4) continue;
    added.push_back({{"id", i},
                     {"content", v.tokens[i]},
                     {"single_word", false},
                     {"lstrip", false},
                     {"rstrip", false},
                     {"normalized", false},
                     {"special", type != 4}});
  }
  return added;
}

// tokenizer_config.json: BOS/EOS by name, whether BOS is added, the chat template.
nlohmann::json config_of(const sdk::GgufFile& f, const Vocab& v) {
  nlohmann::json c = nlohmann::json::object();
  if (v.bos) c["bos_token"] = v.tokens[size_t(*v.bos)];
  if (v.eos) c["eos_token"] = v.tokens[size_t(*v.eos)];
  c["add_bos_token"] = v.add_bos;
  if (f.has("tokenizer.chat_template")) c["chat_template"] = f.string("tokenizer.chat_template");
  return c;
}

nlohmann::json bos_processor(const Vocab& v) {
  if (!v.add_bos) return nullptr;
  const std::string b = v.tokens[size_t(*v.bos)];
  const nlohmann::json seq_a = {{"Sequence", {{"id", "A"}, {"type_id", 0}}}},
                       seq_b = {{"Sequence", {{"id", "B"}, {"type_id", 1}}}},
                       bos = {{"SpecialToken", special_token(b)}};
  return {{"type", "TemplateProcessing"},
          {"single", {bos, seq_a}},
          {"pair", {bos, seq_a, bos, seq_b}},
          {"special_tokens", {{b, {{"id", b}, {"ids", {*v.bos}}, {"tokens", {b}}}}}}};
}

// Byte offsets of the UTF-8 characters of s (and s.size()).
std::vector<size_t> char_bounds(const std::string& s) {
  std::vector<size_t> b;
  for (size_t i = 0; i < s.size(); ++i)
    if ((static_cast<unsigned char>(s[i]) & 0xc0) != 0x80) b.push_back(i);
  b.push_back(s.size());
  return b;
}

// SentencePiece (registry: models.sentencepiece): llama.cpp merges the adjacent pair whose
// concatenation is the token of highest score. As BPE merges: every split of a normal token into
// two tokens, ranked by that token's score (ties by id, then split point).
nlohmann::json spm_model(const sdk::GgufFile& f, const Vocab& v) {
  const auto& scores = f.array("tokenizer.ggml.scores");
  if (scores.size() != v.tokens.size())
    throw ModelError(fmt::format("{}: tokenizer.ggml.scores has {} entries for {} tokens", f.path(),
                                 scores.size(), v.tokens.size()));
  std::unordered_map<std::string, int64_t> id;
  nlohmann::json vocab = nlohmann::json::object();
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    if (!scores[i].is_number())
      throw ModelError(fmt::format("{}: tokenizer.ggml.scores[{}] is not a number", f.path(), i));
    if (v.types[i] == 5) continue;
    vocab[v.tokens[i]] = i;
    // Merges may make normal and user-defined tokens (runs of spaces can be both added tokens
    // and merge results), as llama.cpp looks every piece up.
    if (v.types[i] == 1 || v.types[i] == 4) id.emplace(v.tokens[i], int64_t(i));
  }
  struct Merge {
    float score;
    int64_t token;
    size_t at;
  };
  std::vector<Merge> merges;
  for (const auto& [tok, i] : id) {
    const auto bounds = char_bounds(tok);
    for (size_t k = 1; k + 1 < bounds.size(); ++k)
      if (id.count(tok.substr(0, bounds[k])) && id.count(tok.substr(bounds[k])))
        merges.push_back({scores[size_t(i)].get<float>(), i, bounds[k]});
  }
  std::sort(merges.begin(), merges.end(), [](const Merge& a, const Merge& b) {
    if (a.score != b.score) return a.score > b.score;
    return a.token != b.token ? a.token < b.token : a.at < b.at;
  });
  nlohmann::json m = nlohmann::json::array();
  for (const auto& x : merges) {
    const std::string& t = v.tokens[size_t(x.token)];
    m.push_back(nlohmann::json::array({t.substr(0, x.at), t.substr(x.at)}));
  }
  nlohmann::json model = {{"type", "BPE"},         {"vocab", vocab},   {"merges", m},
                          {"byte_fallback", true}, {"fuse_unk", true}, {"dropout", nullptr},
                          {"ignore_merges", false}};
  std::optional<int64_t> unk = v.unk;
  for (size_t i = 0; !unk && i < v.types.size(); ++i)
    if (v.types[i] == 2) unk = int64_t(i);
  model["unk_token"] = unk ? nlohmann::json(v.tokens[size_t(*unk)]) : nlohmann::json(nullptr);
  return model;
}

}  // namespace

std::optional<GgufTokenizerFiles> tokenizer_from_gguf(const sdk::GgufFile& f) {
  if (!f.has("tokenizer.ggml.model")) return std::nullopt;
  const std::string model = f.string("tokenizer.ggml.model");
  const auto& models = registry::gguf_tokenizers().at("models");
  const std::string bpe = models.at("byte_level"), spm = models.at("sentencepiece");
  if (model != bpe && model != spm)
    throw ModelError(fmt::format(
        "{}: tokenizer.ggml.model '{}' is not supported (byte-level BPE '{}' and SentencePiece "
        "'{}' are)",
        f.path(), model, bpe, spm));
  GgufTokenizerFiles out;
  nlohmann::json& j = out.tokenizer;
  j["version"] = "1.0";
  if (model == spm) {
    // llama.cpp adds BOS to SentencePiece vocabularies unless the file says otherwise.
    const Vocab v = read_vocab(f, true);
    const bool space_prefix =
        !f.has("tokenizer.ggml.add_space_prefix") || f.boolean("tokenizer.ggml.add_space_prefix");
    nlohmann::json norm = {
        {"type", "Replace"}, {"pattern", {{"String", " "}}}, {"content", "\u2581"}};
    j["normalizer"] =
        space_prefix
            ? nlohmann::json{{"type", "Sequence"},
                             {"normalizers", {{{"type", "Prepend"}, {"prepend", "\u2581"}}, norm}}}
            : norm;
    j["pre_tokenizer"] = nullptr;
    nlohmann::json dec = {
        {{"type", "Replace"}, {"pattern", {{"String", "\u2581"}}}, {"content", " "}},
        {{"type", "ByteFallback"}},
        {{"type", "Fuse"}}};
    if (space_prefix)
      dec.push_back({{"type", "Strip"}, {"content", " "}, {"start", 1}, {"stop", 0}});
    j["decoder"] = {{"type", "Sequence"}, {"decoders", dec}};
    j["model"] = spm_model(f, v);
    j["added_tokens"] = added_tokens(v);
    j["post_processor"] = bos_processor(v);
    out.config = config_of(f, v);
    return out;
  }
  const std::string pre_name =
      f.has("tokenizer.ggml.pre") ? f.string("tokenizer.ggml.pre") : std::string("default");
  const auto pre = find_pre(pre_name);
  if (!pre)
    throw ModelError(
        fmt::format("{}: tokenizer.ggml.pre '{}' is not a pre-tokenizer this build "
                    "knows ({})",
                    f.path(), pre_name, known_names()));
  // llama.cpp adds BOS to byte-level vocabularies only when the file asks.
  const Vocab v = read_vocab(f, false);
  nlohmann::json vocab = nlohmann::json::object();
  for (size_t i = 0; i < v.tokens.size(); ++i)
    if (v.types[i] != 5) vocab[v.tokens[i]] = i;
  nlohmann::json merges = nlohmann::json::array();
  if (f.has("tokenizer.ggml.merges"))
    for (const auto& m : f.array("tokenizer.ggml.merges")) {
      if (!m.is_string() || m.get<std::string>().find(' ') == std::string::npos)
        throw ModelError(
            fmt::format("{}: tokenizer.ggml.merges holds an entry that is not \"a b\"", f.path()));
      merges.push_back(m);
    }
  const nlohmann::json byte_level = {{"type", "ByteLevel"},
                                     {"add_prefix_space", false},
                                     {"trim_offsets", false},
                                     {"use_regex", false}};
  j["normalizer"] = nullptr;
  j["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers",
                         {{{"type", "Split"},
                           {"pattern", {{"Regex", pre->regex}}},
                           {"behavior", "Isolated"},
                           {"invert", false}},
                          byte_level}}};
  j["decoder"] = byte_level;
  j["model"] = {{"type", "BPE"},
                {"vocab", vocab},
                {"merges", merges},
                {"byte_fallback", false},
                {"ignore_merges", pre->ignore_merges}};
  j["added_tokens"] = added_tokens(v);
  j["post_processor"] = bos_processor(v);
  out.config = config_of(f, v);
  return out;
}

}  // namespace vkllm::core
