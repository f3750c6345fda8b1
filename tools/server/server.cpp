#include "server.h"

#include <fmt/format.h>
#include <httplib.h>

#include <sys/socket.h>

#include <chrono>
#include <mutex>
#include <random>
#include <thread>

#include "metrics.h"
#include "openai.h"
#include "sdk/base/log.h"

namespace vkllm::server {

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

struct Model {
  std::string id;
  std::unique_ptr<Engine> engine;
  // parallel 1: one request at a time, the others wait here. parallel > 1: the engine's
  // scheduler queues and batches them.
  std::mutex busy;
  std::atomic<int> waiting{0}, active{0};

  Load load() const {
    if (engine->parallel() == 1) return {waiting.load(), active.load()};
    const EngineStats s = engine->stats();
    return {s.waiting,    s.running, s.kv_blocks_used, s.kv_blocks_total, s.prefix_cached_blocks,
            s.preemptions};
  }
};

void send_error(httplib::Response& res, const ApiError& e) {
  res.status = e.status;
  res.set_content(error_object(e).dump(), "application/json");
}

std::string new_id(const char* prefix) {
  static std::mt19937_64 rng{std::random_device{}()};
  static std::mutex m;
  std::lock_guard lock(m);
  return fmt::format("{}-{:016x}", prefix, rng());
}

int64_t unix_time() {
  return std::chrono::duration_cast<std::chrono::seconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// An engine error as the API answers it: what the request asked that cannot be done is the
// client's (400), the rest is ours (500).
ApiError engine_error(const Error& e) {
  if (dynamic_cast<const InputError*>(&e)) return {400, e.what(), "", "invalid_request_error"};
  return {500, e.what(), "", "server_error"};
}

// While a stream waits for tokens (queued, prefilling), an SSE comment every half second: a
// client that went away makes the write fail, which cancels its request within one step.
// Stream writes share `m` with it.
class Heartbeat {
 public:
  Heartbeat(httplib::DataSink& sink, std::mutex& m, std::atomic<bool>& gone)
      : m_(&m), thread_([this, &sink, &m, &gone] {
          std::unique_lock l(m);
          while (!stop_cv_.wait_for(l, std::chrono::milliseconds(500), [&] { return stop_; })) {
            static const std::string ping = ": ping\n\n";
            if (!sink.is_writable() || !sink.write(ping.data(), ping.size())) gone = true;
          }
        }) {}
  ~Heartbeat() { stop(); }
  // Before the stream ends (sink.done()): no write after it.
  void stop() {
    if (!thread_.joinable()) return;
    {
      std::lock_guard l(*m_);
      stop_ = true;
    }
    stop_cv_.notify_one();
    thread_.join();
  }
  Heartbeat(const Heartbeat&) = delete;
  Heartbeat& operator=(const Heartbeat&) = delete;

 private:
  bool stop_ = false;
  std::condition_variable stop_cv_;
  std::mutex* m_ = nullptr;
  std::thread thread_;
};

}  // namespace

struct Server::Impl {
  ServerOptions opt;
  std::vector<std::unique_ptr<Model>> models;
  httplib::Server http;
  Metrics metrics;
  ImagePolicy images;
  int port = 0;

  // The model a request's `model` names: a model's id, or BASE:NAME for one of its named
  // adapters (also NAME alone when one model has it); *adapter gets the adapter's name.
  Model* find(const std::string& id, std::string* adapter) {
    adapter->clear();
    for (auto& m : models)
      if (m->id == id) return m.get();
    for (auto& m : models) {
      for (const auto& a : m->engine->description().adapters) {
        if (!a.empty() && (id == m->id + ":" + a || id == a)) {
          *adapter = a;
          return m.get();
        }
      }
    }
    return nullptr;
  }

