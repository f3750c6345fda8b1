#pragma once
// vkllm's C++ API for applications: load a model folder, generate text (streamed), cancel from
// another thread. Errors are vkllm::Error subclasses (InputError, ModelError, PluginError,
// DeviceError, Cancelled) whose message names what failed and where.
//
//   auto engine = vkllm::Engine::load("models/tiny-kjv");
//   vkllm::Request req;
//   req.messages = {{"user", "In the beginning"}};
//   auto res = engine->generate(req, [](const vkllm::Chunk& c) { std::cout << c.text; });
#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sdk/base/error.h"  // vkllm::Error and its subclasses

namespace vkllm {
namespace core::chat {
struct ChatSetup;  // internal
}

struct EngineOptions {
  std::string quantize;     // "", "q8_0" or "q4_0": quantize weights at load time
  int64_t context = 0;      // tokens (0: min(model maximum, 4096))
  int prefill_chunk = 512;  // tokens per forward pass during prefill
  int kv_bits = 16;         // KV cache: 16 (f16), 8 or 4 bits per value
  int kv_group_size = 32;   // values per scale of a quantized KV cache
  // Keep the KV blocks of earlier requests and reuse them for prompts that start the same way
  // (chat turns, shared system prompts), evicting the least recently used when memory runs out.
  bool prefix_cache = true;
  // > 0: full-attention layers keep the first 4 tokens and the most recent ones, max_kv_size in
  // all, so generation can continue past the context.
  int64_t max_kv_size = 0;
  int64_t cache_tokens = 0;  // KV capacity in tokens (0: twice the context with the prefix cache)
  // The prefix cache's disk tier: KV blocks are also written under this folder (in the
  // background) and read back for prompts whose prefix left device memory, also after a
  // restart; the least recently used files go beyond cache_disk_bytes. Empty: no disk tier.
  std::string cache_dir;
  uint64_t cache_disk_bytes = uint64_t(8) << 30;
  // Device memory the engine may use (0: 90% of the device's largest device-local heap). When
  // weights + KV cache + activations for the context do not fit, the engine keeps the largest
  // context that does (first dropping the prefix cache's spare capacity, and with fit_kv_bits
  // narrowing the KV cache to 8 or 4 bits) and logs what it changed; description().context
  // and memory() tell the outcome.
  uint64_t memory_budget = 0;
  bool fit_kv_bits = false;
  // A prompt longer than the context: "error" (refused, with the numbers), "truncate-middle"
  // (keeps its start and its end) or "rolling" (keeps its end), leaving room to generate.
  std::string context_overflow = "error";
  // > 1: continuous batching. Up to `parallel` requests run at once, concurrent generate()
  // calls share every forward pass (one token per decoding sequence, prefill chunks within
  // prefill_chunk tokens per pass) and the KV cache (preempting the newest sequence when it is
  // full). Not with a draft model.
  int parallel = 1;
  // Speculative decoding: a smaller model with the same tokenizer proposes draft_tokens tokens
  // per step and the model verifies them in one pass (greedy output is unchanged).
  std::string draft_model;
  std::string draft_quantize;  // "", "q8_0" or "q4_0"
  int draft_tokens = 4;
  // Vision models: encoded image features kept for images seen again (bytes of device memory).
  uint64_t image_cache_bytes = uint64_t(256) << 20;
  // > 0: images are resized to at most this many pixels (the processor's max_pixels otherwise).
  int64_t max_image_pixels = 0;
  std::vector<std::string> plugin_dirs;  // empty: build tree, install prefix, VKLLM_PLUGIN_PATH
  // LoRA adapters (PEFT or MLX folders): "DIR", or "name=DIR" for one requests select by
  // name (Request::adapter). "merged" folds one adapter into the weights at load; "runtime"
  // keeps the base untouched and serves every listed adapter (and the base) side by side.
  std::vector<std::string> adapters;
  float adapter_scale = 1.0f;  // multiplies each adapter's own scale
  std::string adapter_mode;    // "": merged for one unnamed adapter, runtime otherwise
  // Called while weights load with (bytes done, bytes total).
  std::function<void(uint64_t, uint64_t)> on_load_progress;
};

// An image for a vision model: a file path or data: URL in `source`, or the encoded file in
// `bytes` (PNG, JPEG, BMP, GIF); `source` then only names it in errors.
struct ImageInput {
  std::string source;
  std::vector<uint8_t> bytes;
};

// A tool call of an assistant message (OpenAI's shape): arguments is a JSON object as text.
struct ToolCall {
  std::string id, name, arguments;
};

struct Message {
  std::string role;  // system, user, assistant, tool
  std::string content;
  std::vector<ImageInput> images;    // rendered as image parts before the text (vision models)
  std::vector<ToolCall> tool_calls;  // assistant: the calls it made
  std::string tool_call_id, name;    // tool: which call this is the result of
  std::string reasoning_content;     // assistant: its thinking (templates that render it)
};

struct Sampling {
  std::optional<float> temperature;  // 0: greedy; unset: generation_config.json, else 1
  std::optional<int> top_k;
  std::optional<float> top_p;
  std::optional<float> min_p;
  std::optional<float> repetition_penalty;
  float presence_penalty = 0.0f;
  float frequency_penalty = 0.0f;
  std::optional<uint64_t> seed;
  // Added to the logits of these token ids before sampling (-100 bans, +100 forces).
  std::vector<std::pair<int32_t, float>> logit_bias;
};

struct Request {
  // Exactly one of: messages (the chat template is applied), prompt (text as is; the
  // tokenizer's special tokens such as BOS are added), prompt_ids (ids as they enter the model).
  std::vector<Message> messages;
  std::string prompt;
  std::vector<int32_t> prompt_ids;
  // Images, in the order of their placeholders. With messages they are added to the last user
  // message's own (Message::images); in a prompt or prompt_ids each image's placeholder run is
  // one image token (expanded here) or already its full length; a prompt without placeholders
  // gets one per image at its start.
  std::vector<ImageInput> images;
  bool add_generation_prompt = true;
  // The adapter (EngineOptions::adapters' name) this request runs with; "" for the unnamed
  // adapter, or the base when there is none (runtime mode).
  std::string adapter;
  Sampling sampling;
  int max_tokens = 256;
  std::vector<std::string> stop;
  bool ignore_eos = false;
  // Constrained decoding (at most one): the output follows a GBNF grammar (llama.cpp's format,
  // start rule `root`) or the JSON Schema in `json_schema` (JSON text; {"type": "object"} for
  // any object). It ends when the grammar is complete (finish_reason "stop") and closes in time
  // for max_tokens when max_tokens covers its shortest text. Speculative decoding is not used.
  std::string grammar;
  std::string json_schema;
  // Chat requests (messages) only. Tools the model may call: OpenAI's `tools` array as JSON text,
  // rendered by the chat template (or described in a system message when the template does
  // not). tool_choice: "auto", "none", "required" or a function's name; the last two constrain
  // the reply to a call in the template's syntax with arguments following the tool's schema.
  std::string tools;
  std::string tool_choice = "auto";
  // Variables for the chat template: a JSON object as text (e.g. {"enable_thinking": false}).
  std::string chat_template_kwargs;
  // Reasoning models: enable_thinking is passed to the template; thinking_budget (>= 0) closes
  // the thinking block after that many tokens; the markers default to the template's
  // (<think> </think>) and may be overridden.
  std::optional<bool> enable_thinking;
  int thinking_budget = -1;
  std::string thinking_start, thinking_end;
  int logprobs = -1;           // -1: none, 0: the chosen token's, k: and the top k alternatives
  bool prompt_logits = false;  // return the logits of every prompt position (no prefix reuse)
  // Called after each prefill chunk with (tokens processed, tokens to process); one sequence
  // at a time only (parallel 1).
  std::function<void(int64_t, int64_t)> on_prefill;
  // Set (from any thread) to stop this request within one step: it returns with finish_reason
  // "cancelled".
  const std::atomic<bool>* cancel = nullptr;
};

struct TokenInfo {
  int32_t id = 0;
  float logprob = 0;
  std::vector<std::pair<int32_t, float>> top;
};

// One streamed step: the text it adds (may be empty while a UTF-8 character or a possible stop
// string is incomplete) and the token.
struct Chunk {
  std::string text;
  int32_t id = -1;
  std::optional<TokenInfo> logprob;
  // The step's text as a chat reply (messages requests; content = text otherwise): content,
  // reasoning, and tool calls completed at this step. Text that may still become a marker or a
  // call is held back and comes in a later chunk (the last one may have id -1 and no text).
  std::string content, reasoning;
  std::vector<ToolCall> tool_calls;
};

struct Result {
  std::string text;                  // the generated text as it is
  std::string content, reasoning;    // split as a chat reply (see Chunk)
  std::vector<ToolCall> tool_calls;  // finish_reason is then "tool_calls"
  std::vector<int32_t> ids;
  std::vector<TokenInfo> logprobs;
  std::string finish_reason;         // "stop", "length", "tool_calls" or "cancelled"
  std::vector<float> prompt_logits;  // [prompt tokens, vocab] when asked for
  int64_t prompt_tokens = 0, cached_tokens = 0, generated_tokens = 0;
  int64_t truncated_tokens = 0;  // prompt tokens context_overflow dropped
  double prompt_ms = 0, decode_ms = 0;
  double prompt_tokens_per_s = 0, decode_tokens_per_s = 0;
  int64_t draft_proposed = 0, draft_accepted = 0;  // speculative decoding
  int64_t images_encoded = 0, images_cached = 0;   // vision tower runs / feature-cache hits
  double vision_ms = 0;                            // image decoding, preprocessing, tower
  double grammar_ms = 0;  // constrained decoding: computing token masks (within decode)
};

// Continuous batching's state (EngineOptions::parallel > 1; zeros otherwise).
struct EngineStats {
  int running = 0, waiting = 0;  // sequences in the running batch / queued
  int64_t kv_blocks_used = 0, kv_blocks_total = 0;
  int64_t preemptions = 0, steps = 0;
  int64_t shared_steps = 0;          // forward passes over more than one sequence
  int64_t prefix_cached_blocks = 0;  // blocks only the prefix cache holds (reusable)
};

// Device memory: the estimate the engine was sized with, and what the device pools hold now.
struct MemoryReport {
  uint64_t budget = 0;
  uint64_t estimate_weights = 0, estimate_kv = 0, estimate_activations = 0,
           estimate_image_cache = 0, estimate_total = 0;
  // The activations are the larger of a text pass's (a prefill chunk) and an image encode's (the
  // processor's largest image).
  uint64_t estimate_text_activations = 0, estimate_image_activations = 0;
  uint64_t weights_and_kv = 0;    // in use: weights, KV cache, cached image features
  uint64_t activations_peak = 0;  // the largest the activation arena has been in use
  uint64_t reserved = 0;          // what the pools hold from the driver
  std::string fit;                // what auto-fit changed ("" when the request fit as asked)
};

struct ModelDescription {
  std::string folder, model_type, family, device, plugin;
  int64_t parameters = 0, vocab_size = 0, context = 0;
  uint64_t weight_bytes = 0;
  bool thinking = false;              // the chat template has thinking markers (<think>)
  std::vector<std::string> adapters;  // the loaded adapters' names ("" for an unnamed one)
  std::string adapter_mode;           // merged or runtime
};

class Engine {
 public:
  static std::unique_ptr<Engine> load(const std::string& model_dir,
                                      const EngineOptions& options = {});
  ~Engine();
  Engine(const Engine&) = delete;
  Engine& operator=(const Engine&) = delete;

