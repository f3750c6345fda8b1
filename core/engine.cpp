// vkllm::Engine: a model folder on the default device with its tokenizer, chat template and one
// session whose cached prefix later requests reuse.
#include <fmt/format.h>

#include <filesystem>
#include <mutex>

#include "core/chat/chat_setup.h"
#include "core/generate.h"
#include "core/grammar/json_schema.h"
#include "core/jinja/error.h"
#include "core/jinja/template.h"
#include "core/memory/estimate.h"
#include "core/model.h"
#include "core/plugin_host.h"
#include "core/scheduler/scheduler.h"
#include "core/session.h"
#include "core/tokenizer/tokenizer.h"
#include "core/vision/feature_cache.h"
#include "core/vision/prompt.h"
#include "sdk/base/error.h"
#include "sdk/base/json_get.h"
#include "sdk/base/log.h"
#include "sdk/ops/elementwise.h"
#include "vkllm/engine.h"

namespace vkllm {
namespace fs = std::filesystem;

struct Engine::Impl {
  std::unique_ptr<core::PluginHost> plugins;
  std::shared_ptr<sdk::Device> device;
  std::shared_ptr<core::LoadedModel> model;
  std::shared_ptr<core::Tokenizer> tokenizer;
  std::unique_ptr<core::jinja::Template> chat_template;
  std::unique_ptr<core::Session> session;      // parallel 1
  std::unique_ptr<core::Scheduler> scheduler;  // parallel > 1
  int64_t context = 0;
  bool rotating = false;  // max_kv_size: the context does not bound a sequence
  std::string context_overflow = "error";
  MemoryReport memory;                             // the estimate and budget of the load
  std::shared_ptr<core::LoadedModel> draft_model;  // speculative decoding
  std::unique_ptr<core::Session> draft;
  int draft_tokens = 4;
  nlohmann::json generation_config;
  std::vector<int32_t> eos_ids;
  ModelDescription desc;
  core::PatchOptions patches;  // vision models: the image processor's settings
  std::unique_ptr<core::FeatureCache> features;
  std::atomic<bool> cancel{false};
  std::mutex busy;
  // Constrained decoding: the vocabulary's byte strings (built at the first grammar).
  std::once_flag trie_once;
  std::shared_ptr<const core::grammar::TokenTrie> trie;
};

namespace {

// The draft model of speculative decoding: same vocabulary as the model (ids and tokens).
void load_draft(Engine::Impl& impl, const std::string& dir, const EngineOptions& opt,
                core::LoadOptions lo) {
  const std::string& ddir = opt.draft_model;
  if (opt.draft_tokens < 1 || opt.draft_tokens > 32)
    throw InputError(fmt::format("draft_tokens {} must be in [1, 32]", opt.draft_tokens));
  lo.quantize.reset();
  if (!opt.draft_quantize.empty()) lo.quantize = parse_dtype(opt.draft_quantize);
  impl.draft_model = core::LoadedModel::load(ddir, impl.device, *impl.plugins, lo);
  int64_t v = impl.model->info().vocab_size, dv = impl.draft_model->info().vocab_size;
  if (v != dv) {
    throw InputError(
        fmt::format("draft model {} has a vocabulary of {} tokens, the model {} has "
                    "{}: speculative decoding needs the same tokenizer",
                    ddir, dv, dir, v));
  }
  const std::string& dfolder = impl.draft_model->folder();  // a GGUF file's folder
  if (impl.tokenizer && fs::exists(fs::path(dfolder) / "tokenizer.json")) {
    auto dt = core::Tokenizer::from_folder(dfolder);
    int64_t n = std::max(impl.tokenizer->vocab_size(), dt->vocab_size());
    for (int32_t id = 0; id < n; ++id) {
      if (impl.tokenizer->token(id) != dt->token(id)) {
        throw InputError(fmt::format(
            "draft model {} tokenizes differently from {}: token {} is '{}' there, '{}' here", ddir,
            dir, id, dt->token(id), impl.tokenizer->token(id)));
      }
    }
  }
  impl.draft = std::make_unique<core::Session>(
      impl.draft_model, core::SessionOptions{.context = impl.context,
                                             .prefill_chunk = opt.prefill_chunk,
                                             .prefix_cache = opt.prefix_cache,
                                             .max_kv_size = opt.max_kv_size});
  impl.draft_tokens = opt.draft_tokens;
}

// The prompt's images: decoded, laid into the ids, and encoded (or taken from the feature
// cache) for those whose tokens are not already in the cached prefix `common`.
struct VisionInputs {
  core::ImagePrompt prompt;
  std::vector<core::EvalOptions::Image> features;
  int64_t encoded = 0, cached = 0;
};

std::vector<core::Image> decode_images(const std::vector<ImageInput>& in) {
  std::vector<core::Image> out;
  for (size_t i = 0; i < in.size(); ++i) {
    const auto& img = in[i];
    if (img.bytes.empty()) {
      if (img.source.empty())
        throw InputError(fmt::format("image {} has neither a source nor bytes", i + 1));
      out.push_back(core::load_image(img.source));
    } else {
      out.push_back(core::decode_image(
          img.bytes, img.source.empty()
                         ? fmt::format("image {} ({} bytes)", i + 1, img.bytes.size())
                         : img.source));
    }
  }
  return out;
}

// Images whose runs end within the first `common` tokens are not needed; runs' `first` are
// given relative to `origin`.
// `adapter`: the runtime adapter of the request; when it updates the tower or the projector,
// every matmul of the encoding uses it and the cached features are its own.
void encode_images(Engine::Impl& impl, VisionInputs& v, int64_t common, int64_t origin,
                   int adapter) {
  plugin::Model& model = impl.model->model();
  const int64_t hidden = impl.model->info().hidden_size;
  sdk::Graph g(impl.device);
  uint64_t akey = 0;
  if (adapter > 0 && impl.model->lora()) {
    const auto& parts = impl.model->adapters()[size_t(adapter - 1)].parts();
    if (std::any_of(parts.begin(), parts.end(), [](const auto& p) { return p != "text"; })) {
      g.set_lora({impl.model->lora(), {{0, 0, adapter}}, -1});
      akey = impl.model->adapter_key(adapter);
    }
  }
  std::vector<std::pair<core::ContentHash, sdk::Tensor>> fresh;
  for (const auto& pi : v.prompt.images) {
    if (pi.first + pi.tokens <= common) continue;  // all its tokens are in the cached prefix
    core::ContentHash key = pi.hash;
    if (akey) key = {sdk::mix_key(key.lo, akey), sdk::mix_key(key.hi, ~akey)};
    std::optional<sdk::Tensor> f;
    for (const auto& [h, t] : fresh)
      if (h == key) f = t;  // the same image twice in one prompt
    if (!f) f = impl.features->get(key);
    if (f) {
      ++v.cached;
    } else {
      const plugin::ImagePatches p = pi.patches.view();
      sdk::Tensor t = model.encode_image(g, p);
      if (t.rank() != 2 || t.dim(0) != pi.tokens || t.dim(1) != hidden) {
        throw PluginError(
            fmt::format("the vision tower returned {} features for an image of {} "
                        "tokens of width {}",
                        t.shape().str(), pi.tokens, hidden));
      }
      f = sdk::Tensor::allocate(impl.device->weights(), Dtype::f32, {pi.tokens, hidden});
      ops::copy_into(g, t, *f);
      fresh.emplace_back(key, *f);
      ++v.encoded;
    }
    v.features.push_back({*f, pi.first - origin, model.vision()->bidirectional});
  }
  if (fresh.empty()) return;
  g.run();
  for (const auto& [h, t] : fresh) impl.features->put(h, t);
}

}  // namespace

// Sizes the session to the memory budget (see EngineOptions::memory_budget).
void size_to_budget(Engine::Impl& impl, const EngineOptions& opt, core::SessionOptions& so) {
  const uint64_t budget =
      opt.memory_budget ? opt.memory_budget : core::default_memory_budget(impl.device->features());
  const core::MemoryRequest request{.info = &impl.model->info(),
                                    .vision = impl.model->model().vision(),
                                    .weight_bytes = impl.device->weights().bytes_in_use(),
                                    .session = so,
                                    .max_sequences = std::max(1, opt.parallel),
                                    .image_cache_bytes = opt.image_cache_bytes,
                                    .image_patches = impl.model->model().vision()
                                                         ? core::max_patches_per_image(impl.patches)
                                                         : 0};
  const core::MemoryFit fit = core::fit_memory(request, budget, opt.fit_kv_bits);
  const core::MemoryEstimate& e = fit.estimate;
  if (!fit.changes.empty()) {
    log::get("core")->warn(
        "{}: what was asked needs {:.1f} MiB, the memory budget is {:.1f} MiB: {} ({:.1f} MiB)",
        impl.model->folder(), double(fit.asked.total()) / (1 << 20), double(budget) / (1 << 20),
        fit.changes, double(e.total()) / (1 << 20));
  }
  so = fit.session;
  // The activation arena sized to the widest pass (with an eighth to spare), not to its default
  // block.
  if (impl.device->arena().bytes_reserved() < e.activations)
    impl.device->arena().reserve(e.activations + e.activations / 8 -
                                 impl.device->arena().bytes_reserved());
  impl.memory = {.budget = budget,
                 .estimate_weights = e.weights,
                 .estimate_kv = e.kv,
                 .estimate_activations = e.activations,
                 .estimate_image_cache = e.image_cache,
                 .estimate_total = e.total(),
                 .estimate_text_activations = e.text_activations,
                 .estimate_image_activations = e.image_activations,
                 .fit = fit.changes};
}

Engine::Engine(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Engine::~Engine() = default;

std::unique_ptr<Engine> Engine::load(const std::string& path, const EngineOptions& opt) {
  auto impl = std::make_unique<Impl>();
  impl->plugins = std::make_unique<core::PluginHost>(opt.plugin_dirs);
  impl->device = sdk::Device::create();
  core::LoadOptions lo;
  if (!opt.quantize.empty()) {
    Dtype q = parse_dtype(opt.quantize);
    if (!is_quantized(q) || q == Dtype::mlx4 || q == Dtype::mlx8) {
      throw InputError(
          "--quantize takes a llama.cpp format (q8_0, q4_0, q4_1, q5_0, q5_1, q2_k, q3_k, q4_k, "
          "q5_k, q6_k, iq4_nl, iq4_xs), not '" +
          opt.quantize + "'");
    }
    lo.quantize = q;
  }
  lo.progress = opt.on_load_progress;
  if (!opt.adapter_mode.empty() && opt.adapter_mode != "merged" && opt.adapter_mode != "runtime")
    throw InputError(
        fmt::format("--adapter-mode takes merged or runtime, not '{}'", opt.adapter_mode));
  for (const auto& a : opt.adapters) {
    // "name=DIR" names an adapter for requests; a bare DIR is the unnamed one.
    core::AdapterSpec spec{"", a, opt.adapter_scale};
    if (auto eq = a.find('=');
        eq != std::string::npos && eq > 0 && a.find('/') > eq && !fs::exists(a)) {
      spec.name = a.substr(0, eq);
      spec.path = a.substr(eq + 1);
    }
    lo.adapters.push_back(spec);
  }
  lo.adapters_runtime =
      opt.adapter_mode == "runtime" ||
      (opt.adapter_mode.empty() &&
       (lo.adapters.size() > 1 || (lo.adapters.size() == 1 && !lo.adapters[0].name.empty())));
  impl->model = core::LoadedModel::load(path, impl->device, *impl->plugins, lo);
  // The model's folder (for a GGUF file, the folder made for it).
  const std::string& dir = impl->model->folder();
  if (fs::exists(fs::path(dir) / "tokenizer.json")) {
    impl->tokenizer = core::Tokenizer::from_folder(dir);
    const std::string& tpl = impl->tokenizer->chat_template();
    if (!tpl.empty()) {
      try {
        impl->chat_template = std::make_unique<core::jinja::Template>(tpl);
      } catch (const core::jinja::TemplateError& e) {
        throw ModelError(fmt::format("{}: chat template: {}", dir, e.what()));
      }
    }
  }
  fs::path gc = fs::path(dir) / "generation_config.json";
  if (fs::exists(gc)) impl->generation_config = core::read_json_file(gc.string());
  auto add_eos = [&](const nlohmann::json& j) {
    const std::string where = gc.string() + ": eos_token_id";
    if (j.is_number()) impl->eos_ids.push_back(json::as<int32_t>(j, where));
    if (j.is_array())
      for (const auto& e : j)
        if (e.is_number()) impl->eos_ids.push_back(json::as<int32_t>(e, where));
  };
  if (impl->generation_config.contains("eos_token_id"))
    add_eos(impl->generation_config["eos_token_id"]);
  if (impl->model->config().contains("eos_token_id"))
    add_eos(impl->model->config()["eos_token_id"]);
  if (impl->tokenizer && impl->tokenizer->eos_id())
    impl->eos_ids.push_back(*impl->tokenizer->eos_id());
  if (const plugin::VisionSpec* spec = impl->model->model().vision()) {
    impl->patches = core::patch_options(*spec, dir);
    if (opt.max_image_pixels > 0) {
      if (opt.max_image_pixels < impl->patches.min_pixels) {
        throw InputError(fmt::format("max_image_pixels {} is below the processor's min_pixels {}",
                                     opt.max_image_pixels, impl->patches.min_pixels));
      }
      impl->patches.max_pixels = opt.max_image_pixels;
    }
    impl->features = std::make_unique<core::FeatureCache>(opt.image_cache_bytes);
  }
  core::SessionOptions so{.context = opt.context,
                          .prefill_chunk = opt.prefill_chunk,
                          .kv_bits = opt.kv_bits,
                          .kv_group_size = opt.kv_group_size,
                          .prefix_cache = opt.prefix_cache,
                          .max_kv_size = opt.max_kv_size,
                          .cache_tokens = opt.cache_tokens,
                          .cache_dir = opt.cache_dir,
                          .cache_disk_bytes = opt.cache_disk_bytes};
  impl->rotating = opt.max_kv_size > 0;
  if (opt.context_overflow != "error" && opt.context_overflow != "truncate-middle" &&
      opt.context_overflow != "rolling")
    throw InputError(
        fmt::format("--context-overflow takes error, truncate-middle or rolling, not '{}'",
                    opt.context_overflow));
  impl->context_overflow = opt.context_overflow;
  size_to_budget(*impl, opt, so);
  if (opt.parallel > 1) {
    if (!opt.draft_model.empty()) {
      throw InputError(fmt::format(
          "speculative decoding (--draft-model) runs one sequence at a time; it cannot be "
          "combined with --parallel {}",
          opt.parallel));
    }
    impl->scheduler = std::make_unique<core::Scheduler>(
        impl->model, core::SchedulerOptions{.cache = so,
                                            .max_sequences = opt.parallel,
                                            .step_tokens = std::max(1, opt.prefill_chunk)});
    impl->context = impl->scheduler->context();
  } else {
    if (opt.parallel < 1) throw InputError(fmt::format("parallel {} must be >= 1", opt.parallel));
    impl->session = std::make_unique<core::Session>(impl->model, so);
    impl->context = impl->session->context();
  }
  if (!opt.draft_model.empty()) load_draft(*impl, path, opt, lo);
  const auto& info = impl->model->info();
  impl->desc = {path,
                impl->model->entry().model_type,
                impl->model->entry().family,
                impl->device->features().name,
                impl->model->plugin_path(),
                info.parameters,
                info.vocab_size,
                impl->context,
                impl->model->weight_bytes()};
  for (const auto& a : impl->model->adapters()) impl->desc.adapters.push_back(a.name());
  impl->desc.adapter_mode = impl->model->lora() ? "runtime" : "merged";
  impl->desc.thinking =
      impl->tokenizer && impl->tokenizer->chat_template().find("<think>") != std::string::npos;
  return std::unique_ptr<Engine>(new Engine(std::move(impl)));
}

const ModelDescription& Engine::description() const { return impl_->desc; }

int64_t Engine::fit_context(std::vector<int32_t>& ids, const Request& req, bool images) const {
  const int64_t n = int64_t(ids.size()), context = impl_->context;
  const std::string& policy = impl_->context_overflow;
  if (impl_->rotating) return 0;
  if (policy == "error" || images) {
    if (n <= context) return 0;
    throw InputError(fmt::format(
        "the prompt has {} tokens; the context is {} tokens (raise it with --context{})", n,
        context,
        images ? "; context_overflow does not cut through images"
               : ", or let --context-overflow truncate-middle|rolling fit it"));
  }
  // Room to generate: max_tokens, up to a quarter of the context.
  const int64_t room = std::clamp<int64_t>(req.max_tokens, 1, std::max<int64_t>(1, context / 4));
  const int64_t keep = std::max<int64_t>(1, context - room);
  if (n <= keep) return 0;
  std::vector<int32_t> kept;
  const auto bos = impl_->tokenizer ? impl_->tokenizer->bos_id() : std::nullopt;
  if (policy == "truncate-middle") {
    const int64_t head = keep / 2;
    kept.assign(ids.begin(), ids.begin() + head);
    kept.insert(kept.end(), ids.end() - (keep - head), ids.end());
  } else {  // rolling: the most recent tokens, behind the BOS token when the prompt has one
    const bool keep_bos = bos && ids.front() == *bos && keep > 1;
    if (keep_bos) kept.push_back(ids.front());
    kept.insert(kept.end(), ids.end() - (keep - int64_t(kept.size())), ids.end());
  }
  log::get("core")->info("context overflow ({}): the prompt's {} tokens cut to {} of {} tokens",
                         policy, n, kept.size(), context);
  ids = std::move(kept);
  return n - int64_t(ids.size());
}

MemoryReport Engine::memory() const {
  MemoryReport r = impl_->memory;
  sdk::Device& d = *impl_->device;
  r.weights_and_kv = d.weights().bytes_in_use();
  r.activations_peak = d.arena().peak_bytes_in_use();
  r.reserved = d.weights().bytes_reserved() + d.arena().bytes_reserved();
  return r;
}
bool Engine::has_tokenizer() const { return impl_->tokenizer != nullptr; }

std::string Engine::apply_chat_template(const std::vector<Message>& messages,
                                        bool add_generation_prompt) const {
  return render_chat(messages, add_generation_prompt, 0);
}

std::string Engine::render_chat(const std::vector<Message>& messages, bool add_generation_prompt,
                                size_t extra_images, const core::chat::ChatSetup* chat) const {
  if (!impl_->chat_template) {
    throw InputError(
        fmt::format("{}: the model has no chat template (chat_template.jinja or "
                    "tokenizer_config.json); use a plain prompt",
                    impl_->desc.folder));
  }
  nlohmann::ordered_json ctx;
  auto msgs = nlohmann::ordered_json::array();
  size_t last_user = messages.size();
  for (size_t i = 0; i < messages.size(); ++i)
    if (messages[i].role == "user") last_user = i;
  if (extra_images > 0 && last_user == messages.size())
    throw InputError("the request's images need a user message to belong to");
  for (size_t i = 0; i < messages.size(); ++i) {
    const auto& m = messages[i];
    size_t images = m.images.size() + (i == last_user ? extra_images : 0);
    nlohmann::ordered_json msg{{"role", m.role}};
    if (images > 0) {  // content parts, as the processors' chat templates take them
      auto parts = nlohmann::ordered_json::array();
      for (size_t k = 0; k < images; ++k) parts.push_back({{"type", "image"}});
      parts.push_back({{"type", "text"}, {"text", m.content}});
      msg["content"] = parts;
    } else {
      msg["content"] = m.content;
    }
    if (!m.tool_calls.empty()) {  // arguments as an object, as Hugging Face templates take them
      auto calls = nlohmann::ordered_json::array();
      for (const auto& c : m.tool_calls) {
        auto args = nlohmann::ordered_json::parse(c.arguments, nullptr, false);
        calls.push_back(
            {{"id", c.id},
             {"type", "function"},
             {"function",
              {{"name", c.name},
               {"arguments", args.is_discarded() ? nlohmann::ordered_json(c.arguments) : args}}}});
      }
      msg["tool_calls"] = calls;
    }
    if (!m.tool_call_id.empty()) msg["tool_call_id"] = m.tool_call_id;
    if (!m.name.empty()) msg["name"] = m.name;
    if (!m.reasoning_content.empty()) msg["reasoning_content"] = m.reasoning_content;
    msgs.push_back(std::move(msg));
  }
  // Tools described for templates that do not render them: in the system message.
  if (chat && !chat->tools_system.empty()) {
    if (!msgs.empty() && msgs[0]["role"] == "system" && msgs[0]["content"].is_string())
      msgs[0]["content"] = chat->tools_system + "\n\n" + msgs[0]["content"].get<std::string>();
    else
      msgs.insert(msgs.begin(),
                  nlohmann::ordered_json{{"role", "system"}, {"content", chat->tools_system}});
  }
  ctx["messages"] = msgs;
  ctx["add_generation_prompt"] = add_generation_prompt;
  ctx["tools"] = nullptr;
  if (chat)
    for (const auto& [k, v] : chat->variables.items()) ctx[k] = v;
  const auto& t = *impl_->tokenizer;
  ctx["bos_token"] = t.bos_token();
  ctx["eos_token"] = t.eos_token();
  for (const char* k : {"unk_token", "pad_token"}) {
    const auto& c = t.config();
    if (c.is_object() && c.contains(k) && c[k].is_string()) ctx[k] = c[k];
  }
  return impl_->chat_template->render(core::jinja::Value::from_json(ctx));
}

std::vector<int32_t> Engine::tokenize(const std::string& text, bool add_special) const {
  if (!impl_->tokenizer) throw InputError(impl_->desc.folder + ": tokenizer.json is missing");
  return impl_->tokenizer->encode(text, add_special);
}

std::string Engine::detokenize(const std::vector<int32_t>& ids) const {
  if (!impl_->tokenizer) throw InputError(impl_->desc.folder + ": tokenizer.json is missing");
  return impl_->tokenizer->decode(ids, true);
}

void Engine::cancel() {
  if (impl_->scheduler)
    impl_->scheduler->cancel_all();
  else
    impl_->cancel = true;
}

int Engine::parallel() const {
  return impl_->scheduler ? impl_->scheduler->options().max_sequences : 1;
}

EngineStats Engine::stats() const {
  if (!impl_->scheduler) return {};
  const core::SchedulerStats s = impl_->scheduler->stats();
  return {.running = s.running,
          .waiting = s.waiting,
          .kv_blocks_used = s.kv_blocks_used,
          .kv_blocks_total = s.kv_blocks_total,
          .preemptions = s.preemptions,
          .steps = s.steps,
          .shared_steps = s.shared_steps,
          .prefix_cached_blocks = s.prefix.held_blocks};
}

Result Engine::generate(const Request& req, const std::function<void(const Chunk&)>& on_chunk) {
  std::unique_lock lock(impl_->busy, std::defer_lock);
  if (!impl_->scheduler) {
    if (!lock.try_lock())
      throw InputError("the engine is already generating (one request at a time)");
    impl_->cancel = false;
  }
  const int adapter = impl_->model->adapter_index(req.adapter);
  const uint64_t adapter_key = impl_->model->adapter_key(adapter);
  int given = int(!req.messages.empty()) + int(!req.prompt.empty()) + int(!req.prompt_ids.empty());
  if (given != 1) throw InputError("a request needs exactly one of messages, prompt or prompt_ids");
  std::vector<int32_t> ids;
  std::vector<ImageInput> images = req.images;
  if (!req.messages.empty()) {  // the messages' images in order, then the request's
    std::vector<ImageInput> all;
    for (const auto& m : req.messages) all.insert(all.end(), m.images.begin(), m.images.end());
    all.insert(all.end(), req.images.begin(), req.images.end());
    images = std::move(all);
  }
  const plugin::VisionSpec* spec = impl_->model->model().vision();
  // Images are decoded before the text is tokenized: pan-and-scan crops (each an image of its
  // own, after the image they come from) change the prompt text.
  double vision_ms = 0;
  std::vector<core::Image> decoded;
  std::vector<int> crops;  // per given image
  if (!images.empty() && spec) {
    double t = core::now_ms();
    for (auto& img : decode_images(images)) {
      auto c = core::pan_and_scan(img, impl_->patches.pan_scan);
      crops.push_back(int(c.size()));
      decoded.push_back(std::move(img));
      for (auto& x : c) decoded.push_back(std::move(x));
    }
    vision_ms += core::now_ms() - t;
  }
  // Prompt text that comes with images gets the processor's expansion of the image markers.
  auto with_images = [&](const std::string& text) {
    return spec && !images.empty() && impl_->tokenizer
               ? core::expand_image_markers(text, *spec, *impl_->tokenizer, crops)
               : text;
  };
  std::optional<core::chat::ChatSetup> chat;
  if (!req.messages.empty()) {
    if (!impl_->tokenizer) throw InputError(impl_->desc.folder + ": tokenizer.json is missing");
    chat = core::chat::prepare_chat({.tools = req.tools,
                                     .tool_choice = req.tool_choice,
                                     .template_kwargs = req.chat_template_kwargs,
                                     .enable_thinking = req.enable_thinking,
                                     .think_start = req.thinking_start,
                                     .think_end = req.thinking_end},
                                    impl_->tokenizer->chat_template(), *impl_->tokenizer);
  } else if (!req.tools.empty() || !req.chat_template_kwargs.empty() || req.enable_thinking) {
    throw InputError("tools, chat_template_kwargs and enable_thinking need messages (a chat)");
  }
  if (!req.prompt_ids.empty()) {
    ids = req.prompt_ids;
  } else if (!req.messages.empty()) {
    const std::string text =
        render_chat(req.messages, req.add_generation_prompt, req.images.size(), &*chat);
    chat->reply.starts_in_thinking = core::chat::opens_thinking(text, chat->reply.think_start);
    ids = tokenize(with_images(text), false);
  } else {
    ids = tokenize(with_images(req.prompt), true);
  }
  if (ids.empty()) throw InputError("the prompt is empty");

  // Images: placeholder runs expanded, content-keyed prefix-cache keys, M-RoPE positions.
  std::optional<VisionInputs> vision;
  if (!images.empty() || (spec && std::count(ids.begin(), ids.end(), spec->image_token) > 0)) {
    if (!spec) {
      throw InputError(fmt::format("{}: the model ({}) takes no images", impl_->desc.folder,
                                   impl_->desc.model_type));
    }
    double t = core::now_ms();
    vision.emplace();
    vision->prompt =
        core::layout_images(std::move(ids), std::move(decoded), *spec, impl_->patches,
                            impl_->tokenizer ? impl_->tokenizer->bos_id() : std::nullopt);
    ids = vision->prompt.ids;
    vision_ms += core::now_ms() - t;
    // Before the tower runs: a prompt that cannot fit fails now, naming the images' share.
    if (!impl_->rotating && int64_t(ids.size()) > impl_->context) {
      int64_t image_tokens = 0;
      for (const auto& pi : vision->prompt.images) image_tokens += pi.tokens;
      throw InputError(fmt::format(
          "the prompt has {} tokens ({} of them for {} image(s)); the context is {} tokens "
          "(raise it with --context, or lower max_pixels in preprocessor_config.json)",
          ids.size(), image_tokens, vision->prompt.images.size(), impl_->context));
    }
  }

  const int64_t truncated = fit_context(ids, req, vision.has_value());

  core::GenerateParams p;
  const auto& gc = impl_->generation_config;
  const std::string gc_where = "generation_config.json";
  bool sample = json::get_or<bool>(gc, "do_sample", true, gc_where);
  p.sampling.temperature = req.sampling.temperature.value_or(
      sample ? json::get_or<float>(gc, "temperature", 1.0f, gc_where) : 0.0f);
  p.sampling.top_k = req.sampling.top_k.value_or(json::get_or<int>(gc, "top_k", 0, gc_where));
  p.sampling.top_p = req.sampling.top_p.value_or(json::get_or<float>(gc, "top_p", 1.0f, gc_where));
  p.sampling.min_p = req.sampling.min_p.value_or(json::get_or<float>(gc, "min_p", 0.0f, gc_where));
  p.sampling.repetition_penalty = req.sampling.repetition_penalty.value_or(
      json::get_or<float>(gc, "repetition_penalty", 1.0f, gc_where));
  p.sampling.presence_penalty = req.sampling.presence_penalty;
  p.sampling.frequency_penalty = req.sampling.frequency_penalty;
  p.sampling.seed = req.sampling.seed;
  for (auto [id, bias] : req.sampling.logit_bias) {
    if (id < 0 || id >= impl_->model->info().vocab_size)
      throw InputError(fmt::format("logit_bias: token id {} is outside the vocabulary [0, {})", id,
                                   impl_->model->info().vocab_size));
  }
  p.sampling.logit_bias = req.sampling.logit_bias;
  p.max_tokens = req.max_tokens;
  p.stop = req.stop;
  p.eos_ids = impl_->eos_ids;
  p.ignore_eos = req.ignore_eos;
  p.logprobs = req.logprobs;
  p.prompt_logits = req.prompt_logits;
  const std::string call_gbnf = chat ? chat->call_gbnf : std::string();
  if (!call_gbnf.empty() && (!req.grammar.empty() || !req.json_schema.empty()))
    throw InputError(
        fmt::format("tool_choice \"{}\" constrains the reply to a tool call: it "
                    "cannot be combined with a grammar or JSON schema",
                    req.tool_choice));
  if (!req.grammar.empty() || !req.json_schema.empty() || !call_gbnf.empty()) {
    if (!req.grammar.empty() && !req.json_schema.empty())
      throw InputError("a request takes a grammar or a JSON schema, not both");
    if (!impl_->tokenizer) throw InputError("constrained decoding needs the model's tokenizer");
    std::string gbnf = !call_gbnf.empty() ? call_gbnf : req.grammar;
    if (gbnf.empty()) {
      nlohmann::ordered_json schema;  // properties keep their order
      try {
        schema = nlohmann::ordered_json::parse(req.json_schema);
      } catch (const nlohmann::ordered_json::exception& e) {
        throw InputError(fmt::format("[json_schema] not valid JSON: {}", e.what()));
      }
      gbnf = core::grammar::json_schema_to_gbnf(schema);
    }
    p.grammar = std::make_shared<const core::grammar::Grammar>(
        core::grammar::Grammar::parse(gbnf, !call_gbnf.empty()    ? "tool call (as GBNF)"
                                            : req.grammar.empty() ? "json_schema (as GBNF)"
                                                                  : "grammar"));
    std::call_once(impl_->trie_once, [&] {
      impl_->trie = core::grammar::TokenTrie::from_tokenizer(*impl_->tokenizer);
    });
    p.trie = impl_->trie;
  }
  // Reasoning: the markers let the grammar wait for the end of the thinking block; a budget
  // forces the end marker.
  if (req.thinking_budget >= 0 && (!chat || chat->reply.think_end.empty()))
    throw InputError(
        "thinking_budget: the model's chat template has no thinking markers (give them with "
        "thinking_start / thinking_end)");
  if (chat && !chat->reply.think_end.empty()) {
    p.thinking.start = chat->reply.think_start;
    p.thinking.end = chat->reply.think_end;
    p.thinking.starts_inside = chat->reply.starts_in_thinking;
    p.thinking.budget = req.thinking_budget;
    if (req.thinking_budget >= 0)
      p.thinking.end_ids = impl_->tokenizer->encode("\n" + chat->reply.think_end + "\n\n");
  }
  if (impl_->draft) {
    p.draft = impl_->draft.get();
    p.draft_tokens = impl_->draft_tokens;
  }

  // Chat replies are split into reasoning, content and tool calls as they stream.
  std::optional<core::chat::ReplyParser> parser;
  if (chat) parser.emplace(chat->reply);
  std::string content, reasoning;
  std::vector<ToolCall> calls;
  auto split = [&](Chunk& c, const core::chat::ReplyDelta& d) {
    c.content = d.content;
    c.reasoning = d.reasoning;
    for (const auto& k : d.calls) c.tool_calls.push_back({k.id, k.name, k.arguments});
    content += c.content;
    reasoning += c.reasoning;
    calls.insert(calls.end(), c.tool_calls.begin(), c.tool_calls.end());
  };
  auto to_chunk = [&](const core::StreamEvent& e) {
    Chunk c{e.text, e.id, std::nullopt, {}, {}, {}};
    if (e.logprob) c.logprob = TokenInfo{e.logprob->id, e.logprob->logprob, e.logprob->top};
    if (parser)
      split(c, parser->feed(e.text));
    else
      content += c.content = e.text;
    return c;
  };
  core::GenerateResult r;
  size_t common = 0;
  if (impl_->scheduler) {
    // Continuous batching: the scheduler thread finds the cached prefix, asks for the images'
    // features and runs the sequence among the others.
    core::SequenceRequest sr;
    sr.ids = ids;
    if (vision) {
      sr.keys = vision->prompt.keys;
      sr.positions = vision->prompt.positions;
      if (!sr.positions.empty()) sr.next = vision->prompt.next;
      sr.images = [this, &vision, &vision_ms, adapter](int64_t cached) {
        double t = core::now_ms();
        vision->features.clear();
        encode_images(*impl_, *vision, cached, 0, adapter);
        vision_ms += core::now_ms() - t;
        return vision->features;
      };
    }
    sr.params = p;
    sr.adapter = adapter;
    sr.adapter_key = adapter_key;
    sr.tokenizer = impl_->tokenizer.get();
    sr.cancel = req.cancel;
    r = impl_->scheduler->generate(std::move(sr), [&](const core::StreamEvent& e) {
      Chunk c = to_chunk(e);  // the reply parser sees every step, streamed or not
      if (on_chunk) on_chunk(c);
    });
    common = size_t(r.timings.cached_tokens);
  } else {
    // Reuse the longest prefix the session holds or the prefix cache has (at least one token is
    // evaluated); logits of every prompt position need every position computed.
    core::Session& s = *impl_->session;
    s.set_adapter(adapter, adapter_key);
    if (req.prompt_logits)
      s.truncate(0);
    else if (vision)
      common = size_t(s.start(ids, vision->prompt.keys, vision->prompt.next));
    else
      common = size_t(s.start(ids));
    if (impl_->draft) impl_->draft->start(ids);  // reuses what the draft has cached
    std::span<const int32_t> rest(ids.data() + common, ids.size() - common);
    std::vector<int32_t> rest_positions;
    if (vision) {
      double t = core::now_ms();
      encode_images(*impl_, *vision, int64_t(common), int64_t(common), adapter);
      vision_ms += core::now_ms() - t;
      const auto& vp = vision->prompt;
      p.prompt_keys = std::span(vp.keys).subspan(common);
      if (!vp.positions.empty()) {
        for (size_t row = 0; row < 3; ++row) {
          auto rp = std::span(vp.positions).subspan(row * ids.size(), ids.size()).subspan(common);
          rest_positions.insert(rest_positions.end(), rp.begin(), rp.end());
        }
        p.prompt_positions = rest_positions;
      }
      p.prompt_images = vision->features;
    }
    // The request's own cancel flag is looked at after every chunk and token.
    auto poll = [&] {
      if (req.cancel && req.cancel->load()) impl_->cancel = true;
    };
    core::GenerateHooks hooks;
    hooks.cancel = &impl_->cancel;
    hooks.on_prefill = [&](int64_t done, int64_t total) {
      poll();
      if (req.on_prefill) req.on_prefill(done, total);
    };
    hooks.on_token = [&](const core::StreamEvent& e) {
      Chunk c = to_chunk(e);  // the reply parser sees every step, streamed or not
      if (on_chunk) on_chunk(c);
      poll();
    };
    poll();
    r = core::generate(s, impl_->tokenizer.get(), rest, p, hooks);
  }
  if (parser) {  // what the parser held back until the end
    Chunk last{"", -1, std::nullopt, {}, {}, {}};
    split(last, parser->finish());
    if (on_chunk && (!last.content.empty() || !last.reasoning.empty() || !last.tool_calls.empty()))
      on_chunk(last);
  }
  const int64_t computed = int64_t(ids.size() - common);
  Result out;
  out.text = std::move(r.text);
  out.content = std::move(content);
  while (!reasoning.empty() && reasoning.back() == '\n') reasoning.pop_back();
  out.reasoning = std::move(reasoning);
  out.tool_calls = std::move(calls);
  out.ids = std::move(r.ids);
  for (const auto& l : r.logprobs) out.logprobs.push_back({l.id, l.logprob, l.top});
  out.finish_reason = core::finish_reason_name(r.finish);
  if (!out.tool_calls.empty() && r.finish == core::FinishReason::stop)
    out.finish_reason = "tool_calls";
  out.prompt_logits = std::move(r.prompt_logits);
  out.prompt_tokens = int64_t(ids.size());
  out.truncated_tokens = truncated;
  out.cached_tokens = int64_t(common);
  out.generated_tokens = r.timings.generated_tokens;
  out.prompt_ms = r.timings.prompt_ms;
  out.decode_ms = r.timings.decode_ms;
  out.grammar_ms = r.timings.grammar_ms;
  out.prompt_tokens_per_s =
      r.timings.prompt_ms > 0 ? double(computed) * 1e3 / r.timings.prompt_ms : 0;
  out.decode_tokens_per_s = r.timings.decode_tps();
  out.draft_proposed = r.timings.draft_proposed;
  out.draft_accepted = r.timings.draft_accepted;
  if (vision) {
    out.images_encoded = vision->encoded;
    out.images_cached = vision->cached;
    out.vision_ms = vision_ms;
  }
  return out;
}

}  // namespace vkllm
