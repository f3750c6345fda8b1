#include "tests/fuzz/targets.h"

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/adapters/adapter.h"
#include "core/gguf/gguf_tokenizer.h"
#include "core/grammar/constraint.h"
#include "core/grammar/json_schema.h"
#include "core/jinja/template.h"
#include "core/plugin_host.h"
#include "core/tokenizer/tokenizer.h"
#include "core/vision/image.h"
#include "core/vision/preprocess.h"
#include "core/vision/prompt.h"
#include "core/weights/safetensors.h"
#include "openai.h"
#include "sdk/base/error.h"
#include "sdk/base/hash.h"
#include "sdk/gguf_file.h"
#include "sdk/kv_disk.h"
#include "sdk/quant.h"

namespace vkllm::fuzz {
namespace {

template <class F>
void expecting_errors(F&& f) {
  try {
    f();
  } catch (const Error&) {
    // the expected outcome for bad input
  }
}

// Contexts a template may meet from a client: wrong types where templates expect strings and
// lists, deep nesting, names that shadow globals.
const std::vector<core::jinja::Value>& hostile_contexts() {
  static const auto* all = [] {
    auto* v = new std::vector<core::jinja::Value>();
    for (const char* j : {
             R"({"messages": [{"role": "user", "content": "hi"}], "add_generation_prompt": true,
                 "bos_token": "<s>", "eos_token": "</s>"})",
             R"({"messages": [{"role": "system", "content": [{"type": "text", "text": "s"}]},
                 {"role": "user", "content": [{"type": "image"}, {"type": "text", "text": " q "}]},
                 {"role": "assistant", "content": "<think>r</think>a", "tool_calls":
                 [{"function": {"name": "f", "arguments": {"x": [1, 2.5, null]}}}]},
                 {"role": "tool", "content": "{}"}], "tools": [{"type": "function",
                 "function": {"name": "f", "parameters": {}}}], "add_generation_prompt": false})",
             R"({"messages": [{"role": 7, "content": null}, {"content": [[[]]]}, 3, "x", null,
                 {"role": "user", "content": {"type": "text"}}], "tools": "none",
                 "add_generation_prompt": "yes", "bos_token": 1})",
             R"({"messages": "not a list", "tools": {"a": {"b": {"c": {"d": [[[[[[1]]]]]]}}}},
                 "enable_thinking": false, "loop": 1, "range": 2, "namespace": [],
                 "raise_exception": 0})",
             R"({})",
         }) {
      v->push_back(core::jinja::Value::from_json(nlohmann::ordered_json::parse(j)));
    }
    return v;
  }();
  return *all;
}

}  // namespace

// The tensors of a 2-layer llama (hidden 64, 4 heads, 2 KV heads, ffn 160, vocab 384) as an
// adapter's base: names and shapes only.
class FakeBase : public plugin::WeightSource {
 public:
  FakeBase() {
    add("model.embed_tokens.weight", {384, 64});
    add("lm_head.weight", {384, 64});
    add("model.norm.weight", {64});
    for (int l = 0; l < 2; ++l) {
      const std::string p = "model.layers." + std::to_string(l) + ".";
      add(p + "self_attn.q_proj.weight", {64, 64});
      add(p + "self_attn.k_proj.weight", {32, 64});
      add(p + "self_attn.v_proj.weight", {32, 64});
      add(p + "self_attn.o_proj.weight", {64, 64});
      add(p + "mlp.gate_proj.weight", {160, 64});
      add(p + "mlp.up_proj.weight", {160, 64});
      add(p + "mlp.down_proj.weight", {64, 160});
      add(p + "input_layernorm.weight", {64});
    }
  }
  bool has(const std::string& n) const override { return shapes_.count(n) != 0; }
  std::vector<std::string> names() const override {
    std::vector<std::string> v;
    for (const auto& [k, s] : shapes_) v.push_back(k);
    return v;
  }
  plugin::WeightInfo info(const std::string& n) const override {
    if (!has(n)) throw ModelError("no tensor " + n);
    return {"F32", shapes_.at(n), "fake", false};
  }
  sdk::Tensor load_rows(const std::vector<std::string>&, plugin::WeightUse) override {
    throw InternalError("not loadable");
  }
  std::vector<float> read_f32(const std::string&) override { throw InternalError("not readable"); }
  void skip(const std::string&) override {}

