// serve_load: a bounded loopback load test of `vkllm serve`. N client streams each send R
// streamed completion requests one after another (distinct random prompts, greedy, ignore_eos)
// and time every token as it arrives; the run stops by itself and prints p50/p99 time to first
// token, inter-token latency, aggregate and per-stream tokens/s, and errors (exit 1 if any).
//
//   serve_load -m DIR --parallel 8 --streams 8        # starts the server in-process
//   serve_load --url 127.0.0.1:8080 --streams 32      # against a running `vkllm serve`
#include <fmt/format.h>
#include <httplib.h>
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "server.h"

using nlohmann::json;
using Clock = std::chrono::steady_clock;

namespace {

struct Sample {
  double ttft = 0;             // seconds from sending to the first token
  std::vector<double> gaps;    // seconds between tokens
  std::vector<double> times;   // arrival of every token since the run started
  int64_t tokens = 0;          // completion tokens (usage)
  double first = 0, last = 0;  // token arrival times since the run started
  std::string error;

  // A token arrived now (request sent at `sent`, the run started at `start`).
  void token(Clock::time_point start, Clock::time_point sent) {
    const auto now = Clock::now();
    const double t = std::chrono::duration<double>(now - start).count();
    if (last_at == Clock::time_point{}) {
      ttft = std::chrono::duration<double>(now - sent).count();
      first = t;
    } else {
      gaps.push_back(std::chrono::duration<double>(now - last_at).count());
    }
    last = t;
    last_at = now;
    times.push_back(t);
  }
  bool started() const { return last_at != Clock::time_point{}; }
  Clock::time_point last_at{};
};

double percentile(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, size_t(p * double(v.size() - 1) + 0.5))];
}

Sample one_request(const std::string& host, int port, const std::string& key, const json& body,
                   Clock::time_point run_start) {
  Sample s;
  httplib::Client cli(host, port);
  cli.set_read_timeout(600, 0);
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.body = body.dump();
  req.set_header("Content-Type", "application/json");
  if (!key.empty()) req.set_header("Authorization", "Bearer " + key);
  const auto sent = Clock::now();
  bool done = false;
  std::string buf;
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    buf.append(data, n);
    for (size_t end; (end = buf.find("\n\n")) != std::string::npos; buf.erase(0, end + 2)) {
      const std::string ev = buf.substr(0, end);
      if (ev.rfind("data: ", 0) != 0) continue;
      const std::string payload = ev.substr(6);
      if (payload == "[DONE]") {
        done = true;
        continue;
      }
      json j = json::parse(payload, nullptr, false);
      if (j.is_discarded() || j.contains("error")) {
        s.error = j.is_discarded() ? "unparsable chunk" : j["error"].value("message", "error");
        continue;
      }
      if (j.contains("usage") && j["usage"].is_object())
        s.tokens = j["usage"].value("completion_tokens", int64_t(0));
      if (!j.contains("choices") || j["choices"].empty() ||
          !j["choices"][0]["finish_reason"].is_null())
        continue;
      s.token(run_start, sent);
    }
    return true;
  };
  httplib::Response res;
  httplib::Error err = httplib::Error::Success;
  if (!cli.send(req, res, err)) {
    s.error = fmt::format("HTTP error {} ({}) after {} tokens, {:.2f} s", int(err),
                          httplib::to_string(err), s.gaps.size() + (s.started() ? 1 : 0),
                          std::chrono::duration<double>(Clock::now() - sent).count());
  } else if (res.status != 200) {
    s.error = fmt::format("status {}: {}", res.status, res.body);
  } else if (!done && s.error.empty()) {
    s.error = "the stream ended without [DONE]";
  }
  return s;
}

