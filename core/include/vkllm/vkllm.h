/* vkllm's C API: opaque handles, sized integers, a status code per call and
 * vkllm_last_error() (per thread) for the message. No call lets a C++ exception escape. */
#ifndef VKLLM_H
#define VKLLM_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum vkllm_status {
  VKLLM_OK = 0,
  VKLLM_ERROR_INPUT = 1,  /* bad request, prompt, file or argument */
  VKLLM_ERROR_MODEL = 2,  /* the model folder cannot be loaded */
  VKLLM_ERROR_PLUGIN = 3, /* no usable plugin for the model */
  VKLLM_ERROR_DEVICE = 4, /* Vulkan or device memory */
  VKLLM_ERROR_CANCELLED = 5,
  VKLLM_ERROR_INTERNAL = 6
} vkllm_status;

typedef struct vkllm_engine vkllm_engine;

typedef struct vkllm_sampling {
  float temperature;        /* < 0: the model's default; 0: greedy */
  int32_t top_k;            /* < 0: default; 0: off */
  float top_p;              /* < 0: default */
  float min_p;              /* < 0: default */
  float repetition_penalty; /* < 0: default */
  int32_t max_tokens;
  int32_t has_seed;
  uint64_t seed;
} vkllm_sampling;

/* Returns nonzero to stop generation. token_id is -1 for a final flush of held-back text. */
typedef int32_t (*vkllm_token_fn)(const char* text, int32_t token_id, void* user);

void vkllm_sampling_default(vkllm_sampling* s);
/* quantize: NULL, "q8_0" or "q4_0"; context: 0 for the default. */
vkllm_status vkllm_engine_load(const char* model_dir, const char* quantize, int64_t context,
                               vkllm_engine** out);
/* Every load option; set struct_size = sizeof(vkllm_engine_options) and start from
 * vkllm_engine_options_default(). */
typedef struct vkllm_engine_options {
  size_t struct_size;
  const char* quantize;    /* NULL, "q8_0" or "q4_0" */
  int64_t context;         /* 0: min(model maximum, 4096) */
  int32_t prefill_chunk;   /* tokens per forward pass during prefill */
  int32_t kv_bits;         /* KV cache: 16 (f16), 8 or 4 bits per value */
  int32_t kv_group_size;   /* values per scale of a quantized KV cache */
  int32_t prefix_cache;    /* nonzero: reuse KV blocks of earlier prompts (default 1) */
  int64_t cache_tokens;    /* KV capacity in tokens (0: twice the context with the prefix cache) */
  int64_t max_kv_size;     /* > 0: keep 4 sink tokens + the most recent, this many in all */
  const char* draft_model; /* NULL, or a smaller model with the same tokenizer (speculative) */
  const char* draft_quantize; /* NULL, "q8_0" or "q4_0" */
  int32_t draft_tokens;       /* tokens the draft proposes per step */
  uint64_t image_cache_bytes; /* vision models: feature cache budget (default 256 MiB; 0: off) */
  int64_t max_image_pixels;   /* vision models: > 0 caps the resized image (default 0) */
  /* LoRA adapters: "DIR" or "NAME=DIR" (PEFT or MLX folders), n_adapters of them; adapter_mode
   * "merged" (one adapter folded into the weights) or "runtime" (the base kept, every adapter
   * selectable per call with vkllm_engine_set_adapter); NULL: merged for one unnamed adapter,
   * runtime otherwise. */
  const char* const* adapters;
  size_t n_adapters;
  float adapter_scale; /* multiplies each adapter's own scale (default 1) */
  const char* adapter_mode;
  /* The prefix cache's disk tier: NULL, or a folder KV blocks are also written to and read back
   * from (across restarts), within cache_disk_bytes (default 8 GiB). */
  const char* cache_dir;
  uint64_t cache_disk_bytes;
  /* Device memory to use (0: 90% of the device's): a context that does not fit shrinks to the
   * largest that does (fit_kv_bits nonzero: narrowing the KV cache first). */
  uint64_t memory_budget;
  int32_t fit_kv_bits;
  /* NULL or "error", "truncate-middle", "rolling": a prompt longer than the context. */
  const char* context_overflow;
} vkllm_engine_options;
void vkllm_engine_options_default(vkllm_engine_options* o);
vkllm_status vkllm_engine_load_ex(const char* model_dir, const vkllm_engine_options* options,
                                  vkllm_engine** out);
void vkllm_engine_free(vkllm_engine* engine);
/* Generates from a prompt: with use_chat_template the prompt is one user message. The full
 * text is returned in *out_text (free with vkllm_string_free) when out_text is not NULL. */
vkllm_status vkllm_engine_generate(vkllm_engine* engine, const char* prompt,
                                   int32_t use_chat_template, const vkllm_sampling* sampling,
                                   vkllm_token_fn on_token, void* user, char** out_text);
/* The same for vision models with images: file paths or data: URLs, in the order of their
 * placeholders; with the chat template they are image parts of the user message, otherwise
 * a prompt without placeholders gets one per image at its start. */
vkllm_status vkllm_engine_generate_images(vkllm_engine* engine, const char* prompt,
                                          int32_t use_chat_template, const char* const* images,
                                          size_t n_images, const vkllm_sampling* sampling,
                                          vkllm_token_fn on_token, void* user, char** out_text);
void vkllm_engine_cancel(vkllm_engine* engine);
/* Called after each prefill chunk of later generate calls with (processed, total) prompt tokens;
 * NULL removes it. */
typedef void (*vkllm_progress_fn)(int64_t done, int64_t total, void* user);
void vkllm_engine_set_prefill_progress(vkllm_engine* engine, vkllm_progress_fn fn, void* user);
/* Constrains the output of later generate calls: a GBNF grammar (llama.cpp's format) or a JSON
 * Schema as JSON text (at most one non-NULL; both NULL: unconstrained). The texts are copied. */
void vkllm_engine_set_constraint(vkllm_engine* engine, const char* gbnf, const char* json_schema);
/* The adapter of later generate calls (runtime mode): a NAME given at load, or NULL / "" for
 * the unnamed one (or the base). Unknown names fail at the next generate call. */
void vkllm_engine_set_adapter(vkllm_engine* engine, const char* name);
/* Figures of the last generate call. */
typedef struct vkllm_stats {
  int64_t prompt_tokens, cached_tokens, generated_tokens;
  int64_t draft_proposed, draft_accepted;
  double prompt_tokens_per_s, decode_tokens_per_s;
  const char* finish_reason; /* "stop", "length" or "cancelled"; owned by the engine */
} vkllm_stats;
vkllm_status vkllm_engine_last_stats(vkllm_engine* engine, vkllm_stats* out);
/* Images of the last generate call: vision tower runs, feature-cache hits, milliseconds spent
 * on decoding, preprocessing and encoding them. Any pointer may be NULL. */
vkllm_status vkllm_engine_last_image_stats(vkllm_engine* engine, int64_t* encoded, int64_t* cached,
                                           double* vision_ms);
vkllm_status vkllm_engine_tokenize(vkllm_engine* engine, const char* text, int32_t add_special,
                                   int32_t** out_ids, size_t* out_count);
void vkllm_string_free(char* s);
void vkllm_ids_free(int32_t* ids);
const char* vkllm_last_error(void);
const char* vkllm_version(void);

#ifdef __cplusplus
}
#endif

#endif /* VKLLM_H */
