#include "core/tokenizer/tokenizer.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>
#include <fstream>

#include "core/json_file.h"
#include "core/limits.h"
#include "core/tokenizer/pipeline.h"
#include "core/tokenizer/text.h"
#include "sdk/base/error.h"
#include "sdk/base/json_get.h"

namespace vkllm::core {
namespace fs = std::filesystem;

namespace {

// A token named in tokenizer_config.json: a string or {"content": "..."}.
std::string token_name(const nlohmann::json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("content") && j["content"].is_string())
    return j["content"].get<std::string>();
  return "";
}

bool is_word_char(std::string_view ch) {
  if (ch.size() == 1) {
    char c = ch[0];
    return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
  }
  return true;  // non-ASCII letters count as word characters
}

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f';
}

}  // namespace

bool text_is_valid_utf8(std::string_view s) { return text::is_valid_utf8(s); }

Tokenizer::Tokenizer() = default;
Tokenizer::~Tokenizer() = default;

std::shared_ptr<Tokenizer> Tokenizer::from_folder(const std::string& folder) {
  fs::path dir(folder);
  fs::path tj = dir / "tokenizer.json";
  if (!fs::exists(tj)) throw ModelError(fmt::format("{}: tokenizer.json is missing", folder));
  nlohmann::json cfg;
  if (fs::exists(dir / "tokenizer_config.json"))
    cfg = read_json_file((dir / "tokenizer_config.json").string());
  auto t = from_json(read_json_file(tj.string(), limits::kTokenizerJsonBytes), cfg, tj.string());
  if (fs::exists(dir / "chat_template.jinja")) {
    std::ifstream in(dir / "chat_template.jinja");
    t->chat_template_.assign(std::istreambuf_iterator<char>(in), {});
  } else if (fs::exists(dir / "chat_template.json")) {
    auto j = read_json_file((dir / "chat_template.json").string());
    if (j.contains("chat_template") && j["chat_template"].is_string())
      t->chat_template_ = j["chat_template"];
  }
  return t;
}

std::shared_ptr<Tokenizer> Tokenizer::from_json(const nlohmann::json& j, const nlohmann::json& cfg,
                                                const std::string& where) {
  std::shared_ptr<Tokenizer> t(new Tokenizer());
  try {
    if (!j.is_object() || !j.contains("model")) throw ModelError("no \"model\" block");
    t->normalizer_ = tok::Normalizer::from_json(j.value("normalizer", nlohmann::json()));
    t->pre_tokenizer_ = tok::PreTokenizer::from_json(j.value("pre_tokenizer", nlohmann::json()));
    t->model_ = tok::Model::from_json(j["model"]);
    t->post_ = tok::PostProcessor::from_json(j.value("post_processor", nlohmann::json()));
    t->decoder_ = tok::Decoder::from_json(j.value("decoder", nlohmann::json()));
    // Ids index dense tables: bound them (and the entry counts) before allocating.
    auto check_id = [](int64_t id, const char* what) {
      if (id < 0 || uint64_t(id) >= limits::kVocabEntries) {
        throw ModelError(fmt::format("{} id {} is outside [0, {}) (the vocabulary limit)", what, id,
                                     limits::kVocabEntries));
      }
    };
    if (t->model_->vocab().size() > limits::kVocabEntries) {
      throw ModelError(fmt::format("{} vocabulary entries is more than the limit of {}",
                                   t->model_->vocab().size(), limits::kVocabEntries));
    }
    int32_t max_id = -1;
    for (const auto& [k, v] : t->model_->vocab()) {
      check_id(v, "vocabulary");
      max_id = std::max(max_id, v);
    }
    if (j.contains("added_tokens")) {
      if (!j["added_tokens"].is_array() || j["added_tokens"].size() > limits::kVocabEntries)
        throw ModelError("\"added_tokens\" is not an array within the vocabulary limit");
      for (const auto& a : j["added_tokens"]) {
        AddedToken at;
        int64_t id = json::as<int64_t>(a.at("id"), "added token id");
        check_id(id, "added token");
        at.id = int32_t(id);
        at.content = a.at("content").get<std::string>();
        at.special = a.value("special", false);
        at.normalized = a.value("normalized", false);
        at.lstrip = a.value("lstrip", false);
        at.rstrip = a.value("rstrip", false);
        at.single_word = a.value("single_word", false);
        max_id = std::max(max_id, at.id);
        t->added_.push_back(std::move(at));
      }
    }
    t->id_to_token_.assign(size_t(max_id + 1), std::string());
    t->special_.assign(size_t(max_id + 1), false);
    t->added_flag_.assign(size_t(max_id + 1), false);
    for (const auto& [k, v] : t->model_->vocab()) {
      t->id_to_token_[size_t(v)] = k;
      t->token_to_id_[k] = v;
    }
    for (const auto& a : t->added_) {
      t->id_to_token_[size_t(a.id)] = a.content;
      t->token_to_id_[a.content] = a.id;
      t->special_[size_t(a.id)] = a.special;
      t->added_flag_[size_t(a.id)] = true;
    }
    // Longest first, so matching prefers "<|im_start|>" over "<".
    std::stable_sort(t->added_.begin(), t->added_.end(),
                     [](const AddedToken& a, const AddedToken& b) {
                       return a.content.size() > b.content.size();
                     });
    for (uint32_t k = 0; k < t->added_.size(); ++k) {
      const auto& c = t->added_[k].content;
      if (!c.empty()) t->added_by_byte_[static_cast<unsigned char>(c[0])].push_back(k);
    }
  } catch (const ModelError& e) {
    throw ModelError(fmt::format("{}: {}", where, e.what()));
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(fmt::format("{}: {}", where, e.what()));
  }
  t->config_ = cfg;
  try {
    if (cfg.is_object()) {
      t->bos_token_ = token_name(cfg.value("bos_token", nlohmann::json()));
      t->eos_token_ = token_name(cfg.value("eos_token", nlohmann::json()));
      t->clean_up_spaces_ = cfg.value("clean_up_tokenization_spaces", false);
      if (auto id = t->token_id(t->bos_token_)) t->bos_ = *id;
      if (auto id = t->token_id(t->eos_token_)) t->eos_ = *id;
      if (cfg.contains("chat_template")) {
        const auto& ct = cfg["chat_template"];
        if (ct.is_string()) {
          t->chat_template_ = ct.get<std::string>();
        } else if (ct.is_array()) {  // [{"name": "default", "template": ...}, ...]
          for (const auto& e : ct) {
            if (e.value("name", "") == "default") t->chat_template_ = e.value("template", "");
          }
          if (t->chat_template_.empty() && !ct.empty())
            t->chat_template_ = ct[0].value("template", "");
        }
      }
    }
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(fmt::format("{} (tokenizer_config.json): {}", where, e.what()));
  }
  return t;
}