  // Generates for the request, calling on_chunk (on the calling thread) for every token. Reuses
  // the cached prefix of earlier requests (multi-turn chat re-uses its history). With parallel
  // 1 one request at a time; with parallel > 1 thread-safe, concurrent calls batched together.
  Result generate(const Request& request, const std::function<void(const Chunk&)>& on_chunk = {});
  // Stops the running generate() calls (from any thread) within one chunk or decode step; they
  // return with finish_reason "cancelled".
  void cancel();
  int parallel() const;
  EngineStats stats() const;
  MemoryReport memory() const;

  std::string apply_chat_template(const std::vector<Message>& messages,
                                  bool add_generation_prompt) const;
  std::vector<int32_t> tokenize(const std::string& text, bool add_special = false) const;
  std::string detokenize(const std::vector<int32_t>& ids) const;
  const ModelDescription& description() const;
  bool has_tokenizer() const;

  struct Impl;

 private:
  // setup: the request's tools, template variables and the like, or null.
  std::string render_chat(const std::vector<Message>& messages, bool add_generation_prompt,
                          size_t extra_images, const core::chat::ChatSetup* setup = nullptr) const;
  // Applies the context_overflow policy to a prompt; returns the tokens dropped.
  int64_t fit_context(std::vector<int32_t>& ids, const Request& req, bool images) const;
  explicit Engine(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace vkllm
