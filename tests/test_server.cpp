// vkllm serve's HTTP layer in process (tools/server): OpenAI's endpoints through an HTTP client,
// the same text as the engine alone, streams as server-sent events, and the error objects of
// bad requests.
#include <fmt/format.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <sstream>
#include <thread>

#include "core/weights/safetensors.h"
#include "server.h"
#include "tests/thinking_model.h"

namespace vkllm::test {
namespace {

using nlohmann::json;
const std::string kModel = std::string(VKLLM_SOURCE_DIR) + "/models/tiny-kjv";

class Serve : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    server::ServerOptions o{.port = 0, .max_body_bytes = 1 << 20};
    std::vector<server::ServedModel> models;
    models.push_back({"tiny-kjv", Engine::load(kModel)});
    srv_ = new server::Server(o, std::move(models));
    port_ = srv_->bind();
    thread_ = new std::thread([] { srv_->run(); });
  }
  static void TearDownTestSuite() {
    srv_->stop();
    thread_->join();
    delete thread_;
    delete srv_;
  }
  httplib::Client client() {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(600, 0);  // generation is slow under sanitizers
    return c;
  }
  httplib::Result post(const std::string& path, const std::string& body) {
    return client().Post(path.c_str(), body, "application/json");
  }
  static server::Server* srv_;
  static std::thread* thread_;
  static int port_;
};
server::Server* Serve::srv_ = nullptr;
std::thread* Serve::thread_ = nullptr;
int Serve::port_ = 0;

json chat_body(bool stream) {
  return {{"model", "tiny-kjv"},
          {"messages", {{{"role", "user"}, {"content", "And God said"}}}},
          {"max_tokens", 12},
          {"temperature", 0},
          {"stream", stream}};
}

// The data lines of a server-sent event stream.
std::vector<std::string> events(const std::string& body) {
  std::vector<std::string> out;
  std::istringstream in(body);
  for (std::string line; std::getline(in, line);)
    if (line.rfind("data: ", 0) == 0) out.push_back(line.substr(6));
  return out;
}

TEST_F(Serve, HealthModelsAndMetrics) {
  auto r = client().Get("/health");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = client().Get("/v1/models");
  ASSERT_TRUE(r);
  auto j = json::parse(r->body);
  EXPECT_EQ(j["object"], "list");
  EXPECT_EQ(j["data"][0]["id"], "tiny-kjv");
  r = client().Get("/metrics");
  ASSERT_TRUE(r);
  EXPECT_NE(r->body.find("vkllm_queue_depth"), std::string::npos) << r->body;
}

TEST_F(Serve, ChatIsTheEnginesGreedyText) {
  auto r = post("/v1/chat/completions", chat_body(false).dump());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  EXPECT_EQ(j["object"], "chat.completion");
  EXPECT_EQ(j["choices"][0]["message"]["role"], "assistant");
  EXPECT_EQ(j["usage"]["completion_tokens"], 12);
  // The same request through the engine alone.
  auto engine = Engine::load(kModel);
  Request req;
  req.messages = {{"user", "And God said"}};
  req.max_tokens = 12;
  req.sampling.temperature = 0.0f;
  auto want = engine->generate(req);
  EXPECT_EQ(j["choices"][0]["message"]["content"], want.text);
  EXPECT_EQ(j["choices"][0]["finish_reason"], want.finish_reason);
  EXPECT_EQ(j["usage"]["prompt_tokens"], want.prompt_tokens);
}

TEST_F(Serve, StreamedChunksAddUpToTheText) {
  auto whole = json::parse(post("/v1/chat/completions", chat_body(false).dump())->body);
  json body = chat_body(true);
  body["stream_options"] = {{"include_usage", true}};
  auto r = post("/v1/chat/completions", body.dump());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200);
  EXPECT_NE(r->get_header_value("Content-Type").find("text/event-stream"), std::string::npos);
  auto ev = events(r->body);
  ASSERT_GE(ev.size(), 4u) << r->body;
  EXPECT_EQ(ev.back(), "[DONE]");
  std::string text;
  std::string finish;
  for (size_t i = 0; i + 1 < ev.size(); ++i) {
    auto c = json::parse(ev[i]);
    EXPECT_EQ(c["object"], "chat.completion.chunk");
    if (c["choices"].empty()) {  // the usage chunk, last
      EXPECT_EQ(i + 2, ev.size());
      EXPECT_EQ(c["usage"]["completion_tokens"], 12);
      continue;
    }
    const auto& d = c["choices"][0]["delta"];
    if (i == 0) {
      EXPECT_EQ(d["role"], "assistant");
    }
    if (d.contains("content")) text += d["content"].get<std::string>();
    if (!c["choices"][0]["finish_reason"].is_null()) finish = c["choices"][0]["finish_reason"];
  }
  EXPECT_EQ(text, whole["choices"][0]["message"]["content"]);
  EXPECT_EQ(finish, whole["choices"][0]["finish_reason"]);
}