 private:
  void add(const std::string& n, std::vector<int64_t> s) { shapes_[n] = std::move(s); }
  std::map<std::string, std::vector<int64_t>> shapes_;
};

void adapter(std::string_view input) {
  static const FakeBase base;
  static const std::filesystem::path dir =
      std::filesystem::temp_directory_path() / ("vkllm_fuzz_adapter_" + std::to_string(::getpid()));
  const size_t nl = input.find('\n');
  const std::string_view config = input.substr(0, nl);
  const std::string_view file = nl == std::string_view::npos ? "" : input.substr(nl + 1);
  const bool mlx = config.find("\"rank\"") != std::string_view::npos ||
                   config.find("lora_parameters") != std::string_view::npos;
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "adapter_config.json") << config;
  std::ofstream(dir / (mlx ? "adapters.safetensors" : "adapter_model.safetensors"),
                std::ios::binary)
      .write(file.data(), std::streamsize(file.size()));
  const registry::Entry* e = registry::Registry::builtin().find("llama");
  expecting_errors([&] {
    auto a = core::Adapter::load({"", dir.string(), 1.0f}, base, e->adapters, "llama");
    for (const auto& [name, d] : a.deltas()) {
      std::vector<float> w(size_t(d.out * d.in), 0.0f);
      core::merge_delta(d, w);
    }
  });
}

void gguf(std::string_view input) {
  expecting_errors([&] {
    auto f = sdk::GgufFile::parse({reinterpret_cast<const uint8_t*>(input.data()), input.size()},
                                  "fuzz.gguf");
    (void)f.metadata().dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    uint64_t sum = 0;
    for (const auto& t : f.tensors()) {
      for (uint8_t b : f.data(t)) sum += b;
      // Quantized blocks through the SDK's codec (a small tensor's worth: the codec's cost is
      // per value, the parser already bounded the bytes).
      const auto dt = sdk::dtype_of_ggml(sdk::GgmlType(t.type));
      if (dt && is_quantized(*dt) && t.cols() % quant_row_multiple(*dt) == 0 && t.numel() > 0 &&
          t.numel() <= (1 << 16))
        sum += sdk::dequantize(sdk::from_gguf_blocks(*dt, f.data(t).data(), t.rows(), t.cols()))
                   .size();
    }
    (void)sum;
    expecting_errors([&] {  // the vocabulary, then a tokenizer built from it and run
      if (auto files = core::tokenizer_from_gguf(f)) {
        auto tok = core::Tokenizer::from_json(files->tokenizer, files->config, "fuzz.gguf");
        auto ids = tok->encode("Hello, world! 12345 \xe6\x97\xa5\xe6\x9c\xac\n", true);
        (void)tok->decode(ids, false);
      }
    });
    const std::string arch = f.architecture();
    (void)f.integer_in(arch + ".block_count", 1, 4096);
    (void)f.number(arch + ".rope.freq_base");
    (void)f.array("tokenizer.ggml.tokens");
  });
}

void safetensors(std::string_view input) {
  expecting_errors([&] {
    uint64_t start = 0;
    core::SafetensorsFile::parse_header(reinterpret_cast<const uint8_t*>(input.data()),
                                        input.size(), "fuzz", &start);
  });
}

// When the first line is a JSON object it is the context and the rest the template; the
// template is also rendered with the hostile contexts.
void jinja(std::string_view input) {
  std::string source(input);
  core::jinja::Value own;
  size_t nl = input.find('\n');
  if (nl != std::string_view::npos && input[0] == '{') {
    auto j = nlohmann::ordered_json::parse(input.substr(0, nl), nullptr, false);
    if (!j.is_discarded() && j.is_object()) {
      expecting_errors([&] { own = core::jinja::Value::from_json(j); });
      source = std::string(input.substr(nl + 1));
    }
  }
  expecting_errors([&] {
    core::jinja::Template t(source);
    if (!own.is_undefined()) expecting_errors([&] { t.render(own); });
    for (const auto& ctx : hostile_contexts()) expecting_errors([&] { t.render(ctx); });
  });
}

