// vkllm tokenize: token ids of a text with a model folder's tokenizer (no weights are loaded).
#include <fmt/format.h>

#include <nlohmann/json.hpp>

#include "commands.h"
#include "core/gguf/gguf_folder.h"
#include "core/tokenizer/tokenizer.h"

namespace vkllm::cli {

Run add_tokenize(CLI::App& app) {
  auto* cmd = app.add_subcommand("tokenize", "Print the token ids of a text");
  static std::string dir, text;
  static bool special = false, json = false;
  cmd->add_option("--tokenizer,-t", dir,
                  "Folder with tokenizer.json (and tokenizer_config.json), or a GGUF file")
      ->required();
  cmd->add_option("--text", text, "Text to tokenize")->required();
  cmd->add_flag("--special", special, "Apply the post-processor (BOS and the like)");
  cmd->add_flag("--json", json, "Print a JSON array");
  return [] {
    auto tok =
        core::is_gguf_file(dir) ? core::gguf_tokenizer(dir) : core::Tokenizer::from_folder(dir);
    auto ids = tok->encode(text, special);
    if (json) {
      fmt::print("{}\n", nlohmann::json(ids).dump());
    } else {
      for (size_t i = 0; i < ids.size(); ++i) {
        fmt::print("{}\t{}\n", ids[i],
                   nlohmann::json(tok->token(ids[i]))
                       .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace));
      }
    }
    return 0;
  };
}

}  // namespace vkllm::cli
