// vkllm serve: OpenAI's API over HTTP for one or more model folders (tools/server).
#include <fmt/format.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <thread>

#include "commands.h"
#include "options.h"
#include "server.h"

namespace vkllm::cli {
namespace {

std::atomic<bool> g_stop{false};
void on_signal(int) { g_stop = true; }

}  // namespace

Run add_serve(CLI::App& app) {
  auto* cmd = app.add_subcommand("serve", "Serve models over OpenAI's HTTP API");
  auto args = std::make_shared<ModelArgs>();
  auto opt = std::make_shared<server::ServerOptions>();
  args->add(cmd, /*several_models=*/true);
  args->parallel = 4;
  cmd->add_option("--parallel", args->parallel,
                  "Requests per model batched together (continuous batching; 1: one at a time)")
      ->check(CLI::Range(1, 256))
      ->capture_default_str();
  cmd->add_option("--host", opt->host, "Address to listen on");
  cmd->add_option("--port", opt->port, "Port (0: any free one, printed)")
      ->check(CLI::Range(0, 65535));
  cmd->add_option("--api-key", opt->api_key, "Require 'Authorization: Bearer KEY' on /v1/*");
  cmd->add_option("--allowed-image-dir", opt->allowed_image_dir,
                  "Allow image_url paths (file://) below this folder");
  cmd->add_option("--max-body-bytes", opt->max_body_bytes, "Largest request body (413 above)");
  cmd->add_option("--thinking-budget", opt->thinking_budget,
                  "Default thinking budget in tokens for requests that give none (reasoning "
                  "models; -1: unlimited)");
  cmd->add_option("--enable-thinking", opt->enable_thinking,
                  "Default enable_thinking for the chat template (true/false) for requests that "
                  "give none");
  cmd->add_option("--queue-limit", opt->queue_limit,
                  "Requests waiting per model before 503 Retry-After")
      ->check(CLI::PositiveNumber);
  return [args, opt] {
    std::vector<server::ServedModel> models;
    for (const auto& folder : args->models) {
      ModelArgs margs = *args;  // adapters are the first model's
      if (!models.empty()) margs.adapters.clear();
      std::string id = std::filesystem::path(folder).lexically_normal().filename().string();
      if (id.empty())
        id = std::filesystem::path(folder).lexically_normal().parent_path().filename().string();
      for (const auto& m : models)
        if (m.id == id) throw InputError(fmt::format("two models are named '{}'", id));
      models.push_back({id, margs.load(folder)});
    }
    std::vector<std::string> ids;
    for (const auto& m : models) ids.push_back(m.id);
    server::Server srv(*opt, std::move(models));
    const int port = srv.bind();
    fmt::print(stderr, "vkllm serve: http://{}:{}/v1 ({})\n", opt->host, port,
               fmt::join(ids, ", "));
    std::signal(SIGINT, on_signal);
    std::signal(SIGTERM, on_signal);
    std::thread watcher([&srv] {
      while (!g_stop) std::this_thread::sleep_for(std::chrono::milliseconds(100));
      srv.stop();
    });
    srv.run();
    g_stop = true;
    watcher.join();
    fmt::print(stderr, "vkllm serve: stopped\n");
    return 0;
  };
}

}  // namespace vkllm::cli