std::optional<int32_t> Tokenizer::token_id(const std::string& token) const {
  auto it = token_to_id_.find(token);
  if (it == token_to_id_.end()) return std::nullopt;
  return it->second;
}

const std::string& Tokenizer::token(int32_t id) const {
  static const std::string empty;
  if (id < 0 || size_t(id) >= id_to_token_.size()) return empty;
  return id_to_token_[size_t(id)];
}

std::string Tokenizer::token_bytes(int32_t id) const {
  if (id < 0 || size_t(id) >= id_to_token_.size()) return {};
  const std::string& t = id_to_token_[size_t(id)];  // an added token's is its content
  return added_flag_[size_t(id)] || !decoder_ ? t : decoder_->piece(t);
}

std::vector<std::string> Tokenizer::all_token_bytes() const {
  std::vector<std::string> out(id_to_token_.size());
  for (size_t id = 0; id < out.size(); ++id) out[id] = token_bytes(int32_t(id));
  return out;
}

bool Tokenizer::is_special(int32_t id) const {
  return id >= 0 && size_t(id) < special_.size() && special_[size_t(id)];
}

std::vector<int32_t> Tokenizer::encode(std::string_view input, bool add_special) const {
  if (input.size() > limits::kEncodeBytes) {
    throw InputError(fmt::format("[tokenizer] text of {} bytes is more than the {} MiB limit",
                                 input.size(), limits::kEncodeBytes >> 20));
  }
  if (size_t at = text::first_invalid_utf8(input); at != input.size())
    throw InputError(fmt::format("[tokenizer] text is not valid UTF-8 (at byte {})", at));
  // 1. Split on added tokens (leftmost, longest). Segments between them are plain text.
  struct Seg {
    std::string text;
    int32_t id = -1;  // an added token
  };
  std::vector<Seg> segs;
  std::string pending;
  size_t i = 0;
  const std::string_view s = input;
  while (i < s.size()) {
    const AddedToken* hit = nullptr;
    for (uint32_t k : added_by_byte_[static_cast<unsigned char>(s[i])]) {
      const AddedToken& a = added_[k];
      if (s.compare(i, a.content.size(), a.content) == 0) {
        if (a.single_word) {
          bool before_ok = i == 0 || !is_word_char(text::utf8_chars(s.substr(0, i)).back());
          size_t end = i + a.content.size();
          bool after_ok = end >= s.size() || !is_word_char(text::utf8_chars(s.substr(end)).front());
          if (!before_ok || !after_ok) continue;
        }
        hit = &a;
        break;
      }
    }
    if (!hit) {
      size_t n = size_t(text::utf8_len(static_cast<unsigned char>(s[i])));
      pending.append(s.substr(i, n));
      i += n;
      continue;
    }
    if (hit->lstrip) {
      while (!pending.empty() && is_space(pending.back())) pending.pop_back();
    }
    if (!pending.empty()) segs.push_back({std::move(pending), -1});
    pending.clear();
    segs.push_back({hit->content, hit->id});
    i += hit->content.size();
    if (hit->rstrip) {
      while (i < s.size() && is_space(s[i])) ++i;
    }
  }
  if (!pending.empty()) segs.push_back({std::move(pending), -1});

  // 2. Normalize, pre-tokenize and run the model on each plain segment.
  std::vector<int32_t> ids;
  bool first = true;
  for (auto& seg : segs) {
    if (seg.id >= 0) {
      ids.push_back(seg.id);
      first = false;
      continue;
    }
    std::string norm = normalizer_ ? normalizer_->normalize(seg.text) : seg.text;
    std::vector<tok::Piece> pieces{{norm, first}};
    first = false;
    if (pre_tokenizer_) pieces = pre_tokenizer_->split(std::move(pieces));
    for (const auto& p : pieces) model_->tokenize(p.text, ids);
  }
  if (add_special) ids = post_->process(std::move(ids));
  return ids;
}

