#pragma once
// `vkllm serve`: OpenAI's HTTP API over one engine per model folder (cpp-httplib). Requests for
// one model run one at a time in arrival order (the engine is not reentrant; batching them into
// shared passes is the scheduler's job, not this layer's). Streams are server-sent events in
// OpenAI's chunk format; a client that goes away cancels its request within one step.
#include <atomic>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "vkllm/engine.h"

namespace vkllm::server {

struct ServerOptions {
  std::string host = "127.0.0.1";
  int port = 8080;                   // 0: any free port (tests)
  std::string api_key;               // non-empty: /v1/* needs "Authorization: Bearer <key>"
  std::string allowed_image_dir;     // local image paths below it are allowed
  size_t max_body_bytes = 64 << 20;  // larger bodies: 413
  int queue_limit = 64;              // requests waiting per model beyond it: 503 + Retry-After
  // Defaults for chat requests that do not say (reasoning models).
  std::optional<bool> enable_thinking;
  int thinking_budget = -1;
};

struct ServedModel {
  std::string id;  // the folder's name
  std::unique_ptr<Engine> engine;
};

class Server {
 public:
  Server(ServerOptions options, std::vector<ServedModel> models);
  ~Server();
  // Binds the listening socket; returns the port (the chosen one for port 0). Throws
  // InputError when the address cannot be bound.
  int bind();
  // Serves until stop() (from any thread or a signal watcher).
  void run();
  void stop();

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace vkllm::server
