#include "core/gguf_export.h"

#include <fmt/format.h>

#include <filesystem>

#include "core/model.h"
#include "core/tokenizer/tokenizer.h"
#include "core/weights/weight_store.h"
#include "sdk/base/error.h"

namespace vkllm::core {
namespace fs = std::filesystem;

namespace {

// The vocabulary as llama.cpp reads it: a byte-level BPE ("gpt2": tokens + merges) when the
// folder has one, else placeholder SentencePiece tokens (runs by token id still work).
void write_tokenizer(sdk::GgufWriter& out, const std::string& folder, int64_t vocab) {
  fs::path tj = fs::path(folder) / "tokenizer.json";
  if (fs::exists(tj)) {
    auto j = read_json_file(tj.string());
    auto tok = Tokenizer::from_folder(folder);
    std::string pre = j.contains("pre_tokenizer") ? j["pre_tokenizer"].dump() : "";
    if (pre.find("ByteLevel") != std::string::npos && j["model"].value("type", "BPE") == "BPE") {
      std::vector<std::string> tokens(static_cast<size_t>(vocab));
      std::vector<int32_t> types(size_t(vocab), 1);
      for (int64_t i = 0; i < vocab; ++i) {
        tokens[size_t(i)] = tok->token(int32_t(i));
        if (tokens[size_t(i)].empty()) {
          tokens[size_t(i)] = fmt::format("[PAD{}]", i);
          types[size_t(i)] = 5;  // unused
        } else if (tok->is_special(int32_t(i))) {
          types[size_t(i)] = 3;  // control
        }
      }
      std::vector<std::string> merges;
      for (const auto& m : j["model"]["merges"]) {
        merges.push_back(m.is_string() ? m.get<std::string>()
                                       : m[0].get<std::string>() + " " + m[1].get<std::string>());
      }
      out.vocab_byte_bpe(tokens, types, merges, tok->bos_id() ? *tok->bos_id() : -1,
                         tok->eos_id() ? *tok->eos_id() : -1);
      return;
    }
  }
  out.vocab_placeholder(vocab);
}

}  // namespace

void export_gguf(const std::string& folder, const std::string& out_path, Dtype type,
                 const PluginHost& plugins) {
  if (type != Dtype::f32 && type != Dtype::f16 && type != Dtype::q8_0 && type != Dtype::q4_0) {
    throw InputError(fmt::format("--type {} is not a GGUF export type (f32, f16, q8_0, q4_0)",
                                 dtype_name(type)));
  }
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
  family->export_gguf(config, weights, out, type);
  write_tokenizer(out, folder, info.vocab_size);
  out.write(out_path);
}

}  // namespace vkllm::core