// The same request through the engine directly (--no-http): what HTTP and SSE add.
Sample engine_request(vkllm::Engine& e, const std::vector<int32_t>& ids, int max_tokens,
                      Clock::time_point run_start) {
  Sample s;
  vkllm::Request r;
  r.prompt_ids = ids;
  r.max_tokens = max_tokens;
  r.sampling.temperature = 0.0f;
  r.ignore_eos = true;
  const auto sent = Clock::now();
  try {
    auto res = e.generate(r, [&](const vkllm::Chunk& c) {
      if (c.id >= 0) s.token(run_start, sent);
    });
    s.tokens = res.generated_tokens;
  } catch (const std::exception& ex) {
    s.error = ex.what();
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Loopback load test of vkllm serve"};
  std::string url, model_dir, api_key, model_id;
  int parallel = 8, streams = 32, rounds = 3, max_tokens = 64, prompt_tokens = 32, warmup = 1;
  int64_t context = 0;
  std::string quantize;
  bool no_http = false;
  app.add_option("--url", url, "host:port of a running server");
  app.add_option("-m,--model", model_dir, "Start a server in-process for this model folder");
  app.add_option("--parallel", parallel, "In-process server: sequences batched together");
  app.add_option("--context", context, "In-process server: context length");
  app.add_option("--quantize", quantize, "In-process server: q8_0 or q4_0");
  app.add_flag("--no-http", no_http, "In-process: call the engine directly, without HTTP");
  app.add_option("--api-key", api_key, "Bearer key of the server");
  app.add_option("--model-id", model_id, "The request's model (default: the first listed)");
  app.add_option("--streams", streams, "Concurrent client streams")->check(CLI::Range(1, 1024));
  app.add_option("--rounds", rounds, "Requests per stream, one after another")
      ->check(CLI::Range(1, 1000));
  app.add_option("--warmup", warmup,
                 "Unmeasured rounds first (pipelines compile on first use of a batch shape)");
  app.add_option("--max-tokens", max_tokens, "Tokens per request")->check(CLI::Range(1, 4096));
  app.add_option("--prompt-tokens", prompt_tokens, "Random prompt ids per request")
      ->check(CLI::Range(1, 4096));
  CLI11_PARSE(app, argc, argv);
  if (url.empty() == model_dir.empty()) {
    fmt::print(stderr, "serve_load: give --url or -m/--model\n");
    return 2;
  }

  std::unique_ptr<vkllm::server::Server> server;
  vkllm::Engine* engine = nullptr;
  std::thread server_thread;
  std::string host = "127.0.0.1";
  int port = 0;
  try {
    if (!model_dir.empty()) {
      std::vector<vkllm::server::ServedModel> models;
      models.push_back(
          {std::filesystem::path(model_dir).lexically_normal().filename().string(),
           vkllm::Engine::load(model_dir,
                               {.quantize = quantize, .context = context, .parallel = parallel})});
      engine = models.back().engine.get();
      server = std::make_unique<vkllm::server::Server>(
          vkllm::server::ServerOptions{.port = 0, .queue_limit = 512}, std::move(models));
      port = server->bind();
      server_thread = std::thread([&] { server->run(); });
    } else {
      auto colon = url.rfind(':');
      host = url.substr(0, colon);
      if (host.rfind("http://", 0) == 0) host = host.substr(7);
      port = std::stoi(url.substr(colon + 1));
    }
  } catch (const std::exception& e) {
    fmt::print(stderr, "serve_load: {}\n", e.what());
    return 2;
  }
  auto stop_server = [&] {
    if (!server) return;
    server->stop();
    server_thread.join();
  };

  httplib::Client probe(host, port);
  if (!api_key.empty()) probe.set_bearer_token_auth(api_key.c_str());
  auto models = probe.Get("/v1/models");
  for (int i = 0; i < 100 && !models; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    models = probe.Get("/v1/models");
  }
  if (!models || models->status != 200) {
    fmt::print(stderr, "serve_load: no server answers at {}:{}\n", host, port);
    stop_server();
    return 2;
  }
  if (model_id.empty()) model_id = json::parse(models->body)["data"][0]["id"];

  std::vector<Sample> samples;
  std::mutex m;
  auto start = Clock::now();
  std::vector<std::thread> clients;
  auto run_clients = [&](int n_rounds, uint32_t seed) {
    for (int c = 0; c < streams; ++c) {
      clients.emplace_back([&, c, n_rounds, seed] {
        std::mt19937 rng(seed + uint32_t(c));
        for (int r = 0; r < n_rounds; ++r) {
          std::vector<int32_t> ids;
          for (int i = 0; i < prompt_tokens; ++i) ids.push_back(int32_t(3 + rng() % 250));
          json body = {{"model", model_id},
                       {"prompt", ids},
                       {"max_tokens", max_tokens},
                       {"temperature", 0},
                       {"ignore_eos", true},
                       {"stream", true},
                       {"stream_options", {{"include_usage", true}}}};
          Sample s = no_http && engine ? engine_request(*engine, ids, max_tokens, start)
                                       : one_request(host, port, api_key, body, start);
          std::lock_guard l(m);
          samples.push_back(std::move(s));
        }
      });
    }
    for (auto& t : clients) t.join();
    clients.clear();
  };
  if (warmup > 0) {
    run_clients(warmup, 99);
    samples.clear();
    start = Clock::now();
  }
  run_clients(rounds, 1234);
  const double wall = std::chrono::duration<double>(Clock::now() - start).count();
  stop_server();

  std::vector<double> ttft, gaps, per_stream;
  int64_t tokens = 0, errors = 0, decoded = 0;
  double first_token = 1e30, last_token = 0;
  double all_started = 0, none_finished = 1e30;  // the span in which every stream decodes
  for (const auto& s : samples) {
    if (!s.error.empty()) {
      if (errors++ < 5) fmt::print(stderr, "serve_load: error: {}\n", s.error);
      continue;
    }
    ttft.push_back(s.ttft);
    gaps.insert(gaps.end(), s.gaps.begin(), s.gaps.end());
    tokens += s.tokens;
    decoded += int64_t(s.gaps.size());
    first_token = std::min(first_token, s.first);
    last_token = std::max(last_token, s.last);
    all_started = std::max(all_started, s.first);
    none_finished = std::min(none_finished, s.last);
    if (s.gaps.size() > 0) per_stream.push_back(double(s.gaps.size()) / (s.last - s.first));
  }
  fmt::print("streams {} x rounds {}, {} prompt tokens, {} max tokens, {}:{} ({})\n", streams,
             rounds, prompt_tokens, max_tokens, host, port, model_id);
  fmt::print("requests {}  errors {}  wall {:.2f} s\n", samples.size(), errors, wall);
  fmt::print("time to first token  p50 {:.1f} ms  p99 {:.1f} ms\n", 1e3 * percentile(ttft, 0.5),
             1e3 * percentile(ttft, 0.99));
  fmt::print("inter-token latency  p50 {:.1f} ms  p99 {:.1f} ms\n", 1e3 * percentile(gaps, 0.5),
             1e3 * percentile(gaps, 0.99));
  // Decode throughput: tokens after each request's first, over the span from the first first
  // token to the last token (with one round of equal requests: every stream decoding together).
  fmt::print(
      "aggregate {:.1f} tokens/s (wall)  decode {:.1f} tokens/s  per stream p50 {:.1f} tokens/s\n",
      double(tokens) / wall,
      last_token > first_token ? double(decoded) / (last_token - first_token) : 0,
      percentile(per_stream, 0.5));
  // Steady decode: tokens that arrived while every stream was decoding (after the last first
  // token, before the first stream finished): no prefill of a late arrival inside the span.
  // Defined for one round of streams that overlap.
  if (none_finished > all_started) {
    int64_t in_span = 0;
    for (const auto& s : samples) {
      if (!s.error.empty()) continue;
      for (double t : s.times) in_span += t > all_started && t <= none_finished;
    }
    fmt::print("steady decode {:.1f} tokens/s over {:.2f} s (every stream decoding)\n",
               double(in_span) / (none_finished - all_started), none_finished - all_started);
  }
  return errors > 0 ? 1 : 0;
}
