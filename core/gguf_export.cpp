#include "core/gguf_export.h"

#include <fmt/format.h>

#include <filesystem>
#include <tuple>
#include <unordered_map>
#include <utility>

#include "core/gguf/gguf_tokenizer.h"
#include "core/limits.h"
#include "core/model.h"
#include "core/tokenizer/tokenizer.h"
#include "core/weights/weight_store.h"
#include "sdk/base/error.h"

namespace vkllm::core {
namespace fs = std::filesystem;

namespace {

// Whether `tok` adds its BOS token (its post-processor) when asked for special tokens.
bool adds_bos(const Tokenizer& tok) {
  const auto with = tok.encode("a", true), without = tok.encode("a", false);
  return tok.bos_id() && with.size() > without.size() && with[0] == *tok.bos_id();
}

// Vocabulary entry i as GGUF stores it: the token ("[PADi]" where the id has none) and
// llama.cpp's token type: 5 unused, 3 control (special), 4 user defined (added, matched whole in
// text), else 1 normal.
std::pair<std::string, int32_t> gguf_token(const Tokenizer& tok, int64_t i) {
  std::string t = tok.token(int32_t(i));
  if (t.empty()) return {fmt::format("[PAD{}]", i), 5};
  if (tok.is_special(int32_t(i))) return {std::move(t), 3};
  if (tok.is_added(int32_t(i))) return {std::move(t), 4};
  return {std::move(t), 1};
}

std::vector<std::string> merge_strings(const nlohmann::json& model) {
  std::vector<std::string> merges;
  for (const auto& m : model.value("merges", nlohmann::json::array()))
    merges.push_back(m.is_string() ? m.get<std::string>()
                                   : m[0].get<std::string>() + " " + m[1].get<std::string>());
  return merges;
}

// Byte-level BPE ("gpt2"): tokens, types and merges as stored, the pre-tokenizer by the name
// llama.cpp knows its split pattern by.
void write_byte_bpe(sdk::GgufWriter& out, const nlohmann::json& j, const Tokenizer& tok,
                    const std::string& where, int64_t vocab) {
  std::string regex;
  for (const auto& p : j["pre_tokenizer"].value("pretokenizers", nlohmann::json::array()))
    if (p.value("type", "") == "Split" && p.contains("pattern") && p["pattern"].contains("Regex"))
      regex = p["pattern"]["Regex"].get<std::string>();
  std::string pre_name = regex.empty() ? "gpt-2" : byte_level_pre_name(regex);
  if (pre_name.empty())
    throw InputError(
        fmt::format("{}: the pre-tokenizer's split pattern is none llama.cpp knows by name "
                    "(registry/gguf_tokenizers.json): a GGUF file would tokenize text differently",
                    where));
  std::vector<std::string> tokens(static_cast<size_t>(vocab));
  std::vector<int32_t> types(size_t(vocab), 1);
  for (int64_t i = 0; i < vocab; ++i)
    std::tie(tokens[size_t(i)], types[size_t(i)]) = gguf_token(tok, i);
  out.vocab_byte_bpe(tokens, types, merge_strings(j["model"]), tok.bos_id() ? *tok.bos_id() : -1,
                     tok.eos_id() ? *tok.eos_id() : -1, pre_name, adds_bos(tok));
}

// SentencePiece-style BPE (byte fallback, ▁ for spaces) as GGUF's SentencePiece vocabulary: a token
// made by merge rank r scores -r, so merging by score repeats the merge order.
void write_spm(sdk::GgufWriter& out, const nlohmann::json& j, const Tokenizer& tok, int64_t vocab) {
  std::unordered_map<std::string, size_t> rank;
  const auto merges = merge_strings(j["model"]);
  for (size_t r = 0; r < merges.size(); ++r) {
    const auto sp = merges[r].find(' ');
    rank.emplace(merges[r].substr(0, sp) + merges[r].substr(sp + 1), r);
  }
  const std::string norm = j.value("normalizer", nlohmann::json()).dump();
  const bool space_prefix = norm.find("Prepend") != std::string::npos;
  std::vector<std::string> tokens(static_cast<size_t>(vocab));
  std::vector<float> scores(size_t(vocab), 0.0f);
  std::vector<int32_t> types(size_t(vocab), 1);
  int32_t unk = -1;
  const std::string unk_token = j["model"].value("unk_token", nlohmann::json()).is_string()
                                    ? j["model"]["unk_token"].get<std::string>()
                                    : "";
  for (int64_t i = 0; i < vocab; ++i) {
    auto [t, type] = gguf_token(tok, i);
    if (type != 5 && t == unk_token) {
      type = 2;
      unk = int32_t(i);
    } else if (type == 1 && t.size() == 6 && t.starts_with("<0x") && t.back() == '>') {
      type = 6;  // byte fallback
    }
    types[size_t(i)] = type;
    if (auto it = rank.find(t); it != rank.end())
      scores[size_t(i)] = -float(it->second);
    else if (type == 1 && t.size() > 1)
      scores[size_t(i)] = -1e9f;  // no merge makes it
    tokens[size_t(i)] = std::move(t);
  }
  out.vocab_spm(tokens, scores, types, tok.bos_id() ? *tok.bos_id() : -1,
                tok.eos_id() ? *tok.eos_id() : -1, unk, space_prefix, adds_bos(tok));
}

// The vocabulary as llama.cpp reads it: a byte-level BPE or a SentencePiece-style BPE when the
// folder has one, else placeholder SentencePiece tokens (runs by token id
// still work); the chat template.
void write_tokenizer(sdk::GgufWriter& out, const std::string& folder, int64_t vocab) {
  fs::path tj = fs::path(folder) / "tokenizer.json";
  if (!fs::exists(tj)) {
    out.vocab_placeholder(vocab);
    return;
  }
  auto j = read_json_file(tj.string(), limits::kTokenizerJsonBytes);  // some are 33 MB
  auto tok = Tokenizer::from_folder(folder);
  const std::string pre = j.contains("pre_tokenizer") ? j["pre_tokenizer"].dump() : "";
  const bool bpe = j.contains("model") && j["model"].value("type", "BPE") == "BPE";
  if (bpe && pre.find("ByteLevel") != std::string::npos)
    write_byte_bpe(out, j, *tok, tj.string(), vocab);
  else if (bpe && j["model"].value("byte_fallback", false))
    write_spm(out, j, *tok, vocab);
  else
    out.vocab_placeholder(vocab);
  if (!tok->chat_template().empty()) out.kv("tokenizer.chat_template", tok->chat_template());
}

}  // namespace

void export_gguf(const std::string& folder, const std::string& out_path, Dtype type,
                 const PluginHost& plugins) {
  export_gguf(folder, out_path, sdk::gguf_export_type(std::string(dtype_name(type))), plugins);
}

void export_gguf(const std::string& folder, const std::string& out_path,
                 const sdk::GgufExportType& type, const PluginHost& plugins) {
  std::string cfg_path = (fs::path(folder) / "config.json").string();
  if (!fs::exists(cfg_path)) throw InputError(fmt::format("{}: config.json is missing", folder));
  auto raw = read_json_file(cfg_path);
  const auto& reg = plugins.registry();
  const auto& entry = reg.route(raw, cfg_path);
  auto config = reg.normalize(raw, entry, cfg_path);
  if (config.contains("quantization")) {
    throw InputError(fmt::format(
        "{}: MLX-quantized checkpoints cannot be exported; use a f16/bf16/f32 one", folder));
  }
  const auto& rec = plugins.plugin_for(entry.family, entry.model_type);
  auto family = plugins.create_family(rec);
  auto info = family->describe(config);
  WeightStore weights(folder, config, nullptr);
  sdk::GgufWriter out;
  out.set_export(type, info.num_layers);
  family->export_gguf(config, weights, out, type.base);
  write_tokenizer(out, folder, info.vocab_size);
  out.write(out_path);
}

}  // namespace vkllm::core
