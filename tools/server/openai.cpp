#include "openai.h"

#include <fmt/format.h>

#include <cmath>
#include <filesystem>

namespace vkllm::server {
namespace {

using nlohmann::json;

[[noreturn]] void bad(const std::string& param, const std::string& message) {
  throw ApiError{400, param.empty() ? message : fmt::format("{}: {}", param, message), param};
}

const char* kind(const json& v) {
  switch (v.type()) {
    case json::value_t::null:
      return "null";
    case json::value_t::boolean:
      return "a boolean";
    case json::value_t::string:
      return "a string";
    case json::value_t::array:
      return "an array";
    case json::value_t::object:
      return "an object";
    default:
      return "a number";
  }
}

// The field `key` of `body` when present and not null.
const json* field(const json& body, const char* key) {
  auto it = body.find(key);
  return it == body.end() || it->is_null() ? nullptr : &*it;
}

double number(const json& body, const char* key, double lo, double hi) {
  const json& v = *field(body, key);
  if (!v.is_number()) bad(key, fmt::format("expected a number, got {}", kind(v)));
  const double x = v.get<double>();
  if (!std::isfinite(x) || x < lo || x > hi)
    bad(key, fmt::format("{} is outside [{}, {}]", v.dump(), lo, hi));
  return x;
}

int64_t integer(const json& body, const char* key, int64_t lo, int64_t hi) {
  const json& v = *field(body, key);
  if (!v.is_number_integer()) bad(key, fmt::format("expected an integer, got {}", kind(v)));
  const int64_t x = v.is_number_unsigned() && v.get<uint64_t>() > uint64_t(INT64_MAX)
                        ? INT64_MAX
                        : v.get<int64_t>();
  if (x < lo || x > hi) bad(key, fmt::format("{} is outside [{}, {}]", v.dump(), lo, hi));
  return x;
}

bool boolean(const json& body, const char* key) {
  const json& v = *field(body, key);
  if (!v.is_boolean()) bad(key, fmt::format("expected a boolean, got {}", kind(v)));
  return v.get<bool>();
}

// The sampling and length parameters both endpoints share.
void common(const json& body, ParsedRequest& p) {
  if (!body.is_object()) bad("", "the request body must be a JSON object");
  const json* model = field(body, "model");
  if (!model) bad("model", "is required");
  if (!model->is_string()) bad("model", fmt::format("expected a string, got {}", kind(*model)));
  p.model = model->get<std::string>();
  Request& r = p.request;
  Sampling& s = r.sampling;
  for (const char* key : {"max_completion_tokens", "max_tokens"})
    if (field(body, key)) r.max_tokens = int(integer(body, key, 1, 1 << 24));
  if (field(body, "temperature")) s.temperature = float(number(body, "temperature", 0, 2));
  if (field(body, "top_p")) s.top_p = float(number(body, "top_p", 0, 1));
  if (field(body, "top_k")) s.top_k = int(integer(body, "top_k", 0, 1 << 24));
  if (field(body, "min_p")) s.min_p = float(number(body, "min_p", 0, 1));
  if (field(body, "repetition_penalty"))
    s.repetition_penalty = float(number(body, "repetition_penalty", 1e-3, 100));
  if (field(body, "presence_penalty"))
    s.presence_penalty = float(number(body, "presence_penalty", -2, 2));
  if (field(body, "frequency_penalty"))
    s.frequency_penalty = float(number(body, "frequency_penalty", -2, 2));
  if (field(body, "seed")) s.seed = uint64_t(integer(body, "seed", INT64_MIN, INT64_MAX));
  if (field(body, "ignore_eos")) r.ignore_eos = boolean(body, "ignore_eos");
  if (const json* stop = field(body, "stop")) {
    if (stop->is_string()) {
      r.stop.push_back(stop->get<std::string>());
    } else if (stop->is_array() && stop->size() <= 16) {
      for (size_t i = 0; i < stop->size(); ++i) {
        if (!(*stop)[i].is_string()) bad(fmt::format("stop[{}]", i), "expected a string");
        r.stop.push_back((*stop)[i].get<std::string>());
      }
    } else {
      bad("stop", "expected a string or an array of at most 16 strings");
    }
  }
  if (field(body, "n")) p.n = int(integer(body, "n", 1, 16));
  if (const json* lb = field(body, "logit_bias"); lb && !lb->is_null()) {
    if (!lb->is_object() || lb->size() > 1024)
      bad("logit_bias", "expected an object of at most 1024 token ids (as strings) to biases");
    for (const auto& [key, v] : lb->items()) {
      const std::string where = "logit_bias." + key;
      size_t used = 0;
      int64_t id = -1;
      try {
        id = std::stoll(key, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != key.size() || key.empty() || id < 0 || id > INT32_MAX)
        bad(where, "keys must be token ids");
      if (!v.is_number() || !std::isfinite(v.get<double>()) || std::fabs(v.get<double>()) > 100)
        bad(where, fmt::format("expected a number in [-100, 100], got {}", v.dump()));
      s.logit_bias.emplace_back(int32_t(id), v.get<float>());
    }
  }
  if (field(body, "stream")) p.stream = boolean(body, "stream");
  if (const json* so = field(body, "stream_options")) {
    if (!so->is_object()) bad("stream_options", "expected an object");
    if (field(*so, "include_usage")) {
      const json& v = (*so)["include_usage"];
      if (!v.is_boolean()) bad("stream_options.include_usage", "expected a boolean");
      p.include_usage = v.get<bool>();
    }
  }
}

// Reasoning models, as mlx-vlm's server and vLLM take them: enable_thinking and
// chat_template_kwargs (to the template), thinking_budget, and OpenAI's reasoning_effort as a
// budget (minimal/none: thinking off; the Responses API's reasoning.effort too).
void reasoning_options(const json& body, Request& r) {
  if (const json* kw = field(body, "chat_template_kwargs")) {
    if (!kw->is_object()) bad("chat_template_kwargs", "expected an object");
    r.chat_template_kwargs = kw->dump();
  }
  if (field(body, "enable_thinking")) r.enable_thinking = boolean(body, "enable_thinking");
  if (field(body, "thinking_budget"))
    r.thinking_budget = int(integer(body, "thinking_budget", 0, 1 << 20));
  // Chat Completions' reasoning_effort, or the Responses API's reasoning.effort.
  const json* e = field(body, "reasoning_effort");
  std::string param = "reasoning_effort";
  if (const json* rs = field(body, "reasoning"); !e && rs && rs->is_object()) {
    e = field(*rs, "effort");
    param = "reasoning.effort";
  }
  if (e) {
    const std::string v = e->is_string() ? e->get<std::string>() : "";
    if (v == "none" || v == "minimal")
      r.enable_thinking = false;
    else if (v == "low")
      r.thinking_budget = 512;
    else if (v == "medium")
      r.thinking_budget = 2048;
    else if (v == "high")
      r.thinking_budget = 8192;
    else
      bad(param, "expected none, minimal, low, medium or high");
  }
}

ImageInput image_part(const json& part, const std::string& where, const ImagePolicy& policy) {
  const json* iu = field(part, "image_url");
  if (!iu) bad(where + ".image_url", "is required");
  const json* url = iu->is_object() ? field(*iu, "url") : iu;
  if (!url || !url->is_string()) bad(where + ".image_url.url", "expected a string");
  std::string u = url->get<std::string>();
  if (u.rfind("data:", 0) == 0) return {.source = u};
  if (u.rfind("http://", 0) == 0 || u.rfind("https://", 0) == 0)
    bad(where + ".image_url.url",
        "remote image URLs are not fetched; send the image as a data: URL");
  if (u.rfind("file://", 0) == 0) u = u.substr(7);
  namespace fs = std::filesystem;
  if (policy.allowed_dir.empty())
    bad(where + ".image_url.url",
        "local image paths are refused (start the server with --allowed-image-dir)");
  std::error_code ec;
  const fs::path dir = fs::weakly_canonical(policy.allowed_dir, ec);
  const fs::path file = fs::weakly_canonical(u, ec);
  const auto rel = file.lexically_relative(dir);
  if (ec || rel.empty() || rel.native().rfind("..", 0) == 0)
    bad(where + ".image_url.url", fmt::format("'{}' is not under --allowed-image-dir", u));
  return {.source = file.string()};
}

}  // namespace

namespace {

// One chat message (Chat Completions' messages[i], or a Responses API input item): a role and
// content as a string or parts (text / input_text / output_text, image_url / input_image).
Message parse_message(const json& m, const std::string& where, const ImagePolicy& images) {
  if (!m.is_object()) bad(where, "expected an object");
  const json* role = field(m, "role");
  if (!role || !role->is_string()) bad(where + ".role", "expected a string");
  Message msg{.role = role->get<std::string>()};
  if (msg.role == "developer") msg.role = "system";
  if (msg.role != "system" && msg.role != "user" && msg.role != "assistant" && msg.role != "tool")
    bad(where + ".role",
        fmt::format("'{}' is not system, developer, user, assistant or tool", msg.role));
  const json* content = field(m, "content");
  if (!content) {
    if (msg.role != "assistant") bad(where + ".content", "is required");
  } else if (content->is_string()) {
    msg.content = content->get<std::string>();
  } else if (content->is_array()) {
    for (size_t k = 0; k < content->size(); ++k) {
      const json& part = (*content)[k];
      const std::string pw = fmt::format("{}.content[{}]", where, k);
      const json* type = part.is_object() ? field(part, "type") : nullptr;
      if (!type || !type->is_string()) bad(pw + ".type", "expected a string");
      const std::string t = type->get<std::string>();
      if (t == "text" || t == "input_text" || t == "output_text") {
        const json* text = field(part, "text");
        if (!text || !text->is_string()) bad(pw + ".text", "expected a string");
        msg.content += text->get<std::string>();
      } else if (t == "image_url" || t == "input_image") {
        msg.images.push_back(image_part(part, pw, images));
      } else {
        bad(pw + ".type",
            fmt::format("'{}' is not supported (text, input_text, image_url, input_image)", t));
      }
    }
  } else {
    bad(where + ".content",
        fmt::format("expected a string or an array of content parts, got {}", kind(*content)));
  }
  if (const json* calls = field(m, "tool_calls")) {
    if (msg.role != "assistant")
      bad(where + ".tool_calls", "only assistant messages make tool calls");
    if (!calls->is_array()) bad(where + ".tool_calls", "expected an array");
    for (size_t k = 0; k < calls->size(); ++k) {
      const json& c = (*calls)[k];
      const std::string cw = fmt::format("{}.tool_calls[{}]", where, k);
      const json* fn = c.is_object() ? field(c, "function") : nullptr;
      if (!fn || !fn->is_object()) bad(cw + ".function", "expected an object");
      const json* name = field(*fn, "name");
      if (!name || !name->is_string()) bad(cw + ".function.name", "expected a string");
      const json* args = field(*fn, "arguments");
      std::string a = !args ? "{}" : args->is_string() ? args->get<std::string>() : args->dump();
      const json* cid = field(c, "id");
      msg.tool_calls.push_back(
          {cid && cid->is_string() ? cid->get<std::string>() : "", name->get<std::string>(), a});
    }
  }
  for (auto [key, out] :
       {std::pair{"tool_call_id", &msg.tool_call_id}, std::pair{"name", &msg.name},
        std::pair{"reasoning_content", &msg.reasoning_content}}) {
    if (const json* v = field(m, key)) {
      if (!v->is_string()) bad(where + "." + key, "expected a string");
      *out = v->get<std::string>();
    }
  }
  if (msg.role == "tool" && msg.tool_call_id.empty() && msg.name.empty())
    bad(where + ".tool_call_id", "is required for tool messages");
  return msg;
}

}  // namespace

ParsedRequest parse_chat(const json& body, const ImagePolicy& images) {
  ParsedRequest p;
  common(body, p);
  const json* messages = field(body, "messages");
  if (!messages || !messages->is_array() || messages->empty())
    bad("messages", "expected a non-empty array of messages");
  for (size_t i = 0; i < messages->size(); ++i)
    p.request.messages.push_back(
        parse_message((*messages)[i], fmt::format("messages[{}]", i), images));
  if (field(body, "logprobs") && boolean(body, "logprobs"))
    p.request.logprobs =
        field(body, "top_logprobs") ? int(integer(body, "top_logprobs", 0, 20)) : 0;
  reasoning_options(body, p.request);
  return p;
}

ParsedRequest parse_responses(const json& body, const ImagePolicy& images) {
  ParsedRequest p;
  p.responses = true;
  common(body, p);
  if (p.n != 1) bad("n", "is not a Responses API parameter");
  reasoning_options(body, p.request);
  if (field(body, "max_output_tokens"))
    p.request.max_tokens = int(integer(body, "max_output_tokens", 1, 1 << 24));
  if (const json* ins = field(body, "instructions")) {
    if (!ins->is_string()) bad("instructions", "expected a string");
    p.instructions = ins->get<std::string>();
    p.request.messages.push_back({"system", p.instructions, {}});
  }
  const json* input = field(body, "input");
  if (!input) bad("input", "is required");
  if (input->is_string()) {
    p.request.messages.push_back({"user", input->get<std::string>(), {}});
  } else if (input->is_array() && !input->empty()) {
    for (size_t i = 0; i < input->size(); ++i) {
      const json& item = (*input)[i];
      const std::string where = fmt::format("input[{}]", i);
      const json* type = item.is_object() ? field(item, "type") : nullptr;
      const std::string t = type && type->is_string() ? type->get<std::string>() : "message";
      auto text_of = [&](const char* key) {
        const json* v = field(item, key);
        if (!v) bad(where + "." + key, "is required");
        return v->is_string() ? v->get<std::string>() : v->dump();
      };
      if (t == "function_call") {  // an earlier call: joins the assistant turn before it
        auto& msgs = p.request.messages;
        if (msgs.empty() || msgs.back().role != "assistant") msgs.push_back({"assistant", ""});
        msgs.back().tool_calls.push_back(
            {text_of("call_id"), text_of("name"), text_of("arguments")});
      } else if (t == "function_call_output") {
        Message m{"tool", text_of("output")};
        m.tool_call_id = text_of("call_id");
        p.request.messages.push_back(std::move(m));
      } else if (t == "message") {
        p.request.messages.push_back(parse_message(item, where, images));
      } else {
        bad(where + ".type", "expected message, function_call or function_call_output");
      }
    }
  } else {
    bad("input", "expected a string or a non-empty array of input items");
  }
  return p;
}

ParsedRequest parse_completion(const json& body) {
  ParsedRequest p;
  p.chat = false;
  common(body, p);
  const json* prompt = field(body, "prompt");
  if (!prompt) bad("prompt", "is required");
  if (prompt->is_array() && prompt->size() == 1 && (*prompt)[0].is_string()) prompt = &(*prompt)[0];
  if (prompt->is_string()) {
    p.request.prompt = prompt->get<std::string>();
    if (p.request.prompt.empty()) bad("prompt", "is empty");
  } else if (prompt->is_array() && !prompt->empty() && (*prompt)[0].is_number_integer()) {
    for (const auto& id : *prompt) {
      if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() > INT32_MAX)
        bad("prompt", "expected token ids (non-negative integers)");
      p.request.prompt_ids.push_back(id.get<int32_t>());
    }
  } else {
    bad("prompt", "expected a string or an array of token ids (one prompt per request)");
  }
  if (field(body, "echo")) p.echo = boolean(body, "echo");
  if (field(body, "logprobs")) p.request.logprobs = int(integer(body, "logprobs", 0, 20));
  return p;
}

json function_call_item(const ToolCall& c) {
  return {{"type", "function_call"}, {"id", "fc_" + c.id},       {"call_id", c.id},
          {"name", c.name},          {"arguments", c.arguments}, {"status", "completed"}};
}

json response_message(const std::string& msg_id, const std::string& text, bool done) {
  json content = json::array();
  if (done)
    content.push_back({{"type", "output_text"}, {"text", text}, {"annotations", json::array()}});
  return {{"type", "message"},
          {"id", msg_id},
          {"status", done ? "completed" : "in_progress"},
          {"role", "assistant"},
          {"content", content}};
}

std::string response_message_id(const std::string& response_id) {
  const size_t dash = response_id.find('-');  // resp-<hex> -> msg-<hex>
  return "msg" + (dash == std::string::npos ? "-" + response_id : response_id.substr(dash));
}

json responses_object(const ParsedRequest& req, const std::string& id, int64_t created,
                      const Result* r) {
  const Sampling& s = req.request.sampling;
  json out = {{"id", id},
              {"object", "response"},
              {"created_at", created},
              {"status", !r                             ? "in_progress"
                         : r->finish_reason == "length" ? "incomplete"
                                                        : "completed"},
              {"error", nullptr},
              {"incomplete_details", nullptr},
              {"instructions", req.instructions.empty() ? json(nullptr) : json(req.instructions)},
              {"max_output_tokens", req.request.max_tokens},
              {"model", req.model},
              {"output", json::array()},
              {"parallel_tool_calls", false},
              {"previous_response_id", nullptr},
              {"temperature", s.temperature ? json(*s.temperature) : json(nullptr)},
              {"top_p", s.top_p ? json(*s.top_p) : json(nullptr)},
              {"text", {{"format", {{"type", "text"}}}}},
              {"tool_choice", "auto"},
              {"tools", json::array()},
              {"metadata", json::object()},
              {"usage", nullptr}};
  if (!r) return out;
  if (r->finish_reason == "length") out["incomplete_details"] = {{"reason", "max_output_tokens"}};
  if (!r->reasoning.empty()) {
    out["output"].push_back({{"type", "reasoning"},
                             {"id", "rs_" + id},
                             {"summary", json::array()},
                             {"content", {{{"type", "reasoning_text"}, {"text", r->reasoning}}}}});
  }
  if (!r->content.empty() || r->tool_calls.empty())
    out["output"].push_back(response_message(response_message_id(id), r->content, true));
  for (const auto& c : r->tool_calls) out["output"].push_back(function_call_item(c));
  out["usage"] = {{"input_tokens", r->prompt_tokens},
                  {"input_tokens_details", {{"cached_tokens", r->cached_tokens}}},
                  {"output_tokens", r->generated_tokens},
                  {"output_tokens_details", {{"reasoning_tokens", 0}}},
                  {"total_tokens", r->prompt_tokens + r->generated_tokens}};
  return out;
}

void parse_constraints(const nlohmann::ordered_json& body, bool responses, Request& r) {
  using oj = nlohmann::ordered_json;
  auto get = [](const oj& o, const char* key) -> const oj* {
    auto it = o.find(key);
    return it == o.end() || it->is_null() ? nullptr : &*it;
  };
  int given = 0;
  auto schema_of = [&](const oj& holder, const std::string& where) {
    const oj* schema = get(holder, "schema");
    if (!schema) bad(where + ".schema", "is required");
    if (!schema->is_object() && !schema->is_boolean()) bad(where + ".schema", "expected an object");
    r.json_schema = schema->dump();
    ++given;
  };
  const char* kinds = R"(expected "text", "json_object" or "json_schema")";
  auto format = [&](const oj& f, const std::string& where, bool flat) {
    if (!f.is_object()) bad(where, "expected an object");
    const oj* type = get(f, "type");
    if (!type || !type->is_string()) bad(where + ".type", kinds);
    const std::string t = type->get<std::string>();
    if (t == "text") return;
    if (t == "json_object") {
      r.json_schema = R"({"type": "object"})";
      ++given;
    } else if (t == "json_schema") {
      if (flat) return schema_of(f, where);
      const oj* js = get(f, "json_schema");
      if (!js || !js->is_object()) bad(where + ".json_schema", "expected an object with a schema");
      schema_of(*js, where + ".json_schema");
    } else {
      bad(where + ".type", fmt::format("{}, got \"{}\"", kinds, t));
    }
  };
  if (const oj* rf = get(body, "response_format"); rf && !responses)
    format(*rf, "response_format", false);
  if (const oj* text = get(body, "text"); text && responses) {
    if (!text->is_object()) bad("text", "expected an object");
    if (const oj* f = get(*text, "format")) format(*f, "text.format", true);
  }
  if (const oj* js = get(body, "json_schema")) {
    if (!js->is_object() && !js->is_boolean()) bad("json_schema", "expected a JSON Schema object");
    r.json_schema = js->dump();
    ++given;
  }
  if (const oj* g = get(body, "grammar")) {
    if (!g->is_string()) bad("grammar", "expected a GBNF grammar as a string");
    r.grammar = g->get<std::string>();
    ++given;
  }
  if (given > 1) bad("response_format", "give one of response_format, json_schema and grammar");
  // Tools (their parameter schemas keep their key order too) and the choice among them.
  if (const oj* tools = get(body, "tools")) {
    if (!tools->is_array()) bad("tools", "expected an array of tools");
    oj nested = oj::array();  // the Responses API's flat tools, in Chat Completions' shape
    for (const auto& t : *tools) {
      if (responses && t.is_object() && t.contains("name") && !t.contains("function")) {
        oj fn = oj::object();
        for (const char* k : {"name", "description", "parameters", "strict"})
          if (t.contains(k)) fn[k] = t[k];
        nested.push_back({{"type", t.value("type", "function")}, {"function", fn}});
      } else {
        nested.push_back(t);
      }
    }
    r.tools = nested.dump();
  }
  if (const oj* choice = get(body, "tool_choice")) {
    if (choice->is_string()) {
      r.tool_choice = choice->get<std::string>();
      if (r.tool_choice != "auto" && r.tool_choice != "none" && r.tool_choice != "required")
        bad("tool_choice",
            R"(expected "auto", "none", "required" or {"type": "function", "function": {"name": ...}})");
    } else if (choice->is_object() && choice->contains("function") &&
               (*choice)["function"].is_object() && (*choice)["function"].contains("name") &&
               (*choice)["function"]["name"].is_string()) {
      r.tool_choice = (*choice)["function"]["name"].get<std::string>();
    } else if (choice->is_object() && choice->contains("name") && (*choice)["name"].is_string()) {
      r.tool_choice = (*choice)["name"].get<std::string>();  // the Responses API's shape
    } else {
      bad("tool_choice",
          R"(expected "auto", "none", "required" or {"type": "function", "function": {"name": ...}})");
    }
  }
}

json error_object(const ApiError& e) {
  return {{"error",
           {{"message", e.message},
            {"type", e.type},
            {"param", e.param.empty() ? json(nullptr) : json(e.param)},
            {"code", nullptr}}}};
}

json usage_object(const Usage& u) {
  return {{"prompt_tokens", u.prompt_tokens},
          {"completion_tokens", u.completion_tokens},
          {"total_tokens", u.prompt_tokens + u.completion_tokens},
          {"prompt_tokens_details", {{"cached_tokens", u.cached_tokens}}}};
}

namespace {

std::string finish_name(const std::string& f) { return f == "cancelled" ? "stop" : f; }

}  // namespace

json logprobs_object(const ParsedRequest& req, std::span<const TokenInfo> tokens,
                     const TokenText& text, size_t text_offset) {
  auto bytes = [](const std::string& t) {
    json b = json::array();
    for (unsigned char c : t) b.push_back(int(c));
    return b;
  };
  // Token text may end inside a UTF-8 character: JSON strings must be valid UTF-8.
  auto safe = [](const std::string& t) {
    return json::parse(json(t).dump(-1, ' ', false, json::error_handler_t::replace))
        .get<std::string>();
  };
  if (req.chat) {
    json content = json::array();
    for (const auto& t : tokens) {
      const std::string s = text(t.id);
      json top = json::array();
      for (const auto& [id, lp] : t.top) {
        const std::string ts = text(id);
        top.push_back({{"token", safe(ts)}, {"logprob", lp}, {"bytes", bytes(ts)}});
      }
      content.push_back(
          {{"token", safe(s)}, {"logprob", t.logprob}, {"bytes", bytes(s)}, {"top_logprobs", top}});
    }
    return {{"content", content}, {"refusal", nullptr}};
  }
  json toks = json::array(), lps = json::array(), tops = json::array(), offs = json::array();
  for (const auto& t : tokens) {
    const std::string s = text(t.id);
    toks.push_back(safe(s));
    lps.push_back(t.logprob);
    json top = json::object();
    for (const auto& [id, lp] : t.top) top[safe(text(id))] = lp;
    tops.push_back(top);
    offs.push_back(text_offset);
    text_offset += s.size();
  }
  return {{"tokens", toks}, {"token_logprobs", lps}, {"top_logprobs", tops}, {"text_offset", offs}};
}

json message_object(const Result& r) {
  json m = {{"role", "assistant"}, {"content", r.content}};
  if (!r.reasoning.empty()) m["reasoning_content"] = r.reasoning;
  if (!r.tool_calls.empty()) {
    json calls = json::array();
    for (const ToolCall& c : r.tool_calls) {
      calls.push_back({{"id", c.id},
                       {"type", "function"},
                       {"function", {{"name", c.name}, {"arguments", c.arguments}}}});
    }
    m["tool_calls"] = calls;
    if (r.content.empty()) m["content"] = nullptr;
  }
  return m;
}

json response_object(const ParsedRequest& req, const std::string& id, int64_t created,
                     std::span<const Result> results, const TokenText& text) {
  json choices = json::array();
  for (size_t i = 0; i < results.size(); ++i) {
    const Result& r = results[i];
    json choice = {
        {"index", int(i)}, {"logprobs", nullptr}, {"finish_reason", finish_name(r.finish_reason)}};
    if (req.request.logprobs >= 0 && text)
      choice["logprobs"] =
          logprobs_object(req, r.logprobs, text, req.echo ? req.request.prompt.size() : 0);
    if (req.chat)
      choice["message"] = message_object(r);
    else
      choice["text"] = (req.echo ? req.request.prompt : std::string()) + r.text;
    choices.push_back(choice);
  }
  return {{"id", id},           {"object", req.chat ? "chat.completion" : "text_completion"},
          {"created", created}, {"model", req.model},
          {"choices", choices}, {"usage", usage_object(usage_of(results))}};
}

Usage usage_of(std::span<const Result> choices) {
  Usage u;
  for (const Result& r : choices) {
    u.prompt_tokens = r.prompt_tokens;  // the prompt counts once
    u.completion_tokens += r.generated_tokens;
    u.cached_tokens = std::max(u.cached_tokens, r.cached_tokens);
  }
  return u;
}

json chunk_objects(const ParsedRequest& req, const std::string& id, int64_t created,
                   const Chunk* chunk, const std::string* finish_reason, bool first,
                   const TokenText& token_text, int index, int call_index) {
  auto wrap = [&](json choice) {
    json c = {{"id", id},
              {"object", req.chat ? "chat.completion.chunk" : "text_completion"},
              {"created", created},
              {"model", req.model},
              {"choices", json::array({std::move(choice)})}};
    if (req.include_usage) c["usage"] = nullptr;
    return c;
  };
  json choice = {
      {"index", index},
      {"logprobs", nullptr},
      {"finish_reason", finish_reason ? json(finish_name(*finish_reason)) : json(nullptr)}};
  if (chunk && chunk->logprob && req.request.logprobs >= 0 && token_text)
    choice["logprobs"] = logprobs_object(req, std::span(&*chunk->logprob, 1), token_text);
  json out = json::array();
  if (!req.chat) {
    choice["text"] = chunk ? chunk->text : "";
    out.push_back(wrap(choice));
    return out;
  }
  json delta = json::object();
  if (first) delta["role"] = "assistant";
  if (chunk && !chunk->reasoning.empty()) delta["reasoning_content"] = chunk->reasoning;
  if (chunk && (!chunk->content.empty() || (chunk->reasoning.empty() && chunk->tool_calls.empty())))
    delta["content"] = chunk->content;
  if (!finish_reason && delta.empty()) delta["content"] = "";
  if (!delta.empty() || finish_reason || chunk == nullptr) {
    choice["delta"] = delta;
    out.push_back(wrap(choice));
  }
  // Each call as OpenAI streams it: its id, type and name first, then its arguments.
  if (chunk) {
    for (size_t k = 0; k < chunk->tool_calls.size(); ++k) {
      const ToolCall& t = chunk->tool_calls[k];
      const int i = call_index + int(k);
      json head = {{"index", i},
                   {"id", t.id},
                   {"type", "function"},
                   {"function", {{"name", t.name}, {"arguments", ""}}}};
      json args = {{"index", i}, {"function", {{"arguments", t.arguments}}}};
      for (const json& d : {head, args}) {
        json c = {{"index", index},
                  {"logprobs", nullptr},
                  {"finish_reason", nullptr},
                  {"delta", {{"tool_calls", json::array({d})}}}};
        out.push_back(wrap(c));
      }
    }
  }
  return out;
}

}  // namespace vkllm::server