// tokenizer.json (the first line), optionally tokenizer_config.json (the second line, when it
// is a JSON object), and text (the rest): load, encode with and without special tokens,
// decode, stream-decode.
void tokenizer(std::string_view input) {
  size_t nl = input.find('\n');
  std::string_view json = input.substr(0, nl);
  std::string_view rest = nl == std::string_view::npos ? "" : input.substr(nl + 1);
  auto j = nlohmann::json::parse(json, nullptr, false);
  if (j.is_discarded()) return;
  nlohmann::json cfg = nlohmann::json::object();
  if (!rest.empty() && rest[0] == '{') {
    size_t nl2 = rest.find('\n');
    auto c = nlohmann::json::parse(rest.substr(0, nl2), nullptr, false);
    if (!c.is_discarded()) {
      cfg = c;
      rest = nl2 == std::string_view::npos ? "" : rest.substr(nl2 + 1);
    }
  }
  expecting_errors([&] {
    auto t = core::Tokenizer::from_json(j, cfg, "fuzz");
    for (bool special : {true, false}) {
      expecting_errors([&] {
        auto ids = t->encode(rest, special);
        t->decode(ids);
        core::StreamDecoder sd(*t);
        for (int32_t id : ids) sd.push(id);
        sd.flush();
      });
    }
  });
}

void image(std::string_view input) {
  expecting_errors([&] {
    auto img =
        core::decode_image({reinterpret_cast<const uint8_t*>(input.data()), input.size()}, "fuzz");
    // One preprocessing per input (the input's length picks it), so that each stays fast:
    // Qwen2-VL's smart resize, a CLIP processor's shorter side and centre crop, AnyRes tiles.
    // Images over 1 Mpixel (a few bytes of BMP can declare 8 Mpixel) stop at decoding: the
    // preprocessing of such sizes is slow under the sanitizers, not wrong (Limits.ImagePixels
    // covers what resizing may make).
    if (int64_t(img.width) * img.height > (int64_t(1) << 20)) return;
    core::PatchOptions o{.patch_size = 8,
                         .merge_size = 1,
                         .temporal_patch_size = 1,
                         .height = 32,
                         .width = 32,
                         .shortest_edge = 32,
                         .grid_pinpoints = {{32, 64}, {64, 32}, {64, 64}, {96, 32}}};
    switch (input.size() % 3) {
      case 0:
        core::merge_window_patches(img, {.min_pixels = 56 * 56, .max_pixels = 28 * 28 * 4});
        return;
      case 1:
        o.resize = plugin::ImageResize::shortest_edge_crop;
        break;
      default:
        o.resize = plugin::ImageResize::anyres;
    }
    core::merge_window_patches(img, o);
  });
}

// config.json as the host reads it: routing, normalisation, the serving family's describe();
// inputs with "model_types" are parsed as registry tables instead.
void config(std::string_view input) {
  static const auto* host = new core::PluginHost();
  static auto* families = new std::map<std::string, std::shared_ptr<plugin::Family>>();
  auto j = nlohmann::json::parse(input, nullptr, false);
  if (j.is_discarded()) return;
  expecting_errors([&] {
    if (j.is_object() && j.contains("model_types")) {
      registry::Registry::parse(j.dump(), "fuzz/model_types.json");
      return;
    }
    if (j.is_object() && j.contains("image_processor_type")) {  // preprocessor_config.json
      for (auto resize : {plugin::ImageResize::smart, plugin::ImageResize::fixed,
                          plugin::ImageResize::longest_edge,
                          plugin::ImageResize::shortest_edge_crop, plugin::ImageResize::anyres}) {
        plugin::VisionSpec spec{.patch_size = 8,
                                .temporal_patch_size = 1,
                                .merge_size = 1,
                                .resize = resize,
                                .image_height = 32,
                                .image_width = 32,
                                .longest_edge = 64,
                                .shortest_edge = 32,
                                .grid_pinpoints = {{32, 64}},
                                .pan_and_scan = true};
        expecting_errors([&] { core::patch_options(spec, j, "fuzz/preprocessor_config.json"); });
      }
      return;
    }
    const auto& reg = host->registry();
    const auto& entry = reg.route(j, "fuzz/config.json");
    auto normal = reg.normalize(j, entry, "fuzz/config.json");
    const auto& record = host->plugin_for(entry.family, entry.model_type);
    auto& family = (*families)[record.family];
    if (!family) family = host->create_family(record);
    family->describe(normal);
  });
}