std::vector<std::string> Tokenizer::decode_tokens(const std::vector<std::string>& tokens) const {
  if (!decoder_) return tokens;
  return decoder_->decode(tokens);
}

std::string Tokenizer::decode(const std::vector<int32_t>& ids, bool skip_special) const {
  std::vector<std::string> tokens;
  tokens.reserve(ids.size());
  for (int32_t id : ids) {
    if (id < 0 || size_t(id) >= id_to_token_.size()) {
      throw InputError(fmt::format("[tokenizer] cannot decode id {}: the vocabulary has {} tokens",
                                   id, id_to_token_.size()));
    }
    if (skip_special && special_[size_t(id)]) continue;
    tokens.push_back(id_to_token_[size_t(id)]);
  }
  if (!decoder_) {
    std::string out;
    for (size_t k = 0; k < tokens.size(); ++k) out += (k ? " " : "") + tokens[k];
    return out;
  }
  std::string out;
  for (auto& t : decode_tokens(tokens)) out += t;
  if (clean_up_spaces_) out = clean_up_tokenization(std::move(out));
  return out;
}

// transformers' clean_up_tokenization (tokenizer_config.json: clean_up_tokenization_spaces).
std::string clean_up_tokenization(std::string s) {
  static const std::pair<const char*, const char*> kRules[] = {
      {" .", "."},     {" ?", "?"},   {" !", "!"},   {" ,", ","},     {" ' ", "'"},
      {" n't", "n't"}, {" 'm", "'m"}, {" 's", "'s"}, {" 've", "'ve"}, {" 're", "'re"}};
  for (auto [from, to] : kRules) {
    std::string f = from, t = to;
    size_t pos = 0;
    while ((pos = s.find(f, pos)) != std::string::npos) {
      s.replace(pos, f.size(), t);
      pos += t.size();
    }
  }
  return s;
}

std::string StreamDecoder::push(int32_t id) {
  ids_.push_back(id);
  // Decode a window of recent tokens twice (without and with the new ones) and emit the
  // difference, so decoders that look at neighbours (Strip, Metaspace, byte fallback) behave as
  // in a full decode.
  std::vector<int32_t> prefix(ids_.begin() + long(prefix_), ids_.begin() + long(read_));
  std::vector<int32_t> all(ids_.begin() + long(prefix_), ids_.end());
  std::string before = t_.decode(prefix, skip_);
  std::string after = t_.decode(all, skip_);
  if (after.size() <= before.size() || after.compare(0, before.size(), before) != 0) {
    // Nothing new yet (or the window re-decodes differently): wait, but not without bound, or
    // each token would re-decode an ever longer window (a fuzzer found a tokenizer whose
    // decoding never settles). Past kMaxPending tokens, emit what the held ones decode to.
    constexpr size_t kMaxPending = 16;
    if (ids_.size() - read_ < kMaxPending) return "";
    std::string held =
        t_.decode(std::vector<int32_t>(ids_.begin() + long(read_), ids_.end()), skip_);
    prefix_ = read_ = ids_.size();
    return held;
  }
  std::string delta = after.substr(before.size());
  // Hold back an unfinished character: a trailing U+FFFD from a partial byte sequence.
  if (delta.size() >= 3 && delta.compare(delta.size() - 3, 3, "\xef\xbf\xbd") == 0 &&
      ids_.size() - read_ < 4) {
    return "";
  }
  prefix_ = read_;
  read_ = ids_.size();
  return delta;
}

std::string StreamDecoder::flush() {
  if (read_ == ids_.size()) return "";
  std::vector<int32_t> prefix(ids_.begin() + long(prefix_), ids_.begin() + long(read_));
  std::vector<int32_t> all(ids_.begin() + long(prefix_), ids_.end());
  std::string before = t_.decode(prefix, skip_);
  std::string after = t_.decode(all, skip_);
  prefix_ = read_ = ids_.size();
  return after.size() > before.size() ? after.substr(before.size()) : "";
}

}  // namespace vkllm::core
