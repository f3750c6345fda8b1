// One test per documented input limit (core/limits.h): input just over the limit fails with an
// error that names it; input at the limit (where cheap to build) passes that check.
#include <fmt/format.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/jinja/error.h"
#include "core/jinja/template.h"
#include "core/json_file.h"
#include "core/limits.h"
#include "core/tokenizer/tokenizer.h"
#include "core/vision/image.h"
#include "core/vision/preprocess.h"
#include "core/weights/safetensors.h"
#include "sdk/base/error.h"

namespace vkllm::test {
namespace {
namespace fs = std::filesystem;
namespace limits = core::limits;
using core::jinja::Template;
using core::jinja::TemplateError;

// Expects f() to throw E whose message contains `needle`.
template <class E, class F>
void expect_error(F&& f, const std::string& needle) {
  try {
    f();
    ADD_FAILURE() << "no error; expected one naming '" << needle << "'";
  } catch (const E& e) {
    EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
  }
}

// A sparse file of `bytes` bytes (no disk used).
fs::path sparse_file(const std::string& name, uint64_t bytes) {
  fs::path p = fs::temp_directory_path() / (name + "-" + std::to_string(::getpid()));
  { std::ofstream(p) << "x"; }
  fs::resize_file(p, bytes);
  return p;
}

std::string safetensors_header(const std::string& json) {
  std::string out(8, '\0');
  uint64_t n = json.size();
  std::memcpy(out.data(), &n, 8);
  return out + json;
}

std::map<std::string, core::StTensor> parse(const std::string& file) {
  uint64_t start = 0;
  return core::SafetensorsFile::parse_header(reinterpret_cast<const uint8_t*>(file.data()),
                                             file.size(), "x.safetensors", &start);
}

TEST(Limits, JsonFileBytes) {
  auto p = sparse_file("config.json", limits::kJsonFileBytes + 1);
  expect_error<ModelError>([&] { core::read_json_file(p.string()); }, "16 MiB");
  fs::remove(p);
}

TEST(Limits, TokenizerJsonBytes) {
  auto dir = fs::temp_directory_path() / ("vkllm-tok-limit-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  { std::ofstream(dir / "tokenizer.json") << "x"; }
  fs::resize_file(dir / "tokenizer.json", limits::kTokenizerJsonBytes + 1);
  expect_error<ModelError>([&] { core::Tokenizer::from_folder(dir.string()); }, "256 MiB");
  fs::remove_all(dir);
}

TEST(Limits, SafetensorsHeaderBytes) {
  std::string file(16, '\0');
  uint64_t n = limits::kSafetensorsHeaderBytes + 1;
  std::memcpy(file.data(), &n, 8);
  expect_error<ModelError>([&] { parse(file); }, "100 MiB limit");
}

TEST(Limits, SafetensorsTensorCount) {
  std::string json = "{";
  for (uint64_t i = 0; i <= limits::kSafetensorsTensors; ++i)
    json += fmt::format(R"({}"t{}":{{"dtype":"F32","shape":[0],"data_offsets":[0,0]}})",
                        i ? "," : "", i);
  json += "}";
  expect_error<ModelError>([&] { parse(safetensors_header(json)); },
                           "more than the limit of 131072");
  // One fewer is accepted.
  json = "{";
  for (uint64_t i = 0; i < limits::kSafetensorsTensors; ++i)
    json += fmt::format(R"({}"t{}":{{"dtype":"F32","shape":[0],"data_offsets":[0,0]}})",
                        i ? "," : "", i);
  json += "}";
  EXPECT_EQ(parse(safetensors_header(json)).size(), limits::kSafetensorsTensors);
}

TEST(Limits, TensorRank) {
  auto entry = [](int rank) {
    std::string shape = "1";
    for (int i = 1; i < rank; ++i) shape += ",1";
    return safetensors_header(R"({"t":{"dtype":"F32","shape":[)" + shape +
                              R"(],"data_offsets":[0,4]}})") +
           std::string(4, '\0');
  };
  EXPECT_EQ(parse(entry(limits::kTensorRank)).size(), 1u);
  expect_error<ModelError>([&] { parse(entry(limits::kTensorRank + 1)); }, "limit of 8");
}

nlohmann::json bpe_with_ids(std::vector<std::pair<std::string, int64_t>> vocab) {
  nlohmann::json v = nlohmann::json::object();
  for (auto& [k, id] : vocab) v[k] = id;
  return {{"model", {{"type", "BPE"}, {"vocab", v}, {"merges", nlohmann::json::array()}}}};
}

TEST(Limits, VocabularyIds) {
  // Ids index dense tables: an id at or past the limit is refused before anything is allocated.
  int64_t last = int64_t(limits::kVocabEntries) - 1;
  EXPECT_NO_THROW(core::Tokenizer::from_json(bpe_with_ids({{"a", 0}, {"b", last}}), {}, "t"));
  expect_error<ModelError>(
      [&] {
        core::Tokenizer::from_json(bpe_with_ids({{"a", 0}, {"b", last + 1}}), {}, "t");
      },
      "vocabulary limit");
  auto j = bpe_with_ids({{"a", 0}});
  j["added_tokens"] = {{{"id", int64_t(1) << 40}, {"content", "<x>"}}};
  expect_error<ModelError>([&] { core::Tokenizer::from_json(j, {}, "t"); }, "vocabulary limit");
}

TEST(Limits, VocabularyEntries) {
  nlohmann::json v = nlohmann::json::object();
  for (uint64_t i = 0; i <= limits::kVocabEntries; ++i) v[fmt::format("t{}", i)] = i % 1000;
  nlohmann::json j = {
      {"model", {{"type", "BPE"}, {"vocab", v}, {"merges", nlohmann::json::array()}}}};
  expect_error<ModelError>([&] { core::Tokenizer::from_json(j, {}, "t"); },
                           "more than the limit of 1048576");
}

TEST(Limits, EncodeBytes) {
  auto tok = core::Tokenizer::from_folder(std::string(VKLLM_SOURCE_DIR) + "/models/tiny-kjv");
  std::string text(limits::kEncodeBytes + 1, 'a');
  expect_error<InputError>([&] { tok->encode(text); }, "64 MiB limit");
  // An invalid byte far into a long text is found in one pass and named.
  std::string bad(1 << 20, 'a');
  bad[bad.size() - 2] = '\xff';
  expect_error<InputError>([&] { tok->encode(bad); }, "at byte 1048574");
}

TEST(Limits, TemplateBytes) {
  std::string src(limits::kTemplateBytes + 1, 'x');
  expect_error<TemplateError>([&] { Template t(src); }, "1024 KiB limit");
  EXPECT_NO_THROW(Template(std::string(limits::kTemplateBytes, 'x')));
}

TEST(Limits, TemplateNesting) {
  auto parens = [](int n) {
    return fmt::format("{{{{ {}1{} }}}}", std::string(size_t(n), '('), std::string(size_t(n), ')'));
  };
  EXPECT_EQ(Template(parens(100)).render(core::jinja::Value::object()), "1");
  expect_error<TemplateError>([&] { Template t(parens(100000)); }, "nested deeper than 256");
  std::string blocks;
  for (int i = 0; i < 300; ++i) blocks += "{% if true %}";
  for (int i = 0; i < 300; ++i) blocks += "{% endif %}";
  expect_error<TemplateError>([&] { Template t(blocks); }, "nested deeper than 256");
  // Long left-associative chains are bounded too (they evaluate recursively).
  std::string chain = "{{ 1";
  for (int i = 0; i < 100000; ++i) chain += "+1";
  expect_error<TemplateError>([&] { Template t(chain + " }}"); }, "more than 4096 parts");
}

TEST(Limits, TemplateMacroDepth) {
  Template t("{% macro f(n) %}{{ f(n + 1) }}{% endmacro %}{{ f(0) }}");
  expect_error<TemplateError>([&] { t.render(core::jinja::Value::object()); },
                              "deeper than 200 calls");
}

TEST(Limits, TemplateSteps) {
  Template t(
      "{% for i in range(1000) %}{% for j in range(1000) %}{% for k in range(2) %}"
      "{% endfor %}{% endfor %}{% endfor %}");
  expect_error<TemplateError>([&] { t.render(core::jinja::Value::object()); },
                              "more than 1048576 loop iterations");
}

TEST(Limits, TemplateOutputBytes) {
  for (const char* src : {"{{ 'x' * 20000000 }}", "{{ 'x' | center(20000000) }}",
                          "{% set ns = namespace(s='xxxxxxxx') %}{% for i in range(30) %}"
                          "{% set ns.s = ns.s ~ ns.s %}{% endfor %}",
                          "{% for i in range(20) %}{{ 'y' * 1000000 }}{% endfor %}"}) {
    Template t(src);
    expect_error<TemplateError>([&] { t.render(core::jinja::Value::object()); }, "16 MiB limit");
  }
  Template ok("{{ 'x' * 1000000 }}");
  EXPECT_EQ(ok.render(core::jinja::Value::object()).size(), 1000000u);
}

TEST(Limits, ImageBytes) {
  auto p = sparse_file("image.png", limits::kImageBytes + 1);
  expect_error<InputError>([&] { core::load_image(p.string()); }, "256 MiB");
  fs::remove(p);
}

TEST(Limits, ImagePixels) {
  // A PNG header claiming 8193 x 8193 pixels (just over 64 Mpixel) is refused from the header.
  const uint8_t png[] = {0x89, 'P',  'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, 0,    0, 0,
                         13,   'I',  'H', 'D', 'R',  0,    0,    0x20, 0x01, 0, 0,
                         0x20, 0x01, 8,   2,   0,    0,    0,    0,    0,    0, 0};
  expect_error<InputError>([&] { core::decode_image(png, "big.png"); }, "at most 64 Mpixel");
  // Resizing may not make more: a 1 x 300000 image whose shorter side goes to 336 would be
  // 100 Gpixel (the fuzzer found it: tests/fuzz/regressions/image/extreme_aspect_resize).
  core::Image thin{1, 300000, std::vector<uint8_t>(300000 * 3, 128)};
  core::PatchOptions o{.resize = plugin::ImageResize::shortest_edge_crop,
                       .height = 336,
                       .width = 336,
                       .shortest_edge = 336};
  expect_error<InputError>([&] { core::merge_window_patches(thin, o); }, "limit of 64 Mpixel");
}

}  // namespace
}  // namespace vkllm::test