TEST_F(Serve, Logprobs) {
  // The chosen tokens' logprobs and the top alternatives, whole and streamed, as the engine
  // reports them.
  json body = chat_body(false);
  body["logprobs"] = true;
  body["top_logprobs"] = 3;
  auto r = post("/v1/chat/completions", body.dump());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  const auto& content = j["choices"][0]["logprobs"]["content"];
  ASSERT_EQ(content.size(), 12u);
  std::string text;
  for (const auto& t : content) {
    EXPECT_LE(t["logprob"].get<double>(), 0.0);
    ASSERT_EQ(t["top_logprobs"].size(), 3u);
    // Greedy: the chosen token is the most likely one.
    EXPECT_EQ(t["top_logprobs"][0]["token"], t["token"]);
    for (const auto& b : t["bytes"]) text += char(b.get<int>());
  }
  EXPECT_EQ(text, j["choices"][0]["message"]["content"]);
  body["stream"] = true;
  r = post("/v1/chat/completions", body.dump());
  ASSERT_TRUE(r);
  size_t streamed = 0;
  for (const auto& e : events(r->body)) {
    if (e == "[DONE]") continue;
    auto c = json::parse(e);
    if (!c["choices"].empty() && c["choices"][0]["logprobs"].is_object())
      streamed += c["choices"][0]["logprobs"]["content"].size();
  }
  EXPECT_EQ(streamed, 12u);
  json cb = {{"model", "tiny-kjv"},
             {"prompt", "In the beginning"},
             {"max_tokens", 4},
             {"temperature", 0},
             {"logprobs", 2}};
  r = post("/v1/completions", cb.dump());
  ASSERT_TRUE(r);
  j = json::parse(r->body);
  EXPECT_EQ(j["choices"][0]["logprobs"]["tokens"].size(), 4u);
  EXPECT_EQ(j["choices"][0]["logprobs"]["top_logprobs"][0].size(), 2u);
}

TEST_F(Serve, Completions) {
  json body = {{"model", "tiny-kjv"},
               {"prompt", "In the beginning"},
               {"max_tokens", 6},
               {"temperature", 0},
               {"echo", true}};
  auto r = post("/v1/completions", body.dump());
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  EXPECT_EQ(j["object"], "text_completion");
  EXPECT_EQ(j["choices"][0]["text"].get<std::string>().rfind("In the beginning", 0), 0u);
  body["stream"] = true;
  body["echo"] = false;
  r = post("/v1/completions", body.dump());
  ASSERT_TRUE(r);
  auto ev = events(r->body);
  EXPECT_EQ(ev.back(), "[DONE]");
}

// The status and error.param of a bad request.
std::pair<int, json> error_of(httplib::Result r) {
  if (!r) return {0, nullptr};
  auto j = json::parse(r->body, nullptr, false);
  EXPECT_TRUE(j.is_object() && j.contains("error")) << r->body;
  return {r->status, j.is_object() && j.contains("error") ? j["error"]["param"] : json()};
}

TEST_F(Serve, BadRequestsGetOpenAiErrorObjects) {
  EXPECT_EQ(error_of(post("/v1/chat/completions", "{not json")).first, 400);
  json b = chat_body(false);
  b.erase("model");
  EXPECT_EQ(error_of(post("/v1/chat/completions", b.dump())), std::make_pair(400, json("model")));
  b = chat_body(false);
  b["model"] = "nope";
  EXPECT_EQ(error_of(post("/v1/chat/completions", b.dump())).first, 404);
  b = chat_body(false);
  b["messages"][0]["content"] = 5;
  EXPECT_EQ(error_of(post("/v1/chat/completions", b.dump())),
            std::make_pair(400, json("messages[0].content")));
  b = chat_body(false);
  b["temperature"] = "hot";
  EXPECT_EQ(error_of(post("/v1/chat/completions", b.dump())),
            std::make_pair(400, json("temperature")));
  b = chat_body(false);
  b["messages"][0]["content"] = {
      {{"type", "image_url"}, {"image_url", {{"url", "https://example.com/a.png"}}}}};
  auto [status, param] = error_of(post("/v1/chat/completions", b.dump()));
  EXPECT_EQ(status, 400);
  EXPECT_EQ(param, "messages[0].content[0].image_url.url");
  b = chat_body(false);
  b["max_tokens"] = 100000;
  b["messages"][0]["content"] = std::string(2 << 20, 'a');  // over the 1 MiB body limit
  EXPECT_EQ(error_of(post("/v1/chat/completions", b.dump())).first, 413);
  EXPECT_EQ(error_of(client().Get("/v1/nothing")).first, 404);
  // The Responses API names its own fields.
  EXPECT_EQ(error_of(post("/v1/responses", json{{"model", "tiny-kjv"}}.dump())),
            std::make_pair(400, json("input")));
  EXPECT_EQ(error_of(post("/v1/responses",
                          json{{"model", "tiny-kjv"},
                               {"input", {{{"type", "web_search_call"}, {"role", "user"}}}}}
                              .dump())),
            std::make_pair(400, json("input[0].type")));
  // A prompt over the context is the engine's InputError: 400 with its message.
  b = chat_body(false);
  std::string long_text;
  for (int i = 0; i < 3000; ++i) long_text += "and the Lord spake ";
  b["messages"][0]["content"] = long_text;
  EXPECT_EQ(error_of(post("/v1/chat/completions", b.dump())).first, 400);
  // The server still answers.
  auto r = post("/v1/chat/completions", chat_body(false).dump());
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
}

