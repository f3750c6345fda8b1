// Constrained decoding end to end: 32 JSON Schemas, each generated with sampling by the bundled
// model and by a random-weight model on the same vocabulary (near-uniform logits: the hardest
// case for ending in time), batched; every output must parse and validate under an independent
// validator (python3-jsonschema, formats checked). Greedy GBNF through the one-sequence path,
// and errors.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <future>
#include <thread>

#include "bench/random_checkpoint.h"
#include "vkllm/engine.h"

namespace vkllm::test {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;
const std::string kModel = std::string(VKLLM_SOURCE_DIR) + "/models/tiny-kjv";

const std::vector<std::pair<const char*, const char*>> kSchemas = {
    {"string", R"({"type": "string"})"},
    {"integer", R"({"type": "integer"})"},
    {"number", R"({"type": "number"})"},
    {"boolean", R"({"type": "boolean"})"},
    {"null", R"({"type": "null"})"},
    {"any", R"({})"},
    {"object", R"({"type": "object"})"},
    {"person",
     R"({"type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0, "maximum": 150}}, "required": ["name", "age"], "additionalProperties": false})"},
    {"optional_props",
     R"({"type": "object", "properties": {"a": {"type": "string"}, "b": {"type": "number"}, "c": {"type": "boolean"}}, "required": ["b"]})"},
    {"enum", R"({"enum": ["red", "green", "blue", 42, null, false]})"},
    {"const",
     R"({"type": "object", "properties": {"kind": {"const": "verse"}, "n": {"type": "integer"}}, "required": ["kind", "n"]})"},
    {"string_lengths", R"({"type": "string", "minLength": 3, "maxLength": 8})"},
    {"pattern_code", R"({"type": "string", "pattern": "^[A-Z]{3}-[0-9]{2,4}$"})"},
    {"pattern_words", R"({"type": "string", "pattern": "^(yes|no|maybe)( [a-z]+)*$"})"},
    {"pattern_unanchored", R"({"type": "string", "pattern": "ab+c"})"},
    {"date", R"({"type": "string", "format": "date"})"},
    {"uuid", R"({"type": "string", "format": "uuid"})"},
    {"email", R"({"type": "string", "format": "email"})"},
    {"ipv4", R"({"type": "string", "format": "ipv4"})"},
    {"int_range", R"({"type": "integer", "minimum": -40, "maximum": 1234})"},
    {"int_exclusive", R"({"type": "integer", "exclusiveMinimum": 100})"},
    {"array_bounds",
     R"({"type": "array", "items": {"type": "integer"}, "minItems": 2, "maxItems": 5})"},
    {"array_strings", R"({"type": "array", "items": {"type": "string", "maxLength": 10}})"},
    {"tuple",
     R"({"type": "array", "prefixItems": [{"type": "string"}, {"type": "integer"}, {"type": "boolean"}], "minItems": 3, "items": false})"},
    {"nested",
     R"({"type": "object", "properties": {"book": {"type": "object", "properties": {"title": {"type": "string"}, "chapters": {"type": "array", "items": {"type": "object", "properties": {"n": {"type": "integer", "minimum": 1}, "verses": {"type": "integer", "minimum": 1}}, "required": ["n", "verses"]}, "maxItems": 3}}, "required": ["title", "chapters"]}}, "required": ["book"]})"},
    {"any_of",
     R"({"anyOf": [{"type": "integer"}, {"type": "string", "maxLength": 5}, {"type": "array", "items": {"type": "boolean"}, "maxItems": 2}]})"},
    {"one_of_objects",
     R"({"oneOf": [{"type": "object", "properties": {"cat": {"type": "string"}}, "required": ["cat"], "additionalProperties": false}, {"type": "object", "properties": {"dog": {"type": "integer"}}, "required": ["dog"], "additionalProperties": false}]})"},
    {"nullable_types",
     R"({"type": "object", "properties": {"x": {"type": ["integer", "null"]}, "y": {"type": ["string", "boolean"]}}, "required": ["x", "y"]})"},
    {"defs_ref",
     R"({"$defs": {"point": {"type": "object", "properties": {"x": {"type": "number"}, "y": {"type": "number"}}, "required": ["x", "y"]}}, "type": "object", "properties": {"from": {"$ref": "#/$defs/point"}, "to": {"$ref": "#/$defs/point"}}, "required": ["from", "to"]})"},
    {"recursive",
     R"({"$defs": {"node": {"type": "object", "properties": {"v": {"type": "integer"}, "kids": {"type": "array", "items": {"$ref": "#/$defs/node"}, "maxItems": 2}}, "required": ["v", "kids"]}}, "$ref": "#/$defs/node"})"},
    {"all_of",
     R"({"allOf": [{"type": "object", "properties": {"a": {"type": "integer"}}, "required": ["a"]}, {"properties": {"b": {"type": "string"}}, "required": ["b"]}]})"},
    {"additional_schema",
     R"({"type": "object", "properties": {"id": {"type": "integer"}}, "required": ["id"], "additionalProperties": {"type": "string", "maxLength": 4}})"},
    {"unicode_enum",
     R"({"type": "object", "properties": {"word": {"enum": ["λόγος", "言葉", "слово"]}, "note": {"type": "string", "pattern": "^[α-ω]{1,5}$"}}, "required": ["word", "note"]})"},
};

// A model with the bundled model's vocabulary (2053 tokens, byte-level BPE) and random weights.
std::string random_model(const fs::path& dir) {
  fs::create_directories(dir);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json"})
    fs::copy_file(fs::path(kModel) / f, dir / f, fs::copy_options::overwrite_existing);
  std::ofstream(dir / "config.json")
      << R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama",
    "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2, "num_attention_heads": 4,
    "num_key_value_heads": 2, "vocab_size": 2053, "max_position_embeddings": 512,
    "rms_norm_eps": 1e-5, "rope_theta": 10000.0, "tie_word_embeddings": true,
    "bos_token_id": 2048, "eos_token_id": 2049, "torch_dtype": "float16"})";
  std::vector<bench::RandomTensor> ts;
  bench::add_llama_text(ts, "model.", "", 2, 64, 4, 2, 16, 128, 2053);
  bench::write_random_safetensors((dir / "model.safetensors").string(), ts);
  return dir.string();
}

