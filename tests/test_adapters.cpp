// LoRA adapters against transformers (tools/fixtures/make_lora.py: random adapters on the tiny
// Llama 3 and Qwen2-VL fixtures, the update merged by hand in torch): logits of every prompt
// position and the greedy continuation, merged at load and applied at runtime; runtime equal to
// merged; two adapters and the base in one continuous batch equal each alone; bad adapters as
// clear errors.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <future>

#include "core/weights/safetensors.h"
#include "sdk/base/error.h"
#include "vkllm/engine.h"
#include "vkllm/vkllm.h"

namespace vkllm::test {
namespace {
namespace fs = std::filesystem;

const std::string kData = VKLLM_TEST_DATA;
const std::string kLlama = kData + "/llama/llama3";
const std::string kQwen = kData + "/qwen_vl/qwen2_vl";
const std::string kImage = kData + "/images/rgba_150x100.png";
// As the families' own parity tests: the f16 KV cache moves logits by up to ~2e-3.
constexpr double kTolerance = 5e-3;

std::string lora(const std::string& name) { return kData + "/lora/" + name; }

double max_diff(const std::vector<float>& a, const std::vector<float>& b) {
  EXPECT_EQ(a.size(), b.size());
  double m = 0;
  for (size_t i = 0; i < std::min(a.size(), b.size()); ++i)
    m = std::max(m, std::fabs(double(a[i]) - b[i]));
  return m;
}

Request prompt_of(const core::SafetensorsFile& ref, bool image) {
  Request r;
  r.prompt_ids = ref.values<int32_t>("input_ids");
  if (image) r.images.push_back({kImage, {}});
  r.prompt_logits = true;
  r.sampling.temperature = 0;
  r.max_tokens = int(ref.values<int32_t>("greedy").size());
  r.ignore_eos = true;
  return r;
}

struct Case {
  const char* adapter;
  const char* base;
  bool image;
  bool runtime_ok;  // replaced tensors (modules_to_save) only merge
};
void PrintTo(const Case& c, std::ostream* os) { *os << c.adapter; }

const Case kCases[] = {{"llama3_peft", "llama", false, true},
                       {"llama3_peft_save", "llama", false, false},
                       {"llama3_mlx", "llama", false, true},
                       {"qwen2_vl_peft", "qwen", true, true},
                       {"qwen2_vl_mlx", "qwen", true, true}};

class AdapterParity : public ::testing::TestWithParam<std::tuple<Case, const char*>> {};

TEST_P(AdapterParity, LogitsAndGreedyMatchTransformers) {
  auto [c, mode] = GetParam();
  const std::string base = std::string(c.base) == "llama" ? kLlama : kQwen;
  core::SafetensorsFile ref(lora(c.adapter) + "/reference.safetensors");
  EngineOptions o{.adapters = {lora(c.adapter)}, .adapter_mode = mode};
  if (!c.runtime_ok && std::string(mode) == "runtime") {
    try {
      Engine::load(base, o);
      FAIL() << "runtime mode took an adapter that replaces a tensor";
    } catch (const ModelError& e) {
      EXPECT_NE(std::string(e.what()).find("modules_to_save"), std::string::npos) << e.what();
    }
    return;
  }
  auto engine = Engine::load(base, o);
  auto res = engine->generate(prompt_of(ref, c.image));
  const double worst = max_diff(res.prompt_logits, ref.values<float>("logits"));
  EXPECT_LE(worst, kTolerance) << c.adapter << " " << mode;
  std::printf("%s %s: max |logit - transformers| = %.2e\n", c.adapter, mode, worst);
  EXPECT_EQ(res.ids, ref.values<int32_t>("greedy")) << c.adapter << " " << mode;
}

INSTANTIATE_TEST_SUITE_P(Adapters, AdapterParity,
                         ::testing::Combine(::testing::ValuesIn(kCases),
                                            ::testing::Values("merged", "runtime")),
                         [](const auto& i) {
                           return std::string(std::get<0>(i.param).adapter) + "_" +
                                  std::get<1>(i.param);
                         });

// The adapter changes the model (the references are not the base's).
TEST(Adapters, TheReferencesDifferFromTheBase) {
  core::SafetensorsFile base(kLlama + "/reference.safetensors");
  core::SafetensorsFile ref(lora("llama3_peft") + "/reference.safetensors");
  EXPECT_GT(max_diff(base.values<float>("logits"), ref.values<float>("logits")), 0.1);
}

// One engine in runtime mode serves the base and two named adapters; in one continuous batch
// each request gets what its adapter gives alone (and what transformers gives).
TEST(Adapters, TwoAdaptersAndTheBaseShareOneBatch) {
  EngineOptions o{.parallel = 4,
                  .adapters = {"peft=" + lora("llama3_peft"), "mlx=" + lora("llama3_mlx")},
                  .adapter_mode = "runtime"};
  auto engine = Engine::load(kLlama, o);
  EXPECT_EQ(engine->description().adapters, (std::vector<std::string>{"peft", "mlx"}));
  struct Job {
    std::string adapter, ref;
  };
  const std::vector<Job> jobs = {{"peft", lora("llama3_peft")},
                                 {"", kLlama},
                                 {"mlx", lora("llama3_mlx")},
                                 {"peft", lora("llama3_peft")}};
  for (int round = 0; round < 2; ++round) {  // the second round reuses cached prefixes
    std::vector<std::future<Result>> out;
    for (const auto& j : jobs) {
      out.push_back(std::async(std::launch::async, [&engine, j] {
        core::SafetensorsFile ref(j.ref + "/reference.safetensors");
        Request r = prompt_of(ref, false);
        r.prompt_logits = false;
        r.adapter = j.adapter;
        return engine->generate(r);
      }));
    }
    for (size_t i = 0; i < jobs.size(); ++i) {
      core::SafetensorsFile ref(jobs[i].ref + "/reference.safetensors");
      EXPECT_EQ(out[i].get().ids, ref.values<int32_t>("greedy"))
          << "round " << round << " adapter '" << jobs[i].adapter << "'";
    }
  }
  EXPECT_GT(engine->stats().shared_steps, 0);
  try {
    Request r;
    r.prompt = "x";
    r.adapter = "nope";
    engine->generate(r);
    FAIL() << "an unknown adapter was accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("'peft', 'mlx'"), std::string::npos) << e.what();
  }
}

// One sequence at a time: switching adapters between requests never reuses the other's tokens.
TEST(Adapters, SwitchingAdaptersOnOneSession) {
  EngineOptions o{.adapters = {"a=" + lora("llama3_peft")}, .adapter_mode = "runtime"};
  auto engine = Engine::load(kLlama, o);
  for (const auto& [name, dir] : {std::pair{"a", lora("llama3_peft")}, std::pair{"", kLlama},
                                  std::pair{"a", lora("llama3_peft")}}) {
    core::SafetensorsFile ref(dir + "/reference.safetensors");
    Request r = prompt_of(ref, false);
    r.prompt_logits = false;
    r.adapter = name;
    EXPECT_EQ(engine->generate(r).ids, ref.values<int32_t>("greedy")) << "'" << name << "'";
  }
}

// Quantized bases: merged weights are requantized; runtime factors stay f32 beside them. Both
// stay close to the reference (the quantization noise of the base itself).
TEST(Adapters, QuantizedBaseMergedAndRuntimeAgree) {
  core::SafetensorsFile ref(lora("llama3_peft") + "/reference.safetensors");
  std::vector<float> logits[2];
  int i = 0;
  for (const char* mode : {"merged", "runtime"}) {
    auto engine = Engine::load(
        kLlama, {.quantize = "q8_0", .adapters = {lora("llama3_peft")}, .adapter_mode = mode});
    Request r = prompt_of(ref, false);
    r.max_tokens = 0;
    logits[i++] = engine->generate(r).prompt_logits;
  }
  const auto want = ref.values<float>("logits");
  for (const auto& l : logits) EXPECT_LT(max_diff(l, want), 0.1);
  EXPECT_LT(max_diff(logits[0], logits[1]), 0.1);
}

// Writes an adapter folder from a list of tensors (f32).
void write_adapter(const fs::path& dir, const std::string& config,
                   const std::vector<std::pair<std::string, std::vector<int64_t>>>& tensors,
                   const std::string& file = "adapter_model.safetensors") {
  fs::create_directories(dir);
  std::ofstream(dir / "adapter_config.json") << config;
  std::vector<std::vector<float>> data;
  std::vector<core::StWrite> w;
  for (const auto& [name, shape] : tensors) {
    int64_t n = 1;
    for (auto d : shape) n *= d;
    data.emplace_back(size_t(n));
    for (size_t j = 0; j < data.back().size(); ++j)  // varied, deterministic values
      data.back()[j] = 0.1f * std::sin(0.37f * float(j) + float(data.size()));
  }
  for (size_t i = 0; i < tensors.size(); ++i)
    w.push_back({tensors[i].first, core::StDtype::F32, tensors[i].second, data[i].data(),
                 data[i].size() * 4});
  core::write_safetensors((dir / file).string(), w);
}

std::string load_error(const std::string& base, const std::string& adapter,
                       const std::string& mode = "merged") {
  try {
    Engine::load(base, {.adapters = {adapter}, .adapter_mode = mode});
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

// --adapter-scale multiplies the adapter's own: 0 gives the base.
TEST(Adapters, ScaleZeroIsTheBase) {
  core::SafetensorsFile ref(kLlama + "/reference.safetensors");
  for (const char* mode : {"merged", "runtime"}) {
    auto engine = Engine::load(
        kLlama, {.adapters = {lora("llama3_mlx")}, .adapter_scale = 0.0f, .adapter_mode = mode});
    auto res = engine->generate(prompt_of(ref, false));
    EXPECT_LE(max_diff(res.prompt_logits, ref.values<float>("logits")), kTolerance) << mode;
  }
}

// A LLaVA-style checkpoint (language_model.model.*, vision_tower.*, multi_modal_projector.*)
// with an adapter written with current transformers module paths (model.language_model.*,
// model.vision_tower.*, model.multi_modal_projector.*): the registry's renames map them, and the
// CLIP tower and projector run the adapter at runtime as merged weights do.
TEST(Adapters, LlavaNamesAndVisionTargetsRuntimeEqualsMerged) {
  const std::string base = kData + "/generic_vlm/llava_clip";
  const fs::path dir = fs::temp_directory_path() / "vkllm_llava_adapter";
  fs::remove_all(dir);
  const std::string p = "base_model.model.model.";
  auto pair = [&](const std::string& m, int64_t out, int64_t in) {
    return std::vector<std::pair<std::string, std::vector<int64_t>>>{
        {p + m + ".lora_A.weight", {3, in}}, {p + m + ".lora_B.weight", {out, 3}}};
  };
  std::vector<std::pair<std::string, std::vector<int64_t>>> t;
  for (auto v : {pair("language_model.layers.0.self_attn.q_proj", 96, 64),
                 pair("vision_tower.vision_model.encoder.layers.0.self_attn.q_proj", 32, 32),
                 pair("vision_tower.vision_model.encoder.layers.0.mlp.fc1", 48, 32),
                 pair("multi_modal_projector.linear_1", 64, 32)})
    t.insert(t.end(), v.begin(), v.end());
  write_adapter(dir, R"({"peft_type": "LORA", "r": 3, "lora_alpha": 6})", t);
  core::SafetensorsFile ref(base + "/reference_one_image.safetensors");
  std::vector<float> logits[3];
  int i = 0;
  for (const char* mode : {"", "merged", "runtime"}) {
    EngineOptions o;
    if (*mode) o = {.adapters = {dir.string()}, .adapter_mode = mode};
    auto engine = Engine::load(base, o);
    Request r = prompt_of(ref, true);
    r.max_tokens = 0;
    logits[i++] = engine->generate(r).prompt_logits;
  }
  // The adapter moves logits by ~1e-1; merged and runtime differ by f32 summation order, which
  // can flip the f16 rounding of a cached key or value (measured 3.6e-4).
  EXPECT_GT(max_diff(logits[0], logits[1]), 2e-2);
  EXPECT_LE(max_diff(logits[1], logits[2]), 2e-3);
  std::printf("llava adapter: moves logits by %.2e; runtime vs merged %.2e\n",
              max_diff(logits[0], logits[1]), max_diff(logits[1], logits[2]));
  fs::remove_all(dir);
}

// An adapter on the output head: at runtime the head's rows (the logits rows, not the pass's
// tokens) get it when one adapter covers the pass; the same as merged.
TEST(Adapters, OutputHeadAdapterAtRuntime) {
  const fs::path dir = fs::temp_directory_path() / "vkllm_head_adapter";
  fs::remove_all(dir);
  write_adapter(dir, R"({"peft_type": "LORA", "r": 2, "lora_alpha": 8})",
                {{"base_model.model.lm_head.lora_A.weight", {2, 64}},
                 {"base_model.model.lm_head.lora_B.weight", {384, 2}}});
  core::SafetensorsFile ref(kLlama + "/reference.safetensors");
  std::vector<int32_t> out[2];
  int i = 0;
  for (const char* mode : {"merged", "runtime"}) {
    auto engine = Engine::load(kLlama, {.adapters = {dir.string()}, .adapter_mode = mode});
    Request r = prompt_of(ref, false);
    r.prompt_logits = false;  // logits of the last row only: the head sees 1 row of 21
    out[i++] = engine->generate(r).ids;
  }
  EXPECT_EQ(out[0], out[1]);
  EXPECT_NE(out[0], ref.values<int32_t>("greedy"));  // the adapter changes the output
  // In a batch mixing adapters the head's rows are told apart per sequence.
  auto engine =
      Engine::load(kLlama, {.parallel = 3,
                            .adapters = {"head=" + dir.string(), "peft=" + lora("llama3_peft")},
                            .adapter_mode = "runtime"});
  core::SafetensorsFile peft(lora("llama3_peft") + "/reference.safetensors");
  const std::vector<std::pair<std::string, std::vector<int32_t>>> jobs = {
      {"head", out[1]},
      {"peft", peft.values<int32_t>("greedy")},
      {"", ref.values<int32_t>("greedy")}};
  std::vector<std::future<Result>> got;
  for (const auto& j : jobs) {
    got.push_back(std::async(std::launch::async, [&engine, &ref, j] {
      Request r = prompt_of(ref, false);
      r.prompt_logits = false;
      r.adapter = j.first;
      return engine->generate(r);
    }));
  }
  for (size_t k = 0; k < jobs.size(); ++k)
    EXPECT_EQ(got[k].get().ids, jobs[k].second) << jobs[k].first;
  fs::remove_all(dir);
}

TEST(Adapters, BadAdaptersAreClearErrors) {
  const fs::path tmp = fs::temp_directory_path() / "vkllm_bad_adapters";
  fs::remove_all(tmp);
  const std::string peft = R"({"peft_type": "LORA", "r": 2, "lora_alpha": 4})";
  const std::string q = "base_model.model.model.layers.0.self_attn.q_proj.";
  // Another model size: factors that do not fit q_proj [64, 64].
  write_adapter(tmp / "size", peft,
                {{q + "lora_A.weight", {2, 96}}, {q + "lora_B.weight", {64, 2}}});
  EXPECT_NE(load_error(kLlama, (tmp / "size").string())
                .find("do not fit 'model.layers.0.self_attn.q_proj.weight'"),
            std::string::npos);
  // Another architecture: a module the model does not have.
  const std::string x = "base_model.model.transformer.h.0.attn.c_attn.";
  write_adapter(tmp / "arch", peft,
                {{x + "lora_A.weight", {2, 64}}, {x + "lora_B.weight", {64, 2}}});
  EXPECT_NE(load_error(kLlama, (tmp / "arch").string()).find("another architecture"),
            std::string::npos);
  // Outside the parts the family declares (the final norm is not an adapter target).
  write_adapter(tmp / "part", peft, {{"base_model.model.model.norm.weight", {64}}});
  EXPECT_NE(load_error(kLlama, (tmp / "part").string()).find("outside the parts"),
            std::string::npos);
  // DoRA, a lone factor, no files, not a folder, a corrupt file.
  write_adapter(tmp / "dora", R"({"peft_type": "LORA", "r": 2, "use_dora": true})",
                {{q + "lora_A.weight", {2, 64}}, {q + "lora_B.weight", {64, 2}}});
  EXPECT_NE(load_error(kLlama, (tmp / "dora").string()).find("DoRA"), std::string::npos);
  // A config value of the wrong type.
  write_adapter(tmp / "type", R"({"peft_type": "LORA", "r": 2, "use_rslora": "yes"})",
                {{q + "lora_A.weight", {2, 64}}, {q + "lora_B.weight", {64, 2}}});
  EXPECT_NE(load_error(kLlama, (tmp / "type").string()).find("adapter_config.json"),
            std::string::npos);
  write_adapter(tmp / "lone", peft, {{q + "lora_A.weight", {2, 64}}});
  EXPECT_NE(load_error(kLlama, (tmp / "lone").string()).find("only one of its two"),
            std::string::npos);
  fs::create_directories(tmp / "empty");
  std::ofstream(tmp / "empty" / "adapter_config.json") << peft;
  EXPECT_NE(load_error(kLlama, (tmp / "empty").string()).find("no adapter_model.safetensors"),
            std::string::npos);
  EXPECT_NE(load_error(kLlama, (tmp / "missing").string()).find("not a folder"), std::string::npos);
  write_adapter(tmp / "corrupt", peft, {{q + "lora_A.weight", {2, 64}}});
  fs::resize_file(tmp / "corrupt" / "adapter_model.safetensors", 40);
  EXPECT_NE(load_error(kLlama, (tmp / "corrupt").string()).find("adapter_model.safetensors"),
            std::string::npos);
  // A full mlx-lm fine-tune is not an adapter.
  write_adapter(tmp / "full", R"({"fine_tune_type": "full"})", {{"model.norm.weight", {64}}},
                "adapters.safetensors");
  EXPECT_NE(load_error(kLlama, (tmp / "full").string()).find("not an adapter"), std::string::npos);
  // Merged mode takes one adapter; names are unique.
  try {
    Engine::load(kLlama,
                 {.adapters = {lora("llama3_peft"), lora("llama3_mlx")}, .adapter_mode = "merged"});
    ADD_FAILURE() << "two merged adapters were accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("--adapter-mode runtime"), std::string::npos);
  }
  try {
    Engine::load(kLlama, {.adapters = {lora("llama3_peft"), lora("llama3_mlx")}});
    ADD_FAILURE() << "two unnamed adapters were accepted";
  } catch (const InputError& e) {
    EXPECT_NE(std::string(e.what()).find("NAME=DIR"), std::string::npos) << e.what();
  }
  EXPECT_NE(load_error(kLlama, lora("llama3_peft"), "fused").find("merged or runtime"),
            std::string::npos);
  fs::remove_all(tmp);
}

// The C API: adapters at load, one selected per call.
TEST(Adapters, CApiSelectsTheAdapterPerCall) {
  const std::string named = "m=" + lora("qwen2_vl_mlx");
  const char* adapters[] = {named.c_str()};
  vkllm_engine_options o;
  vkllm_engine_options_default(&o);
  EXPECT_EQ(o.adapter_scale, 1.0f);
  o.adapters = adapters;
  o.n_adapters = 1;
  o.adapter_mode = "runtime";
  vkllm_engine* e = nullptr;
  ASSERT_EQ(vkllm_engine_load_ex(kQwen.c_str(), &o, &e), VKLLM_OK) << vkllm_last_error();
  vkllm_sampling s{0.0f, -1, -1.0f, -1.0f, -1.0f, 6, 0, 0};  // greedy, defaults, 6 tokens
  auto run = [&](const char* adapter) {
    vkllm_engine_set_adapter(e, adapter);
    char* text = nullptr;
    EXPECT_EQ(vkllm_engine_generate(e, "Hi", 0, &s, nullptr, nullptr, &text), VKLLM_OK)
        << vkllm_last_error();
    std::string t = text ? text : "";
    vkllm_string_free(text);
    return t;
  };
  auto alone = [&](bool with) {
    auto engine = Engine::load(
        kQwen, {.adapters = with ? std::vector{lora("qwen2_vl_mlx")} : std::vector<std::string>{},
                .adapter_mode = "runtime"});
    Request r;
    r.prompt = "Hi";
    r.max_tokens = 6;
    r.sampling.temperature = 0;
    return engine->generate(r).text;
  };
  const std::string with = alone(true), without = alone(false);
  EXPECT_NE(with, without);
  EXPECT_EQ(run("m"), with);
  EXPECT_EQ(run(nullptr), without);
  vkllm_engine_set_adapter(e, "zz");
  EXPECT_NE(vkllm_engine_generate(e, "Hi", 0, &s, nullptr, nullptr, nullptr), VKLLM_OK);
  EXPECT_NE(std::string(vkllm_last_error()).find("'zz'"), std::string::npos);
  vkllm_engine_free(e);
}

}  // namespace
}  // namespace vkllm::test
