/* Embedding vkllm through its C API.
 *   example_generate_c <model dir> <prompt> */
#include <stdio.h>
#include <string.h>
#include <vkllm/vkllm.h>

static int32_t on_token(const char* text, int32_t id, void* user) {
  (void)id;
  ++*(int*)user;
  fputs(text, stdout);
  return 0;
}

static void on_progress(int64_t done, int64_t total, void* user) {
  (void)done;
  (void)total;
  ++*(int64_t*)user;
}

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: %s <model dir> <prompt>\n", argv[0]);
    return 2;
  }
  vkllm_engine* engine = NULL;
  vkllm_engine_options o;
  vkllm_engine_options_default(&o);
  o.kv_bits = 8; /* an 8-bit KV cache: half the memory of f16 */
  if (vkllm_engine_load_ex(argv[1], &o, &engine) != VKLLM_OK) {
    fprintf(stderr, "load failed: %s\n", vkllm_last_error());
    return 1;
  }
  vkllm_sampling s;
  vkllm_sampling_default(&s);
  s.temperature = 0.0f;
  s.max_tokens = 24;
  int tokens = 0;
  char* text = NULL;
  vkllm_status st = vkllm_engine_generate(engine, argv[2], 0, &s, on_token, &tokens, &text);
  printf("\n");
  if (st != VKLLM_OK) fprintf(stderr, "generate failed: %s\n", vkllm_last_error());
  vkllm_string_free(text);
  /* A second request with the same prompt reuses its cached prefix; progress is reported. */
  int64_t progress_calls = 0;
  vkllm_engine_set_prefill_progress(engine, on_progress, &progress_calls);
  vkllm_stats stats;
  if (st == VKLLM_OK) st = vkllm_engine_generate(engine, argv[2], 0, &s, NULL, NULL, NULL);
  if (st == VKLLM_OK) st = vkllm_engine_last_stats(engine, &stats);
  if (st == VKLLM_OK) {
    fprintf(stderr, "second request: %lld of %lld prompt tokens cached, %lld progress calls\n",
            (long long)stats.cached_tokens, (long long)stats.prompt_tokens,
            (long long)progress_calls);
    if (stats.cached_tokens + 1 != stats.prompt_tokens || progress_calls < 1) return 1;
  }
  /* Constrained output: the reply is one of the grammar's sentences. */
  if (st == VKLLM_OK) {
    vkllm_engine_set_constraint(engine, "root ::= (\"yes\" | \"no\") \".\"", NULL);
    st = vkllm_engine_generate(engine, argv[2], 0, &s, NULL, NULL, &text);
    if (st == VKLLM_OK && strcmp(text, "yes.") != 0 && strcmp(text, "no.") != 0) {
      fprintf(stderr, "constrained reply '%s' is not yes. or no.\n", text);
      st = VKLLM_ERROR_INTERNAL;
    }
    vkllm_string_free(text);
    vkllm_engine_set_constraint(engine, NULL, NULL);
  }
  /* A bad call reports an error instead of crashing. */
  vkllm_engine* none = NULL;
  if (vkllm_engine_load("/nonexistent", NULL, 0, &none) == VKLLM_OK ||
      vkllm_last_error()[0] == '\0')
    return 1;
  o.struct_size = 8; /* a caller built against another header is refused */
  if (vkllm_engine_load_ex(argv[1], &o, &none) == VKLLM_OK) return 1;
  vkllm_engine_free(engine);
  return st == VKLLM_OK && tokens > 0 ? 0 : 1;
}