  void routes();
  enum class Api { chat, completions, responses };
  void generate(const httplib::Request& hr, httplib::Response& res, Api api);
  // The Responses API's stream: typed events (response.created ... response.completed).
  void stream_response(
      httplib::Response& res, const ParsedRequest& p, const std::string& id, int64_t created,
      std::function<Result(const std::function<bool(const Chunk&)>&, std::atomic<bool>&)> run);
};

void Server::Impl::routes() {
  http.set_payload_max_length(opt.max_body_bytes);
  http.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
    if (opt.api_key.empty() || req.path.rfind("/v1/", 0) != 0)
      return httplib::Server::HandlerResponse::Unhandled;
    if (req.get_header_value("Authorization") == "Bearer " + opt.api_key)
      return httplib::Server::HandlerResponse::Unhandled;
    send_error(res, {401, "invalid or missing API key (Authorization: Bearer ...)", "",
                     "authentication_error"});
    metrics.count_request(req.path, 401);
    return httplib::Server::HandlerResponse::Handled;
  });
  // Statuses httplib answers itself (413, 404 of unknown paths, ...) get an error object too.
  http.set_error_handler([](const httplib::Request& req, httplib::Response& res) {
    if (!res.body.empty()) return;
    const std::string what = res.status == 413 ? "the request body is too large"
                             : res.status == 404
                                 ? fmt::format("no route {} {}", req.method, req.path)
                                 : fmt::format("HTTP {}", res.status);
    res.set_content(error_object({res.status, what, "", "invalid_request_error"}).dump(),
                    "application/json");
  });
  http.Get("/health", [](const httplib::Request&, httplib::Response& res) {
    res.set_content(R"({"status":"ok"})", "application/json");
  });
  http.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
    Load all;
    for (const auto& m : models) {
      const Load l = m->load();
      all.waiting += l.waiting;
      all.running += l.running;
      all.kv_blocks_used += l.kv_blocks_used;
      all.kv_blocks_total += l.kv_blocks_total;
      all.kv_blocks_prefix += l.kv_blocks_prefix;
      all.preemptions += l.preemptions;
    }
    res.set_content(metrics.text(all), "text/plain; version=0.0.4");
  });
  http.Get("/v1/models", [this](const httplib::Request&, httplib::Response& res) {
    json data = json::array();
    for (const auto& m : models) {
      data.push_back({{"id", m->id}, {"object", "model"}, {"created", 0}, {"owned_by", "vkllm"}});
      for (const auto& a : m->engine->description().adapters)  // runtime adapters by name
        if (!a.empty())
          data.push_back({{"id", m->id + ":" + a},
                          {"object", "model"},
                          {"created", 0},
                          {"owned_by", "vkllm"},
                          {"parent", m->id}});
    }
    res.set_content(json{{"object", "list"}, {"data", data}}.dump(), "application/json");
    metrics.count_request("/v1/models", 200);
  });
  http.Post("/v1/chat/completions", [this](const httplib::Request& req, httplib::Response& res) {
    generate(req, res, Api::chat);
  });
  http.Post("/v1/completions", [this](const httplib::Request& req, httplib::Response& res) {
    generate(req, res, Api::completions);
  });
  http.Post("/v1/responses", [this](const httplib::Request& req, httplib::Response& res) {
    generate(req, res, Api::responses);
  });
}

