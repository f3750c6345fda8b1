// The C API over vkllm::Engine: every entry point catches everything and reports a status;
// the message is kept per thread for vkllm_last_error().
#include <fmt/format.h>

#include <cstdlib>
#include <cstring>
#include <new>
#include <string>

#include "sdk/base/error.h"
#include "vkllm/engine.h"
#include "vkllm/vkllm.h"

struct vkllm_engine {
  std::unique_ptr<vkllm::Engine> engine;
  vkllm_progress_fn progress = nullptr;
  void* progress_user = nullptr;
  std::string grammar, json_schema;  // constraints of later generate calls
  std::string adapter;               // the adapter of later generate calls
  vkllm::Result last;
};

namespace {
thread_local std::string g_last_error;

template <class F>
vkllm_status guarded(F&& f) {
  try {
    f();
    g_last_error.clear();
    return VKLLM_OK;
  } catch (const vkllm::Cancelled& e) {
    g_last_error = e.what();
    return VKLLM_ERROR_CANCELLED;
  } catch (const vkllm::InputError& e) {
    g_last_error = e.what();
    return VKLLM_ERROR_INPUT;
  } catch (const vkllm::ModelError& e) {
    g_last_error = e.what();
    return VKLLM_ERROR_MODEL;
  } catch (const vkllm::PluginError& e) {
    g_last_error = e.what();
    return VKLLM_ERROR_PLUGIN;
  } catch (const vkllm::DeviceError& e) {
    g_last_error = e.what();
    return VKLLM_ERROR_DEVICE;
  } catch (const std::bad_alloc&) {
    g_last_error = "out of memory";
    return VKLLM_ERROR_INTERNAL;
  } catch (const std::exception& e) {
    g_last_error = e.what();
    return VKLLM_ERROR_INTERNAL;
  } catch (...) {
    g_last_error = "unknown error";
    return VKLLM_ERROR_INTERNAL;
  }
}

char* dup(const std::string& s) {
  char* p = static_cast<char*>(std::malloc(s.size() + 1));
  if (!p) throw std::bad_alloc();
  std::memcpy(p, s.c_str(), s.size() + 1);
  return p;
}
}  // namespace

