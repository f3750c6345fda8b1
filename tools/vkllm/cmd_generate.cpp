// vkllm generate: text (or token ids) in, a continuation out.
#include <fmt/format.h>

#include <sstream>

#include "commands.h"
#include "core/model.h"
#include "core/plugin_host.h"
#include "core/session.h"
#include "core/weights/safetensors.h"
#include "sdk/base/error.h"

namespace vkllm::cli {
namespace {

struct Args {
  std::string model, prompt, prompt_ids, system, logits_out, quantize;
  int max_tokens = 64;
  float temp = 0.0f;
  bool json = false;
  int64_t context = 0;
};

std::vector<int32_t> parse_ids(const std::string& s) {
  std::vector<int32_t> ids;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ',')) {
    if (item.empty()) continue;
    try {
      size_t used = 0;
      long v = std::stol(item, &used);
      if (used != item.size() || v < 0 || v > INT32_MAX) throw std::invalid_argument(item);
      ids.push_back(int32_t(v));
    } catch (const std::exception&) {
      throw InputError(fmt::format("--prompt-ids: '{}' is not a token id", item));
    }
  }
  if (ids.empty()) throw InputError("--prompt-ids: no ids given");
  return ids;
}

}  // namespace

Run add_generate(CLI::App& app) {
  auto* cmd = app.add_subcommand("generate", "Generate a continuation of a prompt");
  static Args a;
  cmd->add_option("--model,-m", a.model, "Model folder")->required();
  cmd->add_option("--prompt,-p", a.prompt, "Prompt text");
  cmd->add_option("--prompt-ids", a.prompt_ids, "Comma-separated token ids as they enter the model");
  cmd->add_option("--max-tokens,-n", a.max_tokens, "Tokens to generate")->check(CLI::NonNegativeNumber);
  cmd->add_option("--temp", a.temp, "Sampling temperature (0: greedy)")->check(CLI::NonNegativeNumber);
  cmd->add_option("--logits-out", a.logits_out, "Write the prompt's logits [positions, vocab] (f32) here");
  cmd->add_option("--quantize", a.quantize, "Quantize weights at load time (q8_0, q4_0)");
  cmd->add_option("--context", a.context, "Context length in tokens");
  cmd->add_flag("--json", a.json, "One JSON object per generated token");
  return [] {
    if (a.prompt_ids.empty()) throw InputError("give --prompt-ids (text prompts need the tokenizer)");
    auto ids = parse_ids(a.prompt_ids);
    core::PluginHost host;
    auto device = sdk::Device::create();
    core::LoadOptions lo;
    if (!a.quantize.empty()) lo.quantize = parse_dtype(a.quantize);
    auto model = core::LoadedModel::load(a.model, device, host, lo);
    core::Session session(model, {.context = a.context});
    bool all = !a.logits_out.empty();
    auto logits = session.eval(ids, {.all_logits = all});
    int64_t vocab = session.vocab();
    if (all) {
      core::write_safetensors(a.logits_out, {{"logits", core::StDtype::F32,
                                              {int64_t(ids.size()), vocab}, logits.data(),
                                              logits.size() * 4}});
    }
    const float* last = logits.data() + (logits.size() - size_t(vocab));
    int32_t next = int32_t(std::max_element(last, last + vocab) - last);
    std::vector<int32_t> out;
    for (int i = 0; i < a.max_tokens; ++i) {
      out.push_back(next);
      if (a.json) fmt::print("{{\"id\": {}}}\n", next);
      if (i + 1 == a.max_tokens || session.length() >= session.context()) break;
      next = session.eval_argmax(next);
    }
    if (!a.json) fmt::print("{}\n", fmt::join(out, ","));
    return 0;
  };
}

}  // namespace vkllm::cli