void Server::Impl::generate(const httplib::Request& hr, httplib::Response& res, Api api) {
  const std::string endpoint = api == Api::chat          ? "/v1/chat/completions"
                               : api == Api::completions ? "/v1/completions"
                                                         : "/v1/responses";
  const auto arrived = Clock::now();
  auto fail = [&](const ApiError& e) {
    send_error(res, e);
    metrics.count_request(endpoint, e.status);
  };
  json body = json::parse(hr.body, nullptr, false);
  if (body.is_discarded()) return fail({400, "the request body is not valid JSON"});
  ParsedRequest p;
  try {
    p = api == Api::chat          ? parse_chat(body, images)
        : api == Api::completions ? parse_completion(body)
                                  : parse_responses(body, images);
    if (body.contains("response_format") || body.contains("text") || body.contains("json_schema") ||
        body.contains("grammar") || body.contains("tools") || body.contains("tool_choice")) {
      parse_constraints(nlohmann::ordered_json::parse(hr.body), api == Api::responses, p.request);
    }
  } catch (const ApiError& e) {
    return fail(e);
  }
  Model* model = find(p.model, &p.request.adapter);
  if (!model)
    return fail(
        {404, fmt::format("model '{}' does not exist", p.model), "model", "invalid_request_error"});
  // The server's reasoning defaults, for chats with models that think.
  if (!p.request.messages.empty() && model->engine->description().thinking) {
    if (!p.request.enable_thinking &&
        p.request.chat_template_kwargs.find("enable_thinking") == std::string::npos)
      p.request.enable_thinking = opt.enable_thinking;
    if (p.request.thinking_budget < 0) p.request.thinking_budget = opt.thinking_budget;
  }
  if (const int64_t queued = model->load().waiting; queued >= opt.queue_limit) {
    res.set_header("Retry-After", "1");
    return fail({503, fmt::format("model '{}' has {} requests waiting; try again", p.model, queued),
                 "", "server_error"});
  }
  const std::string id = new_id(api == Api::chat          ? "chatcmpl"
                                : api == Api::completions ? "cmpl"
                                                          : "resp");
  const TokenText token_text = [engine = model->engine.get()](int32_t t) {
    return engine->detokenize({t});
  };
  const int64_t created = unix_time();

  // Runs the request (under the model's lock with parallel 1); on_chunk gets each token and
  // returns false when the client went away, which cancels the request.
  auto run = [this, model, arrived](const ParsedRequest& req,
                                    const std::function<bool(const Chunk&)>& on_chunk,
                                    std::atomic<bool>& gone) {
    std::unique_lock lock(model->busy, std::defer_lock);
    if (model->engine->parallel() == 1) {
      ++model->waiting;
      lock.lock();
      --model->waiting;
    }
    auto last = arrived;
    bool first = true;
    Request request = req.request;
    request.cancel = &gone;
    Result r;
    ++model->active;
    try {
      r = model->engine->generate(request, [&](const Chunk& c) {
        const auto now = Clock::now();
        if (first)
          metrics.time_to_first_token.observe(std::chrono::duration<double>(now - arrived).count());
        else
          metrics.inter_token.observe(std::chrono::duration<double>(now - last).count());
        first = false;
        last = now;
        if (!on_chunk(c)) gone = true;
      });
    } catch (...) {
      --model->active;
      throw;
    }
    --model->active;
    metrics.prompt_tokens += uint64_t(r.prompt_tokens);
    metrics.generated_tokens += uint64_t(r.generated_tokens);
    metrics.cached_tokens += uint64_t(r.cached_tokens);
    return r;
  };

  // The n choices: independent generations (choice i samples with seed + i), side by side in
  // the batch. on_chunk(i, chunk) is serialised across them.
  auto run_choices = [run, p](const std::function<bool(int, const Chunk&)>& on_chunk,
                              std::atomic<bool>& gone) {
    std::vector<Result> results(size_t(p.n));
    std::vector<std::exception_ptr> errors(size_t(p.n));
    std::mutex m;
    auto one = [&](int i) {
      ParsedRequest q = p;
      if (q.request.sampling.seed) *q.request.sampling.seed += uint64_t(i);
      try {
        results[size_t(i)] = run(
            q,
            [&](const Chunk& c) {
              std::lock_guard l(m);
              return on_chunk(i, c);
            },
            gone);
      } catch (...) {
        errors[size_t(i)] = std::current_exception();
      }
    };
    std::vector<std::thread> others;
    for (int i = 1; i < p.n; ++i) others.emplace_back(one, i);
    one(0);
    for (auto& t : others) t.join();
    for (auto& e : errors)
      if (e) std::rethrow_exception(e);
    return results;
  };

  if (api == Api::responses && p.stream) {
    metrics.count_request(endpoint, 200);
    return stream_response(
        res, p, id, created,
        [run, p](const auto& on_chunk, std::atomic<bool>& gone) { return run(p, on_chunk, gone); });
  }
  if (!p.stream) {
    try {
      std::atomic<bool> gone{false};  // a whole response: the client is not watched
      auto results = run_choices([](int, const Chunk&) { return true; }, gone);
      const json out = api == Api::responses ? responses_object(p, id, created, &results[0])
                                             : response_object(p, id, created, results, token_text);
      res.set_content(out.dump(), "application/json");
      metrics.count_request(endpoint, 200);
    } catch (const Error& e) {
      fail(engine_error(e));
    }
    return;
  }
  metrics.count_request(endpoint, 200);
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider("text/event-stream", [p, id, created, run_choices, token_text](
                                                            size_t, httplib::DataSink& sink) {
    std::atomic<bool> gone{false};
    std::mutex wm;
    auto event = [&](const json& j) {
      const std::string s = "data: " + j.dump() + "\n\n";
      std::lock_guard l(wm);
      return sink.is_writable() && sink.write(s.data(), s.size());
    };
    Heartbeat beat(sink, wm, gone);
    std::vector<bool> first(size_t(p.n), p.chat);
    std::vector<int> calls(size_t(p.n), 0);  // tool calls streamed per choice
    auto events = [&](const json& chunks) {
      bool ok = true;
      for (const auto& c : chunks) ok = event(c) && ok;
      return ok;
    };
    if (p.chat)
      for (int i = 0; i < p.n; ++i)
        first[size_t(i)] = !events(chunk_objects(p, id, created, nullptr, nullptr, true, {}, i));
    try {
      auto results = run_choices(
          [&](int i, const Chunk& c) {
            // Every token gets its chunk (content "" while its text is held back or the model has
            // no tokenizer), so clients see progress and inter-token timing.
            if (c.id < 0 && c.text.empty() && c.content.empty() && c.reasoning.empty() &&
                c.tool_calls.empty())
              return sink.is_writable();
            const bool ok = events(chunk_objects(p, id, created, &c, nullptr, first[size_t(i)],
                                                 token_text, i, calls[size_t(i)]));
            calls[size_t(i)] += int(c.tool_calls.size());
            first[size_t(i)] = false;
            return ok;
          },
          gone);
      for (size_t i = 0; i < results.size(); ++i) {
        events(
            chunk_objects(p, id, created, nullptr, &results[i].finish_reason, false, {}, int(i)));
      }
      if (p.include_usage) {
        json uc = {{"id", id},
                   {"object", p.chat ? "chat.completion.chunk" : "text_completion"},
                   {"created", created},
                   {"model", p.model},
                   {"choices", json::array()},
                   {"usage", usage_object(usage_of(results))}};
        event(uc);
      }
    } catch (const Error& e) {
      event(error_object(engine_error(e)));
    }
    beat.stop();
    const std::string done = "data: [DONE]\n\n";
    if (sink.is_writable()) sink.write(done.data(), done.size());
    sink.done();
    return true;
  });
}