// Runs every schema on the engine (parallel requests share its batches) and validates the
// outputs with python3-jsonschema.
void generate_and_validate(Engine& engine, const std::string& label, int seeds, int max_tokens) {
  struct Out {
    std::string name, schema, text, finish;
  };
  std::vector<std::future<Out>> jobs;
  for (int seed = 0; seed < seeds; ++seed) {
    for (const auto& entry : kSchemas) {
      const char* name = entry.first;
      const char* schema = entry.second;
      jobs.push_back(std::async(std::launch::async, [&engine, name, schema, seed, max_tokens] {
        Request r;
        r.prompt = "The answer, as JSON:";
        r.json_schema = schema;
        r.max_tokens = max_tokens;
        r.sampling.temperature = 1.0f;
        r.sampling.seed = uint64_t(seed);
        Result res = engine.generate(r);
        return Out{name, schema, res.text, res.finish_reason};
      }));
    }
  }
  const fs::path file = fs::temp_directory_path() / ("vkllm_structured_" + label + ".jsonl");
  {
    std::ofstream f(file);
    for (auto& j : jobs) {
      Out o = j.get();
      EXPECT_EQ(o.finish, "stop") << o.name << ": " << o.text;  // closed before max_tokens
      f << json{{"name", label + "/" + o.name},
                {"schema", json::parse(o.schema)},
                {"output", o.text}}
               .dump()
        << "\n";
    }
  }
  const std::string cmd = std::string(VKLLM_PYTHON) + " " + VKLLM_SOURCE_DIR +
                          "/tests/structured/validate.py " + file.string() + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  ASSERT_NE(p, nullptr);
  std::string report;
  char buf[4096];
  while (size_t n = fread(buf, 1, sizeof buf, p)) report.append(buf, n);
  const int status = pclose(p);
  EXPECT_EQ(status, 0) << report;
  EXPECT_NE(report.find(std::to_string(seeds * kSchemas.size()) + "/"), std::string::npos)
      << report;
}

TEST(StructuredOutput, SchemasValidateWithTheBundledModel) {
  auto engine = Engine::load(kModel, {.parallel = 8});
  generate_and_validate(*engine, "tiny-kjv", 1, 160);
}

TEST(StructuredOutput, SchemasValidateWithRandomWeights) {
  const std::string dir = random_model(fs::temp_directory_path() / "vkllm_structured_random");
  auto engine = Engine::load(dir, {.parallel = 8});
  generate_and_validate(*engine, "random", 2, 160);
}

TEST(StructuredOutput, GreedyGrammarOnOneSequence) {
  auto engine = Engine::load(kModel);
  Request r;
  r.prompt = "And God said";
  r.grammar = R"(root ::= "Let there be " word ("," ws word){0,3} "."
                 word ::= [a-z]{1,10}
                 ws ::= " ")";
  r.max_tokens = 64;
  r.sampling.temperature = 0.0f;
  Result a = engine->generate(r);
  EXPECT_EQ(a.finish_reason, "stop");
  EXPECT_TRUE(a.text.starts_with("Let there be ")) << a.text;
  EXPECT_TRUE(a.text.ends_with(".")) << a.text;
  EXPECT_EQ(engine->generate(r).text, a.text);  // deterministic
}

TEST(StructuredOutput, ShortBudgetEndsAtLengthNotInAnError) {
  auto engine = Engine::load(kModel);
  Request r;
  r.prompt = "x";
  r.json_schema =
      R"({"type": "object", "properties": {"a_long_property_name": {"type": "string"}}, "required": ["a_long_property_name"]})";
  r.max_tokens = 3;  // fewer than the shortest output needs
  Result res = engine->generate(r);
  EXPECT_EQ(res.finish_reason, "length");
  EXPECT_TRUE(res.text.starts_with("{")) << res.text;
}

TEST(StructuredOutput, BadConstraintsAreInputErrors) {
  auto engine = Engine::load(kModel);
  auto error = [&](const std::string& grammar, const std::string& schema) {
    Request r;
    r.prompt = "x";
    r.grammar = grammar;
    r.json_schema = schema;
    try {
      engine->generate(r);
    } catch (const InputError& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_NE(error("root ::= nothing", "").find("rule 'nothing' is not defined"), std::string::npos);
  EXPECT_NE(error("", "{\"type\": ").find("[json_schema] not valid JSON"), std::string::npos);
  EXPECT_NE(error("", R"({"type": "string", "format": "phone"})").find("/format"),
            std::string::npos);
  EXPECT_NE(error("root ::= \"a\"", "{}").find("not both"), std::string::npos);
}

}  // namespace
}  // namespace vkllm::test