// Chat deltas of a stream: content, reasoning and tool calls put back together as the official
// clients do (tool calls by index: the head with id and name, then argument fragments).
struct Streamed {
  std::string content, reasoning, finish;
  json calls = json::array();
};
Streamed reassemble(const std::string& body) {
  Streamed s;
  for (const auto& e : events(body)) {
    if (e == "[DONE]") continue;
    const json c = json::parse(e);
    const json& ch = c["choices"][0];
    if (!ch["finish_reason"].is_null()) s.finish = ch["finish_reason"];
    const json& d = ch["delta"];
    if (d.contains("content") && d["content"].is_string())
      s.content += d["content"].get<std::string>();
    if (d.contains("reasoning_content")) s.reasoning += d["reasoning_content"].get<std::string>();
    for (const auto& t : d.value("tool_calls", json::array())) {
      const size_t i = t["index"];
      while (s.calls.size() <= i)
        s.calls.push_back({{"function", {{"name", ""}, {"arguments", ""}}}});
      if (t.contains("id")) s.calls[i]["id"] = t["id"], s.calls[i]["type"] = t["type"];
      if (t["function"].contains("name")) s.calls[i]["function"]["name"] = t["function"]["name"];
      s.calls[i]["function"]["arguments"] = s.calls[i]["function"]["arguments"].get<std::string>() +
                                            t["function"]["arguments"].get<std::string>();
    }
  }
  return s;
}

TEST_F(Serve, ResponseFormatJsonSchema) {
  // Properties in an order that is not alphabetical: the output keeps it.
  auto b = nlohmann::ordered_json::parse(chat_body(false).dump());
  b["max_tokens"] = 60;
  b["response_format"] = nlohmann::ordered_json::parse(R"({"type": "json_schema", "json_schema": {
      "name": "verse", "strict": true, "schema": {"type": "object", "properties": {
      "speaker": {"type": "string", "maxLength": 12}, "book": {"enum": ["Genesis", "Exodus"]}},
      "required": ["speaker", "book"], "additionalProperties": false}}})");
  auto r = post("/v1/chat/completions", b.dump());
  ASSERT_EQ(r->status, 200) << r->body;
  const json out = json::parse(r->body)["choices"][0];
  const std::string content = out["message"]["content"];
  const json v = json::parse(content);
  EXPECT_TRUE(v["speaker"].is_string());
  EXPECT_TRUE(v["book"] == "Genesis" || v["book"] == "Exodus") << content;
  EXPECT_LT(content.find("speaker"), content.find("book")) << content;
  EXPECT_EQ(out["finish_reason"], "stop");
  b["stream"] = true;  // the same text streamed (greedy)
  EXPECT_EQ(reassemble(post("/v1/chat/completions", b.dump())->body).content, content);
  b["stream"] = false;
  b["response_format"] = {{"type", "json_object"}};
  EXPECT_TRUE(json::parse(json::parse(post("/v1/chat/completions", b.dump())
                                          ->body)["choices"][0]["message"]["content"]
                              .get<std::string>())
                  .is_object());
  // llama.cpp's fields on completions.
  json c = {{"model", "tiny-kjv"},
            {"prompt", "And God said"},
            {"max_tokens", 20},
            {"temperature", 0},
            {"grammar", "root ::= (\"yes\" | \"no\") \".\""}};
  const std::string text =
      json::parse(post("/v1/completions", c.dump())->body)["choices"][0]["text"];
  EXPECT_TRUE(text == "yes." || text == "no.") << text;
}

TEST_F(Serve, ResponsesFunctionCallItems) {
  // A function_call without its call_id is named; a forced call comes back as an output item.
  EXPECT_EQ(
      error_of(post("/v1/responses", json{{"model", "tiny-kjv"},
                                          {"input", {{{"type", "function_call"}, {"name", "f"}}}}}
                                         .dump())),
      std::make_pair(400, json("input[0].call_id")));
  json b = {{"model", "tiny-kjv"},
            {"input", "Where?"},
            {"max_output_tokens", 60},
            {"temperature", 0},
            {"tools",
             {{{"type", "function"},
               {"name", "f"},
               {"parameters",
                {{"type", "object"},
                 {"properties", {{"n", {{"type", "integer"}}}}},
                 {"required", {"n"}}}}}}},
            {"tool_choice", "required"}};
  const json r = json::parse(post("/v1/responses", b.dump())->body);
  ASSERT_EQ(r["output"].size(), 1u) << r.dump();
  EXPECT_EQ(r["output"][0]["type"], "function_call");
  EXPECT_EQ(r["output"][0]["name"], "f");
  EXPECT_TRUE(json::parse(r["output"][0]["arguments"].get<std::string>())["n"].is_number_integer());
  b["stream"] = true;
  bool args_done = false;
  std::istringstream in(post("/v1/responses", b.dump())->body);
  for (std::string line; std::getline(in, line);)
    if (line == "event: response.function_call_arguments.done") args_done = true;
  EXPECT_TRUE(args_done);
}