void Server::Impl::stream_response(
    httplib::Response& res, const ParsedRequest& p, const std::string& id, int64_t created,
    std::function<Result(const std::function<bool(const Chunk&)>&, std::atomic<bool>&)> run) {
  res.set_header("Cache-Control", "no-cache");
  res.set_chunked_content_provider("text/event-stream", [p, id, created, run](
                                                            size_t, httplib::DataSink& sink) {
    const std::string msg = response_message_id(id);
    int seq = 0;
    std::atomic<bool> gone{false};
    std::mutex wm;
    auto event = [&](const std::string& type, json j) {
      std::lock_guard l(wm);
      j["type"] = type;
      j["sequence_number"] = seq++;
      const std::string s = "event: " + type + "\ndata: " + j.dump() + "\n\n";
      return sink.is_writable() && sink.write(s.data(), s.size());
    };
    Heartbeat beat(sink, wm, gone);
    const json part0 = {{"type", "output_text"}, {"text", ""}, {"annotations", json::array()}};
    json in_progress = responses_object(p, id, created, nullptr);
    event("response.created", {{"response", in_progress}});
    event("response.in_progress", {{"response", in_progress}});
    event("response.output_item.added",
          {{"output_index", 0}, {"item", response_message(msg, "", false)}});
    event("response.content_part.added",
          {{"item_id", msg}, {"output_index", 0}, {"content_index", 0}, {"part", part0}});
    try {
      Result r = run(
          [&](const Chunk& c) {
            if (c.content.empty()) return sink.is_writable();
            return event("response.output_text.delta", {{"item_id", msg},
                                                        {"output_index", 0},
                                                        {"content_index", 0},
                                                        {"delta", c.content},
                                                        {"logprobs", json::array()}});
          },
          gone);
      json part = part0;
      part["text"] = r.content;
      event("response.output_text.done", {{"item_id", msg},
                                          {"output_index", 0},
                                          {"content_index", 0},
                                          {"text", r.content},
                                          {"logprobs", json::array()}});
      event("response.content_part.done",
            {{"item_id", msg}, {"output_index", 0}, {"content_index", 0}, {"part", part}});
      event("response.output_item.done",
            {{"output_index", 0}, {"item", response_message(msg, r.content, true)}});
      for (size_t k = 0; k < r.tool_calls.size(); ++k) {  // calls after the message
        json item = function_call_item(r.tool_calls[k]);
        const int at = 1 + int(k);
        json open = item;
        open["arguments"] = "";
        open["status"] = "in_progress";
        event("response.output_item.added", {{"output_index", at}, {"item", open}});
        event("response.function_call_arguments.delta",
              {{"item_id", item["id"]}, {"output_index", at}, {"delta", item["arguments"]}});
        event("response.function_call_arguments.done",
              {{"item_id", item["id"]}, {"output_index", at}, {"arguments", item["arguments"]}});
        event("response.output_item.done", {{"output_index", at}, {"item", item}});
      }
      json done = responses_object(p, id, created, &r);
      event(done["status"] == "completed" ? "response.completed" : "response.incomplete",
            {{"response", done}});
    } catch (const Error& e) {
      const ApiError err = engine_error(e);
      json failed = responses_object(p, id, created, nullptr);
      failed["status"] = "failed";
      failed["error"] = {{"code", err.status == 400 ? "invalid_prompt" : "server_error"},
                         {"message", err.message}};
      event("response.failed", {{"response", failed}});
    }
    beat.stop();
    sink.done();
    return true;
  });
}

