#pragma once
// OpenAI's API as vkllm serves it: request bodies of /v1/chat/completions and /v1/completions
// validated into engine Requests (errors name the field, as OpenAI's do), and the response,
// stream-chunk and error objects the official clients parse.
#include <nlohmann/json.hpp>

#include <functional>
#include <span>
#include <string>
#include <vector>

#include "vkllm/engine.h"

namespace vkllm::server {

// An error answered as {"error": {"message", "type", "param", "code"}} with an HTTP status.
struct ApiError {
  int status = 400;
  std::string message;
  std::string param;  // the offending field ("messages[1].content"), or empty
  std::string type = "invalid_request_error";
};

struct ImagePolicy {
  std::string allowed_dir;  // local paths only below it (empty: none)
};

struct ParsedRequest {
  std::string model;
  Request request;
  bool stream = false;
  bool include_usage = false;  // stream_options.include_usage
  bool chat = true;
  bool echo = false;         // completions: the prompt before the completion
  int n = 1;                 // choices: independent generations of the same prompt
  bool responses = false;    // the Responses API (/v1/responses)
  std::string instructions;  // Responses: the system message it was given as
};

// Throws ApiError naming the field.
ParsedRequest parse_chat(const nlohmann::json& body, const ImagePolicy& images);
ParsedRequest parse_completion(const nlohmann::json& body);
// OpenAI's Responses API: `input` as text or message items (input_text / input_image parts),
// `instructions` as the system message, max_output_tokens.
ParsedRequest parse_responses(const nlohmann::json& body, const ImagePolicy& images);

// Constrained output and tools (the body parsed again with its key order, which a schema's
// properties keep): `tools` and `tool_choice` ("auto", "none", "required" or a function),
// `response_format` {"type": "text" | "json_object" | "json_schema", "json_schema":
// {"name", "schema", "strict"}} (chat, completions), the Responses API's `text.format`
// {"type": "json_schema", "name", "schema"}, and llama.cpp's `json_schema` (a schema) and
// `grammar` (GBNF). Throws ApiError naming the field.
void parse_constraints(const nlohmann::ordered_json& body, bool responses, Request& r);

nlohmann::json error_object(const ApiError& e);

// The Responses API's response object (r null: in progress, no output yet) and its output
// message item (done: with its output_text part), whose id derives from the response's.
std::string response_message_id(const std::string& response_id);
nlohmann::json responses_object(const ParsedRequest& req, const std::string& id, int64_t created,
                                const Result* r);
nlohmann::json response_message(const std::string& msg_id, const std::string& text, bool done);
// A tool call as the Responses API's function_call output item.
nlohmann::json function_call_item(const ToolCall& c);

struct Usage {
  int64_t prompt_tokens = 0, completion_tokens = 0, cached_tokens = 0;
};
nlohmann::json usage_object(const Usage& u);
// The usage of n choices of one prompt: the prompt counted once, completions summed.
Usage usage_of(std::span<const Result> choices);

// A token's text (the model's detokenizer), for logprobs.
using TokenText = std::function<std::string(int32_t)>;

// Logprobs as OpenAI writes them: chat's {"content": [{token, logprob, bytes, top_logprobs}]},
// completions' {tokens, token_logprobs, top_logprobs, text_offset}.
nlohmann::json logprobs_object(const ParsedRequest& req, std::span<const TokenInfo> tokens,
                               const TokenText& text, size_t text_offset = 0);

// The non-streamed response of a finished request: one choice per result (n), usage summed.
nlohmann::json response_object(const ParsedRequest& req, const std::string& id, int64_t created,
                               std::span<const Result> choices, const TokenText& text = {});
// The chunks of one stream step (usually one): the role's first delta (chunk null), a step's
// delta (chat: content, reasoning_content, then each completed tool call as OpenAI streams it —
// id, type and name, then the arguments — numbered from call_index; completions: text, with the
// token's logprobs when asked), or the finish (finish_reason set).
nlohmann::json chunk_objects(const ParsedRequest& req, const std::string& id, int64_t created,
                             const Chunk* chunk, const std::string* finish_reason, bool first,
                             const TokenText& token_text = {}, int index = 0, int call_index = 0);
// A chat completion's message: content, reasoning_content, tool_calls.
nlohmann::json message_object(const Result& r);

}  // namespace vkllm::server