TEST_F(Serve, ForcedToolCallsWholeAndStreamed) {
  json b = chat_body(false);
  b["max_tokens"] = 80;
  b["tools"] = json::parse(R"([{"type": "function", "function": {"name": "find_verse",
      "parameters": {"type": "object", "properties": {"book": {"type": "string", "maxLength": 10},
      "chapter": {"type": "integer", "minimum": 1, "maximum": 50}}, "required": ["book", "chapter"]}}},
      {"type": "function", "function": {"name": "noop"}}])");
  b["tool_choice"] = {{"type", "function"}, {"function", {{"name", "find_verse"}}}};
  auto r = post("/v1/chat/completions", b.dump());
  ASSERT_EQ(r->status, 200) << r->body;
  const json choice = json::parse(r->body)["choices"][0];
  EXPECT_EQ(choice["finish_reason"], "tool_calls") << r->body;
  EXPECT_TRUE(choice["message"]["content"].is_null()) << r->body;
  const json calls = choice["message"]["tool_calls"];
  ASSERT_EQ(calls.size(), 1u) << r->body;
  EXPECT_EQ(calls[0]["type"], "function");
  EXPECT_TRUE(calls[0]["id"].get<std::string>().starts_with("call_"));
  EXPECT_EQ(calls[0]["function"]["name"], "find_verse");
  const json args = json::parse(calls[0]["function"]["arguments"].get<std::string>());
  EXPECT_TRUE(args["book"].is_string());
  EXPECT_GE(args["chapter"].get<int>(), 1);
  EXPECT_LE(args["chapter"].get<int>(), 50);
  b["stream"] = true;
  Streamed s = reassemble(post("/v1/chat/completions", b.dump())->body);
  EXPECT_EQ(s.finish, "tool_calls");
  ASSERT_EQ(s.calls.size(), 1u);
  EXPECT_EQ(s.calls[0]["function"]["name"], "find_verse");
  EXPECT_EQ(s.calls[0]["function"]["arguments"], calls[0]["function"]["arguments"]);  // greedy
  EXPECT_EQ(s.content, "");
  // Errors name the field.
  b["stream"] = false;
  b["tool_choice"] = "sometimes";
  EXPECT_EQ(error_of(post("/v1/chat/completions", b.dump())),
            std::make_pair(400, json("tool_choice")));
  b["tool_choice"] = "required";
  b["response_format"] = {{"type", "xml"}};
  EXPECT_EQ(error_of(post("/v1/chat/completions", b.dump())),
            std::make_pair(400, json("response_format.type")));
  b.erase("response_format");
  b["tool_choice"] = {{"type", "function"}, {"function", {{"name", "missing"}}}};
  EXPECT_EQ(error_of(post("/v1/chat/completions", b.dump())).first, 400);
  b["messages"].push_back({{"role", "tool"}, {"content", "{}"}});
  EXPECT_EQ(error_of(post("/v1/chat/completions", b.dump())),
            std::make_pair(400, json("messages[1].tool_call_id")));
}

TEST(ServeReasoning, ReasoningContentWholeAndStreamed) {
  std::vector<server::ServedModel> models;
  models.push_back({"thinker", Engine::load(test::thinking_model())});
  server::Server srv({.port = 0, .thinking_budget = 6}, std::move(models));  // a server default
  const int port = srv.bind();
  std::thread t([&] { srv.run(); });
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(600, 0);
  json b = {{"model", "thinker"},
            {"messages", {{{"role", "user"}, {"content", "And God said"}}}},
            {"max_tokens", 30},
            {"temperature", 0}};
  auto r = c.Post("/v1/chat/completions", b.dump(), "application/json");
  ASSERT_EQ(r->status, 200) << r->body;
  const json msg = json::parse(r->body)["choices"][0]["message"];
  const std::string reasoning = msg["reasoning_content"];
  EXPECT_FALSE(reasoning.empty()) << r->body;
  EXPECT_EQ(msg["content"].get<std::string>().find("</think>"), std::string::npos) << r->body;
  b["stream"] = true;
  Streamed s = reassemble(c.Post("/v1/chat/completions", b.dump(), "application/json")->body);
  EXPECT_EQ(s.reasoning, reasoning);
  EXPECT_EQ(s.content, msg["content"]);
  b["stream"] = false;
  b["reasoning_effort"] = "extreme";
  r = c.Post("/v1/chat/completions", b.dump(), "application/json");
  EXPECT_EQ(json::parse(r->body)["error"]["param"], "reasoning_effort");
  json rb = {{"model", "thinker"},
             {"input", "And God said"},
             {"max_output_tokens", 20},
             {"reasoning", {{"effort", "low"}}}};
  r = c.Post("/v1/responses", rb.dump(), "application/json");
  ASSERT_EQ(r->status, 200) << r->body;
  const json out = json::parse(r->body)["output"];
  EXPECT_EQ(out[0]["type"], "reasoning") << r->body;
  rb["reasoning"]["effort"] = "max";
  r = c.Post("/v1/responses", rb.dump(), "application/json");
  EXPECT_EQ(json::parse(r->body)["error"]["param"], "reasoning.effort");
  srv.stop();
  t.join();
}