Server::Server(ServerOptions options, std::vector<ServedModel> models)
    : impl_(std::make_unique<Impl>()) {
  impl_->opt = std::move(options);
  impl_->images.allowed_dir = impl_->opt.allowed_image_dir;
  for (auto& m : models) {
    auto model = std::make_unique<Model>();
    model->id = m.id;
    model->engine = std::move(m.engine);
    impl_->models.push_back(std::move(model));
  }
  // A thread per request in flight: the running batch and the queue of every model (a request
  // holds its thread while it waits and streams), plus a few for /health and /metrics.
  size_t threads = 4;
  for (const auto& m : impl_->models)
    threads += size_t(m->engine->parallel()) + size_t(std::max(0, impl_->opt.queue_limit));
  threads = std::min<size_t>(threads, 1024);  // 4096 threads (8 MB stacks each) failed connections
  impl_->http.new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
  impl_->routes();
}

Server::~Server() = default;

int Server::bind() {
  Impl& s = *impl_;
  // httplib (Debian's compiled libcpp-httplib) listens with a backlog of 5: a burst of clients
  // overflowed it and some connections failed before their response. The socket is listened
  // on again with a deeper queue (Linux updates the backlog of a listening socket).
  int fd = -1;
  s.http.set_socket_options([&fd](socket_t sock) {
    httplib::default_socket_options(sock);
    fd = sock;
  });
  s.port = s.opt.port == 0 ? s.http.bind_to_any_port(s.opt.host)
                           : (s.http.bind_to_port(s.opt.host, s.opt.port) ? s.opt.port : -1);
  if (s.port < 0) throw InputError(fmt::format("cannot listen on {}:{}", s.opt.host, s.opt.port));
  if (fd >= 0) ::listen(fd, 1024);
  return s.port;
}

void Server::run() { impl_->http.listen_after_bind(); }

void Server::stop() { impl_->http.stop(); }

}  // namespace vkllm::server