extern "C" {

void vkllm_sampling_default(vkllm_sampling* s) {
  if (!s) return;
  *s = vkllm_sampling{-1.0f, -1, -1.0f, -1.0f, -1.0f, 256, 0, 0};
}

vkllm_status vkllm_engine_load(const char* model_dir, const char* quantize, int64_t context,
                               vkllm_engine** out) {
  return guarded([&] {
    if (!model_dir || !out)
      throw vkllm::InputError("vkllm_engine_load: model_dir and out are required");
    *out = nullptr;
    vkllm::EngineOptions o;
    if (quantize) o.quantize = quantize;
    o.context = context;
    auto e = std::make_unique<vkllm_engine>();
    e->engine = vkllm::Engine::load(model_dir, o);
    *out = e.release();
  });
}

void vkllm_engine_options_default(vkllm_engine_options* o) {
  if (!o) return;
  *o = vkllm_engine_options{sizeof(vkllm_engine_options),
                            nullptr,
                            0,
                            512,
                            16,
                            32,
                            1,
                            0,
                            0,
                            nullptr,
                            nullptr,
                            4,
                            uint64_t(256) << 20,
                            0,
                            nullptr,
                            0,
                            1.0f,
                            nullptr,
                            nullptr,
                            uint64_t(8) << 30,
                            0,
                            0,
                            nullptr};
}

vkllm_status vkllm_engine_load_ex(const char* model_dir, const vkllm_engine_options* options,
                                  vkllm_engine** out) {
  return guarded([&] {
    if (!model_dir || !options || !out)
      throw vkllm::InputError("vkllm_engine_load_ex: model_dir, options and out are required");
    if (options->struct_size != sizeof(vkllm_engine_options))
      throw vkllm::InputError(fmt::format(
          "vkllm_engine_load_ex: options.struct_size is {}, this library expects {} (built "
          "against another vkllm.h?)",
          options->struct_size, sizeof(vkllm_engine_options)));
    *out = nullptr;
    vkllm::EngineOptions o;
    if (options->quantize) o.quantize = options->quantize;
    o.context = options->context;
    o.prefill_chunk = options->prefill_chunk;
    o.kv_bits = options->kv_bits;
    o.kv_group_size = options->kv_group_size;
    o.prefix_cache = options->prefix_cache != 0;
    o.cache_tokens = options->cache_tokens;
    o.max_kv_size = options->max_kv_size;
    if (options->draft_model) o.draft_model = options->draft_model;
    if (options->draft_quantize) o.draft_quantize = options->draft_quantize;
    o.draft_tokens = options->draft_tokens;
    o.image_cache_bytes = options->image_cache_bytes;
    o.max_image_pixels = options->max_image_pixels;
    if (options->n_adapters > 0 && !options->adapters)
      throw vkllm::InputError("vkllm_engine_load_ex: n_adapters without adapters");
    for (size_t i = 0; i < options->n_adapters; ++i) {
      if (!options->adapters[i]) throw vkllm::InputError("vkllm_engine_load_ex: a null adapter");
      o.adapters.push_back(options->adapters[i]);
    }
    o.adapter_scale = options->adapter_scale;
    if (options->adapter_mode) o.adapter_mode = options->adapter_mode;
    if (options->cache_dir) o.cache_dir = options->cache_dir;
    o.cache_disk_bytes = options->cache_disk_bytes;
    o.memory_budget = options->memory_budget;
    o.fit_kv_bits = options->fit_kv_bits != 0;
    if (options->context_overflow) o.context_overflow = options->context_overflow;
    auto e = std::make_unique<vkllm_engine>();
    e->engine = vkllm::Engine::load(model_dir, o);
    *out = e.release();
  });
}

void vkllm_engine_free(vkllm_engine* engine) { delete engine; }

vkllm_status vkllm_engine_generate(vkllm_engine* engine, const char* prompt,
                                   int32_t use_chat_template, const vkllm_sampling* sampling,
                                   vkllm_token_fn on_token, void* user, char** out_text) {
  return vkllm_engine_generate_images(engine, prompt, use_chat_template, nullptr, 0, sampling,
                                      on_token, user, out_text);
}

vkllm_status vkllm_engine_generate_images(vkllm_engine* engine, const char* prompt,
                                          int32_t use_chat_template, const char* const* images,
                                          size_t n_images, const vkllm_sampling* sampling,
                                          vkllm_token_fn on_token, void* user, char** out_text) {
  return guarded([&] {
    if (!engine || !prompt)
      throw vkllm::InputError("vkllm_engine_generate: engine and prompt are required");
    if (n_images > 0 && !images)
      throw vkllm::InputError("vkllm_engine_generate_images: images is NULL");
    if (out_text) *out_text = nullptr;
    vkllm::Request r;
    if (use_chat_template)
      r.messages = {{"user", prompt, {}}};
    else
      r.prompt = prompt;
    for (size_t i = 0; i < n_images; ++i) {
      if (!images[i])
        throw vkllm::InputError(fmt::format("vkllm_engine_generate_images: image {} is NULL", i));
      r.images.push_back({images[i], {}});
    }
    vkllm_sampling s;
    vkllm_sampling_default(&s);
    if (sampling) s = *sampling;
    if (s.temperature >= 0) r.sampling.temperature = s.temperature;
    if (s.top_k >= 0) r.sampling.top_k = s.top_k;
    if (s.top_p >= 0) r.sampling.top_p = s.top_p;
    if (s.min_p >= 0) r.sampling.min_p = s.min_p;
    if (s.repetition_penalty >= 0) r.sampling.repetition_penalty = s.repetition_penalty;
    if (s.has_seed) r.sampling.seed = s.seed;
    r.max_tokens = s.max_tokens;
    r.adapter = engine->adapter;
    r.grammar = engine->grammar;
    r.json_schema = engine->json_schema;
    if (engine->progress) {
      r.on_prefill = [engine](int64_t done, int64_t total) {
        engine->progress(done, total, engine->progress_user);
      };
    }
    auto res = engine->engine->generate(r, [&](const vkllm::Chunk& c) {
      if (on_token && on_token(c.text.c_str(), c.id, user) != 0) engine->engine->cancel();
    });
    if (out_text) *out_text = dup(res.text);
    engine->last = std::move(res);
  });
}

void vkllm_engine_set_prefill_progress(vkllm_engine* engine, vkllm_progress_fn fn, void* user) {
  if (!engine) return;
  engine->progress = fn;
  engine->progress_user = user;
}

void vkllm_engine_set_adapter(vkllm_engine* engine, const char* name) {
  if (engine) engine->adapter = name ? name : "";
}

void vkllm_engine_set_constraint(vkllm_engine* engine, const char* gbnf, const char* json_schema) {
  if (!engine) return;
  engine->grammar = gbnf ? gbnf : "";
  engine->json_schema = json_schema ? json_schema : "";
}

vkllm_status vkllm_engine_last_stats(vkllm_engine* engine, vkllm_stats* out) {
  return guarded([&] {
    if (!engine || !out) throw vkllm::InputError("vkllm_engine_last_stats: null argument");
    const auto& r = engine->last;
    *out = vkllm_stats{r.prompt_tokens,       r.cached_tokens,        r.generated_tokens,
                       r.draft_proposed,      r.draft_accepted,       r.prompt_tokens_per_s,
                       r.decode_tokens_per_s, r.finish_reason.c_str()};
  });
}

void vkllm_engine_cancel(vkllm_engine* engine) {
  if (engine) engine->engine->cancel();
}

vkllm_status vkllm_engine_last_image_stats(vkllm_engine* engine, int64_t* encoded, int64_t* cached,
                                           double* vision_ms) {
  return guarded([&] {
    if (!engine) throw vkllm::InputError("vkllm_engine_last_image_stats: engine is NULL");
    if (encoded) *encoded = engine->last.images_encoded;
    if (cached) *cached = engine->last.images_cached;
    if (vision_ms) *vision_ms = engine->last.vision_ms;
  });
}

vkllm_status vkllm_engine_tokenize(vkllm_engine* engine, const char* text, int32_t add_special,
                                   int32_t** out_ids, size_t* out_count) {
  return guarded([&] {
    if (!engine || !text || !out_ids || !out_count)
      throw vkllm::InputError("vkllm_engine_tokenize: null argument");
    auto ids = engine->engine->tokenize(text, add_special != 0);
    auto* p = static_cast<int32_t*>(std::malloc(std::max<size_t>(ids.size(), 1) * sizeof(int32_t)));
    if (!p) throw std::bad_alloc();
    std::memcpy(p, ids.data(), ids.size() * sizeof(int32_t));
    *out_ids = p;
    *out_count = ids.size();
  });
}

void vkllm_string_free(char* s) { std::free(s); }
void vkllm_ids_free(int32_t* ids) { std::free(ids); }
const char* vkllm_last_error(void) { return g_last_error.c_str(); }
const char* vkllm_version(void) { return VKLLM_SDK_VERSION; }

}  // extern "C"