TEST_F(Serve, LogitBiasBansAndForcesTokens) {
  auto engine = Engine::load(kModel);
  const auto prompt = engine->tokenize("And God said", true);
  auto complete = [&](const json& bias) {
    json b = {{"model", "tiny-kjv"}, {"prompt", prompt},   {"max_tokens", 4},
              {"temperature", 0},    {"ignore_eos", true}, {"logprobs", 0}};
    if (!bias.is_null()) b["logit_bias"] = bias;
    auto r = post("/v1/completions", b.dump());
    EXPECT_TRUE(r && r->status == 200) << (r ? r->body : "no response");
    return json::parse(r->body)["choices"][0];
  };
  const json plain = complete(nullptr);
  Request req;
  req.prompt_ids = prompt;
  req.max_tokens = 4;
  req.ignore_eos = true;
  req.sampling.temperature = 0.0f;
  const auto greedy = engine->generate(req);
  EXPECT_EQ(plain["text"], greedy.text);
  // -100 bans the greedy first token; +100 forces a token every step.
  const json banned = complete({{std::to_string(greedy.ids[0]), -100}});
  EXPECT_NE(banned["logprobs"]["tokens"][0], plain["logprobs"]["tokens"][0]);
  const int32_t forced = engine->tokenize(" earth")[0];
  const json all = complete({{std::to_string(forced), 100}});
  EXPECT_EQ(all["text"], engine->detokenize({forced, forced, forced, forced}));
  for (const json& bad : {json{{"x", 1}}, json{{"5", 500}}, json{{"-3", 1}}, json::array()}) {
    json b = {{"model", "tiny-kjv"}, {"prompt", "x"}, {"logit_bias", bad}};
    auto [status, param] = error_of(post("/v1/completions", b.dump()));
    EXPECT_EQ(status, 400) << bad;
    EXPECT_EQ(param.get<std::string>().rfind("logit_bias", 0), 0u) << param;
  }
  json b = {{"model", "tiny-kjv"}, {"prompt", "x"}, {"logit_bias", {{"99999999", 1}}}};
  EXPECT_EQ(error_of(post("/v1/completions", b.dump())).first, 400);  // outside the vocabulary
}

// A server whose model batches concurrent requests (--parallel 4).
class ServeBatched : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<server::ServedModel> models;
    models.push_back({"tiny-kjv", Engine::load(kModel, {.parallel = 4})});
    srv_ = std::make_unique<server::Server>(server::ServerOptions{.port = 0}, std::move(models));
    port_ = srv_->bind();
    thread_ = std::thread([this] { srv_->run(); });
  }
  void TearDown() override {
    srv_->stop();
    thread_.join();
  }
  httplib::Result post(const json& body, const char* path = "/v1/chat/completions") {
    httplib::Client c("127.0.0.1", port_);
    c.set_read_timeout(600, 0);
    return c.Post(path, body.dump(), "application/json");
  }
  std::unique_ptr<server::Server> srv_;
  std::thread thread_;
  int port_ = 0;
};

TEST_F(ServeBatched, ConcurrentClientsGetWhatEachGetsAlone) {
  const std::vector<std::string> prompts = {"And God said",         "In the beginning",
                                            "Blessed are the meek", "And the earth was without",
                                            "Let there be light",   "The Lord is my shepherd"};
  auto body = [&](size_t i) {
    json b = chat_body(i % 2 == 1);  // half of them streamed
    b["messages"][0]["content"] = prompts[i];
    b["max_tokens"] = 10 + int(i);
    return b;
  };
  auto text_of = [](const httplib::Result& r, bool stream) {
    if (!stream) return json::parse(r->body)["choices"][0]["message"]["content"].get<std::string>();
    std::string t;
    for (const auto& e : events(r->body)) {
      if (e == "[DONE]") continue;
      auto c = json::parse(e);
      if (!c["choices"].empty() && c["choices"][0]["delta"].contains("content"))
        t += c["choices"][0]["delta"]["content"].get<std::string>();
    }
    return t;
  };
  auto serial = Engine::load(kModel);
  std::vector<std::string> alone;
  for (size_t i = 0; i < prompts.size(); ++i) {
    Request req;
    req.messages = {{"user", prompts[i]}};
    req.max_tokens = 10 + int(i);
    req.sampling.temperature = 0.0f;
    alone.push_back(serial->generate(req).text);
  }
  std::vector<std::string> got(prompts.size());
  std::vector<std::thread> clients;
  for (size_t i = 0; i < prompts.size(); ++i) {
    clients.emplace_back([&, i] {
      auto r = post(body(i));
      if (r && r->status == 200) got[i] = text_of(r, i % 2 == 1);
    });
  }
  for (auto& t : clients) t.join();
  for (size_t i = 0; i < prompts.size(); ++i) EXPECT_EQ(got[i], alone[i]) << prompts[i];
  auto m = httplib::Client("127.0.0.1", port_).Get("/metrics");
  ASSERT_TRUE(m);
  for (const char* g : {"vkllm_kv_blocks_used", "vkllm_kv_blocks_free", "vkllm_preemptions_total"})
    EXPECT_NE(m->body.find(g), std::string::npos) << g;
}

