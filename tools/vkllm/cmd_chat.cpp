// vkllm chat: a multi-turn conversation through the model's chat template; each turn reuses the
// cached history. `/image PATH` attaches an image to the next turn (vision models).
#include <fmt/format.h>
#include <unistd.h>

#include <iostream>

#include "commands.h"
#include "options.h"
#include "sdk/base/error.h"
#include "vkllm/engine.h"

namespace vkllm::cli {

Run add_chat(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "chat", "Chat with a model (reads turns from stdin; /image PATH, /reset, /exit)");
  static ModelArgs m;
  static SamplingArgs s;
  static std::string system;
  m.add(cmd);
  s.add(cmd);
  cmd->add_option("--system", system, "System message");
  return [] {
    auto engine = m.load();
    if (!ModelArgs::has_chat_template(*engine)) {
      throw InputError(m.model + ": the model has no chat template; use `vkllm generate`");
    }
    bool tty = ::isatty(0) != 0;
    std::vector<Message> history;
    if (!system.empty()) history.push_back({"system", system});
    std::string line;
    std::vector<ImageInput> pending;  // images for the next user turn
    while (true) {
      if (tty) fmt::print("> ");
      std::fflush(stdout);
      if (!std::getline(std::cin, line)) break;
      if (line == "/exit" || line == "/quit") break;
      if (line == "/reset") {
        history.resize(system.empty() ? 0 : 1);
        continue;
      }
      if (line.rfind("/image ", 0) == 0) {
        pending.push_back({line.substr(7), {}});
        continue;
      }
      if (line.empty()) continue;
      history.push_back({"user", line, std::move(pending)});
      pending.clear();
      Request r = s.request();
      r.messages = history;
      Result res;
      try {
        res = engine->generate(r, [](const Chunk& c) {
          fmt::print("{}", c.text);
          std::fflush(stdout);
        });
      } catch (const InputError& e) {  // e.g. an image that does not decode: drop the turn
        fmt::print(stderr, "error: {}\n", e.what());
        history.pop_back();
        continue;
      }
      fmt::print("\n");
      if (m.verbose) {
        fmt::print(
            stderr,
            "[{} cached + {} new prompt tokens at {:.1f} tok/s, {} generated at {:.1f} tok/s]\n",
            res.cached_tokens, res.prompt_tokens - res.cached_tokens, res.prompt_tokens_per_s,
            res.generated_tokens, res.decode_tokens_per_s);
      }
      history.push_back({"assistant", res.text, {}});
    }
    return 0;
  };
}

}  // namespace vkllm::cli
