#pragma once
// Rotary position embeddings: plain (1 position row), M-RoPE (temporal/height/width sections)
// and 2-D vision RoPE, interleaved (GPT-J) or half-split (GPT-NeoX) pairs.
#include <array>
#include <vector>

#include "sdk/tensor.h"
#include "sdk/vk/graph.h"

namespace vkllm::ops {

using sdk::Graph;
using sdk::Tensor;

struct RopeOptions {
  bool interleaved = false;  // pairs (2i, 2i+1); false: (i, i + rot/2) as in HF rotate_half
  int rot_dim = 0;           // rotated dims (0: all of head_dim)
  // Pair indexes where the next position row starts: M-RoPE's cumulative mrope_section
  // ({16, 40} for sections [16, 24, 24]); empty for a single row.
  std::vector<int> sections;
  float mscale = 1.0f;  // multiplies cos and sin (YaRN)
};

// x: f32 [T, H, D] (may be a strided view, e.g. heads of a fused QKV projection);
// positions: i32 [rows, T] (rows = sections.size() + 1) or [T];
// inv_freq: f32 [rot_dim / 2], the inverse frequency of each pair (scaling applied).
// Returns contiguous f32 [T, H, D].
Tensor rope(Graph& g, const Tensor& x, const Tensor& positions, const Tensor& inv_freq,
            const RopeOptions& opt = {});

// Host helpers for inv_freq tables.
// theta^(-2i/dim) for i < dim/2.
std::vector<float> rope_inv_freq(double theta, int dim);

}  // namespace vkllm::ops