TEST_F(ServeBatched, SeveralChoicesWholeAndStreamed) {
  json b = chat_body(false);
  b["n"] = 3;
  b["temperature"] = 0.8;
  b["seed"] = 11;
  auto r = post(b);
  ASSERT_TRUE(r);
  ASSERT_EQ(r->status, 200) << r->body;
  auto j = json::parse(r->body);
  ASSERT_EQ(j["choices"].size(), 3u);
  int64_t tokens = 0;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(j["choices"][i]["index"], i);
    tokens += 12;
  }
  EXPECT_EQ(j["usage"]["completion_tokens"], tokens);  // max_tokens 12 each, no EOS that soon
  EXPECT_NE(j["choices"][0]["message"]["content"], j["choices"][1]["message"]["content"])
      << "choices sample with seed + index";
  // Streamed: the deltas of each index add up to the same choices (same seeds).
  b["stream"] = true;
  r = post(b);
  ASSERT_TRUE(r);
  std::vector<std::string> text(3);
  for (const auto& e : events(r->body)) {
    if (e == "[DONE]") continue;
    auto c = json::parse(e);
    const auto& ch = c["choices"][0];
    if (ch["delta"].contains("content"))
      text[ch["index"].get<size_t>()] += ch["delta"]["content"].get<std::string>();
  }
  for (size_t i = 0; i < 3; ++i) EXPECT_EQ(text[i], j["choices"][i]["message"]["content"]) << i;
  b["n"] = 0;
  EXPECT_EQ(error_of(post(b)), std::make_pair(400, json("n")));
}

TEST(ServeDisconnect, AQueuedStreamWhoseClientLeftNeverRuns) {
  // One request at a time: B waits behind A. B's client leaves after the first chunk; the
  // server's heartbeat notices while B is still queued, so B generates nothing once A is done.
  std::vector<server::ServedModel> models;
  models.push_back({"tiny-kjv", Engine::load(kModel)});
  server::Server srv(server::ServerOptions{.port = 0}, std::move(models));
  const int port = srv.bind();
  std::thread run([&] { srv.run(); });
  json a = chat_body(false);
  a["max_tokens"] = 400;
  a["ignore_eos"] = true;
  std::thread first([&] {
    httplib::Client c("127.0.0.1", port);
    c.set_read_timeout(600, 0);  // slow under sanitizers
    auto r = c.Post("/v1/chat/completions", a.dump(), "application/json");
    EXPECT_TRUE(r && r->status == 200);
  });
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  json b = chat_body(true);
  b["max_tokens"] = 400;
  b["ignore_eos"] = true;
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/chat/completions";
  req.body = b.dump();
  req.set_header("Content-Type", "application/json");
  req.content_receiver = [](const char*, size_t, uint64_t, uint64_t) { return false; };
  httplib::Response res;
  httplib::Error err;
  httplib::Client("127.0.0.1", port).send(req, res, err);  // returns once it hung up
  first.join();
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  auto m = httplib::Client("127.0.0.1", port).Get("/metrics");
  ASSERT_TRUE(m);
  EXPECT_NE(m->body.find("vkllm_generation_tokens_total 400\n"), std::string::npos) << m->body;
  srv.stop();
  run.join();
}

std::string base64(const std::string& bytes) {
  static const char* k = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  for (size_t i = 0; i < bytes.size(); i += 3) {
    uint32_t v = uint32_t(uint8_t(bytes[i])) << 16;
    if (i + 1 < bytes.size()) v |= uint32_t(uint8_t(bytes[i + 1])) << 8;
    if (i + 2 < bytes.size()) v |= uint32_t(uint8_t(bytes[i + 2]));
    out += k[v >> 18 & 63];
    out += k[v >> 12 & 63];
    out += i + 1 < bytes.size() ? k[v >> 6 & 63] : '=';
    out += i + 2 < bytes.size() ? k[v & 63] : '=';
  }
  return out;
}