void openai_request(std::string_view input) {
  auto j = nlohmann::json::parse(input, nullptr, false);
  if (j.is_discarded()) return;
  for (int api : {0, 1, 2}) {  // chat, completions, responses
    try {
      auto p = api == 0   ? server::parse_chat(j, {.allowed_dir = "/tmp"})
               : api == 1 ? server::parse_completion(j)
                          : server::parse_responses(j, {.allowed_dir = "/tmp"});
      Result r;
      r.text = "x";
      r.finish_reason = "stop";
      server::response_object(p, "id", 0, std::span(&r, 1)).dump();
      server::responses_object(p, "resp-1", 0, &r).dump();
      std::string finish = "length";
      Chunk c;
      c.text = c.content = "x";
      c.tool_calls = {{"call_1", "f", "{}"}};
      server::chunk_objects(p, "id", 0, &c, nullptr, true).dump();
      server::chunk_objects(p, "id", 0, nullptr, &finish, false).dump();
    } catch (const server::ApiError& e) {
      server::error_object(e).dump();
    }
  }
  auto oj = nlohmann::ordered_json::parse(input, nullptr, false);
  if (oj.is_discarded()) return;
  for (bool responses : {false, true}) {
    try {
      Request r;
      server::parse_constraints(oj, responses, r);
    } catch (const server::ApiError& e) {
      server::error_object(e).dump();
    }
  }
}

namespace {
// Drives a grammar: its initial masks over a small vocabulary, then the input's bytes.
void exercise(const std::shared_ptr<const core::grammar::Grammar>& g, std::string_view bytes) {
  static const auto trie = std::make_shared<const core::grammar::TokenTrie>(
      std::vector<std::string>{"{", "}", "\"", "a", "ab", "0", "12", " ", "\n", ",", ":", "[", "]",
                               "true", "null", "é", "\xff"});
  core::grammar::Constraint c(g, trie);
  std::vector<float> logits(trie->vocab(), 0.0f);
  for (int step = 0; step < 8 && !c.finished(); ++step) {
    std::fill(logits.begin(), logits.end(), 0.0f);
    if (c.mask(logits, {}, 16 - step) == 0) break;
    for (size_t id = 0; id < logits.size(); ++id) {
      if (logits[id] == 0.0f) {
        c.accept(int32_t(id));
        break;
      }
    }
  }
  core::grammar::Matcher m(g);
  core::grammar::State s = m.initial(), next;
  for (unsigned char b : bytes.substr(0, 256)) {
    m.advance(s, b, next);
    if (next.empty()) break;
    s.swap(next);
    (void)m.distance(s);
  }
}
}  // namespace

void gbnf(std::string_view input) {
  if (input.size() > 4096) return;
  expecting_errors([&] {
    auto g = std::make_shared<const core::grammar::Grammar>(
        core::grammar::Grammar::parse(input, "fuzz.gbnf"));
    exercise(g, input);
  });
}

void json_schema(std::string_view input) {
  if (input.size() > 4096) return;
  auto j = nlohmann::ordered_json::parse(input, nullptr, false);
  if (j.is_discarded()) return;
  std::string gbnf_text;
  try {
    gbnf_text = core::grammar::json_schema_to_gbnf(j);
  } catch (const Error&) {
    return;  // a schema it refuses, with a message
  }
  // What the compiler writes must read; a refusal here is the compiler's bug.
  std::shared_ptr<const core::grammar::Grammar> g;
  try {
    g = std::make_shared<const core::grammar::Grammar>(core::grammar::Grammar::parse(gbnf_text));
  } catch (const Error& e) {
    throw std::logic_error(std::string("the schema's grammar does not read: ") + e.what() + "\n" +
                           gbnf_text);
  }
  expecting_errors([&] { exercise(g, input); });
}

void kv_block(std::string_view input) {
  std::vector<uint8_t> bytes(input.begin(), input.end());
  uint64_t fingerprint = 0, hash = 0;
  if (bytes.size() >= 24) {
    std::memcpy(&fingerprint, bytes.data() + 8, 8);
    std::memcpy(&hash, bytes.data() + 16, 8);
  }
  if (bytes.size() >= 16) {
    const auto n = bytes.size() - 16;
    const sdk::ContentHash h = sdk::content_hash(std::span(bytes).first(n), fingerprint);
    std::memcpy(bytes.data() + n, &h.lo, 8);
    std::memcpy(bytes.data() + n + 8, &h.hi, 8);
  }
  auto d = sdk::KvDiskTier::decode(bytes, fingerprint, hash);
  if (d.record && sdk::KvDiskTier::encode(fingerprint, hash, *d.record) != bytes) std::abort();
  if (!d.record && d.error.empty()) std::abort();
}

}  // namespace vkllm::fuzz
