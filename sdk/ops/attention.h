#pragma once
// Attention (flash style, online softmax; no score matrix) over the paged KV cache or over
// dense key/value tensors, and the cache write.
#include "sdk/kv_cache.h"
#include "sdk/tensor.h"
#include "sdk/vk/graph.h"

namespace vkllm::ops {

using sdk::Graph;
using sdk::Tensor;

struct AttentionOptions {
  float scale = 1.0f;    // usually head_dim^-0.5 (query_pre_attn_scalar^-0.5 for Gemma)
  float softcap = 0.0f;  // > 0: scores become softcap * tanh(score / softcap)
  bool causal = true;
  int window = 0;  // > 0: keys at least `window` positions behind the query are hidden
  // Spans of sequence indexes, i32 [n, 2] ([start, end) per row), e.g. the tokens of each image.
  const Tensor* spans = nullptr;
  bool bidirectional_spans = false;  // with causal: a query in a span sees the whole span
  bool restrict_to_spans = false;    // keys only from the query's own span (vision windows)
};

// Writes this step's keys and values (f32 [n, kv_heads, head_dim] views) into the cache.
void kv_write(Graph& g, const sdk::KvLayerView& kv, const Tensor& k, const Tensor& v);

// q: f32 [T, Hq, D] (heads contiguous, strides multiples of 4); qpos: i32 [T], the sequence
// index of each query. Keys are the cache's tokens 0 .. kv_len-1; the layer's window applies
// unless opt.window overrides it. Returns f32 [T, Hq, D].
Tensor attention(Graph& g, const Tensor& q, const sdk::KvLayerView& kv, const Tensor& qpos,
                 const AttentionOptions& opt);

// Same over dense keys and values f32 [Tk, Hkv, D] (key j has sequence index j).
Tensor attention_dense(Graph& g, const Tensor& q, const Tensor& k, const Tensor& v,
                       const Tensor& qpos, const AttentionOptions& opt);

}  // namespace vkllm::ops