TEST(ServeVision, ImagesAsDataUrlsAndAllowedPaths) {
  // A LLaVA-NeXT model: the image as a data: URL and as a file under --allowed-image-dir give the
  // engine's own answer for the same message; a file elsewhere is refused.
  const std::string folder = std::string(VKLLM_SOURCE_DIR) + "/tests/data/generic_vlm/llava_next";
  const std::string file = std::string(VKLLM_SOURCE_DIR) + "/tests/data/images/rgb_61x47.png";
  std::ifstream in(file, std::ios::binary);
  const std::string png((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<server::ServedModel> models;
  models.push_back({"llava_next", Engine::load(folder)});
  server::Server srv(
      {.port = 0, .allowed_image_dir = std::string(VKLLM_SOURCE_DIR) + "/tests/data/images"},
      std::move(models));
  const int port = srv.bind();
  std::thread t([&] { srv.run(); });
  httplib::Client c("127.0.0.1", port);
  auto ask = [&](const std::string& url) {
    json body = {{"model", "llava_next"},
                 {"max_tokens", 6},
                 {"temperature", 0},
                 {"messages",
                  {{{"role", "user"},
                    {"content",
                     {{{"type", "image_url"}, {"image_url", {{"url", url}}}},
                      {{"type", "text"}, {"text", "What is it?"}}}}}}}};
    return c.Post("/v1/chat/completions", body.dump(), "application/json");
  };
  auto engine = Engine::load(folder);
  Request req;
  req.messages = {{.role = "user", .content = "What is it?", .images = {{.source = file}}}};
  req.max_tokens = 6;
  req.sampling.temperature = 0.0f;
  const std::string want = engine->generate(req).text;
  for (const std::string& url : {"data:image/png;base64," + base64(png), "file://" + file}) {
    auto r = ask(url);
    ASSERT_TRUE(r);
    ASSERT_EQ(r->status, 200) << r->body;
    EXPECT_EQ(json::parse(r->body)["choices"][0]["message"]["content"], want) << url.substr(0, 30);
  }
  auto r = ask("file://" + std::string(VKLLM_SOURCE_DIR) + "/models/tiny-kjv/config.json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 400);
  EXPECT_NE(r->body.find("not under --allowed-image-dir"), std::string::npos) << r->body;
  srv.stop();
  t.join();
}

TEST(ServeOpenAiClient, TheOfficialClientWorks) {
  // tests/openai_client.mjs: models, chat (plain, streamed with usage, an image), completions,
  // and the errors the client raises (404, 400 with param, 401).
  std::vector<server::ServedModel> models;
  models.push_back({"tiny-kjv", Engine::load(kModel)});
  models.push_back({"llava_next", Engine::load(std::string(VKLLM_SOURCE_DIR) +
                                               "/tests/data/generic_vlm/llava_next")});
  server::Server srv({.port = 0, .api_key = "k1"}, std::move(models));
  const int port = srv.bind();
  std::thread t([&] { srv.run(); });
  const std::string cmd = std::string("node ") + VKLLM_SOURCE_DIR + "/tests/openai_client.mjs " +
                          VKLLM_NPM_OPENAI_DIR +
                          "/node_modules http://127.0.0.1:" + std::to_string(port) + "/v1 k1 " +
                          VKLLM_SOURCE_DIR + "/tests/data/images/rgb_61x47.png 2>&1";
  std::string out;
  if (FILE* f = ::popen(cmd.c_str(), "r")) {
    char buf[4096];
    for (size_t n; (n = fread(buf, 1, sizeof buf, f)) > 0;) out.append(buf, n);
    EXPECT_EQ(::pclose(f), 0) << out;
  } else {
    ADD_FAILURE() << "cannot run node";
  }
  EXPECT_NE(out.find("ok"), std::string::npos) << out;
  srv.stop();
  t.join();
}

TEST(ServeAuth, ApiKeyIsRequired) {
  std::vector<server::ServedModel> models;
  models.push_back({"tiny-kjv", Engine::load(kModel)});
  server::Server srv({.port = 0, .api_key = "sekrit"}, std::move(models));
  const int port = srv.bind();
  std::thread t([&] { srv.run(); });
  httplib::Client c("127.0.0.1", port);
  auto r = c.Get("/v1/models");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 401);
  EXPECT_EQ(json::parse(r->body)["error"]["type"], "authentication_error");
  r = c.Get("/v1/models", {{"Authorization", "Bearer sekrit"}});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  r = c.Get("/health");  // not behind the key
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 200);
  srv.stop();
  t.join();
}

}  // namespace
}  // namespace vkllm::test

