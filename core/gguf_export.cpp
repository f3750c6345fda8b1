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
        merges.push_back(m.is_string() ? m.get<std::string>() : m[0].get<std::string>() + " " + m[1].get<std::string>());
      }
      out.kv("tokenizer.ggml.model", std::string("gpt2"));
      out.kv("tokenizer.ggml.pre", std::string("gpt-2"));
      out.kv("tokenizer.ggml.tokens", tokens);
      out.kv("tokenizer.ggml.token_type", types);
      out.kv("tokenizer.ggml.merges", merges);
      if (tok->bos_id()) out.kv("tokenizer.ggml.bos_token_id", uint32_t(*tok->bos_id()));
      if (tok->eos_id()) out.kv("tokenizer.ggml.eos_token_id", uint32_t(*tok->eos_id()));
      out.kv("tokenizer.ggml.add_bos_token", tok->bos_id().has_value());
      return;
    }
  }
  std::vector<std::string> tokens(static_cast<size_t>(vocab));
  std::vector<float> scores(size_t(vocab), 0.0f);
  std::vector<int32_t> types(size_t(vocab), 1);
  for (int64_t i = 0; i < vocab; ++i) tokens[size_t(i)] = fmt::format("\xe2\x96\x81t{}", i);
  const char* specials[] = {"<unk>", "<s>", "</s>"};
  for (int i = 0; i < 3 && i < vocab; ++i) {
    tokens[size_t(i)] = specials[i];
    types[size_t(i)] = i == 0 ? 2 : 3;
  }
  // llama.cpp's SentencePiece vocabulary needs the byte tokens (it looks up <0x0A>).
  for (int b = 0; b < 256 && 3 + b < vocab; ++b) {
    tokens[size_t(3 + b)] = fmt::format("<0x{:02X}>", b);
    types[size_t(3 + b)] = 6;
  }
  out.kv("tokenizer.ggml.model", std::string("llama"));
  out.kv("tokenizer.ggml.tokens", tokens);
  out.kv("tokenizer.ggml.scores", scores);
  out.kv("tokenizer.ggml.token_type", types);
  out.kv("tokenizer.ggml.bos_token_id", uint32_t(1));
  out.kv("tokenizer.ggml.eos_token_id", uint32_t(2));
}

}  // namespace

void export_gguf(const std::string& folder, const std::string& out_path, Dtype type, const PluginHost& plugins) {
  if (type != Dtype::f32 && type != Dtype::f16 && type != Dtype::q8_0 && type != Dtype::q4_0) {
    throw InputError(fmt::format("--type {} is not a GGUF export type (f32, f16, q8_0, q4_0)", dtype_name(type)));
  }
  std::string cfg_path = (fs::path(folder) / "config.json").string();
  if (!fs::exists(cfg_path)) throw InputError(fmt::format("{}: config.json is missing", folder));
  auto raw = read_json_file(cfg_path);
  const auto& reg = plugins.registry();
  const auto& entry = reg.route(raw, cfg_path);
  auto config = reg.normalize(raw, entry, cfg_path);
  if (config.contains("quantization")) {
    throw InputError(fmt::format("{}: MLX-quantized checkpoints cannot be exported; use a f16/bf16/f32 one", folder));
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