namespace vkllm::test {
namespace {

// Random LoRA factors for q_proj and v_proj of every layer of the bundled model, as a PEFT or an
// mlx-lm folder.
std::string random_adapter(const std::string& name, bool mlx, uint32_t seed) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("vkllm_serve_adapter_" + name);
  fs::remove_all(dir);
  fs::create_directories(dir);
  const int r = 4, layers = 6, hidden = 256;
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 0.15f);
  std::vector<std::vector<float>> data;
  std::vector<core::StWrite> w;
  auto add = [&](const std::string& key, std::vector<int64_t> shape) {
    data.emplace_back(size_t(shape[0] * shape[1]));
    for (auto& v : data.back()) v = nd(rng);
    w.push_back({key, core::StDtype::F32, shape, nullptr, data.back().size() * 4});
  };
  data.reserve(4 * layers);
  for (int l = 0; l < layers; ++l) {
    for (auto [proj, out] : {std::pair{"q_proj", 256}, std::pair{"v_proj", 128}}) {
      const std::string m = fmt::format("model.layers.{}.self_attn.{}", l, proj);
      if (mlx) {
        add(m + ".lora_a", {hidden, r});
        add(m + ".lora_b", {r, out});
      } else {
        add("base_model.model." + m + ".lora_A.weight", {r, hidden});
        add("base_model.model." + m + ".lora_B.weight", {out, r});
      }
    }
  }
  for (size_t i = 0; i < w.size(); ++i) w[i].data = data[i].data();
  core::write_safetensors(
      (dir / (mlx ? "adapters.safetensors" : "adapter_model.safetensors")).string(), w);
  std::ofstream(dir / "adapter_config.json")
      << (mlx ? R"({"fine_tune_type": "lora", "lora_parameters": {"rank": 4, "scale": 4.0}})"
              : R"({"peft_type": "LORA", "r": 4, "lora_alpha": 16})");
  return dir.string();
}

// One served base with two runtime adapters: /v1/models lists BASE:NAME, and concurrent
// requests for the base and both adapters (sharing the continuous batch) get what each gets
// from an engine with only that adapter, one request at a time.
TEST(ServeAdapters, TwoAdaptersInOneBatchAsEachAlone) {
  const std::string one = random_adapter("one", false, 1), two = random_adapter("two", true, 2);
  // Each alone, at runtime as served (merged bf16 weights round the update differently, which
  // could flip a near tie in a greedy text; merged = runtime is checked on f32 fixtures).
  auto alone = [&](const std::string& adapter) {
    auto e = Engine::load(
        kModel, {.adapters = adapter.empty() ? std::vector<std::string>{} : std::vector{adapter},
                 .adapter_mode = "runtime"});
    Request r;
    r.messages = {{"user", "And God said"}};
    r.max_tokens = 12;
    r.sampling.temperature = 0.0f;
    return e->generate(r).text;
  };
  const std::map<std::string, std::string> want = {
      {"tiny-kjv", alone("")}, {"tiny-kjv:one", alone(one)}, {"tiny-kjv:two", alone(two)}};
  EXPECT_NE(want.at("tiny-kjv:one"), want.at("tiny-kjv"));
  EXPECT_NE(want.at("tiny-kjv:two"), want.at("tiny-kjv"));

  std::vector<server::ServedModel> models;
  models.push_back({"tiny-kjv", Engine::load(kModel, {.parallel = 4,
                                                      .adapters = {"one=" + one, "two=" + two},
                                                      .adapter_mode = "runtime"})});
  server::Server srv(server::ServerOptions{.port = 0}, std::move(models));
  const int port = srv.bind();
  std::thread th([&] { srv.run(); });
  httplib::Client c("127.0.0.1", port);
  c.set_read_timeout(600, 0);
  auto listed = c.Get("/v1/models");
  ASSERT_TRUE(listed);
  std::set<std::string> ids;
  const json list = json::parse(listed->body);
  for (const auto& m : list["data"]) ids.insert(m["id"].get<std::string>());
  EXPECT_EQ(ids, (std::set<std::string>{"tiny-kjv", "tiny-kjv:one", "tiny-kjv:two"}));

  const std::vector<std::string> asked = {"tiny-kjv:one", "tiny-kjv",     "tiny-kjv:two",
                                          "two",          "tiny-kjv:one", "tiny-kjv:two"};
  std::vector<std::string> got(asked.size());
  std::vector<std::thread> clients;
  for (size_t i = 0; i < asked.size(); ++i) {
    clients.emplace_back([&, i] {
      json b = chat_body(false);
      b["model"] = asked[i];
      httplib::Client ci("127.0.0.1", port);
      ci.set_read_timeout(600, 0);
      auto r = ci.Post("/v1/chat/completions", b.dump(), "application/json");
      if (r && r->status == 200)
        got[i] = json::parse(r->body)["choices"][0]["message"]["content"].get<std::string>();
      else
        got[i] = r ? r->body : "no response";
    });
  }
  for (auto& t : clients) t.join();
  for (size_t i = 0; i < asked.size(); ++i) {
    const std::string key = asked[i] == "two" ? "tiny-kjv:two" : asked[i];
    EXPECT_EQ(got[i], want.at(key)) << asked[i];
  }
  json b = chat_body(false);
  b["model"] = "tiny-kjv:three";
  auto r = c.Post("/v1/chat/completions", b.dump(), "application/json");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->status, 404);
  srv.stop();
  th.join();
}

}  // namespace
}  // namespace vkllm::test
