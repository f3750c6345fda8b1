#pragma once
// Rotary inverse frequencies for the rope_scaling schemes of Hugging Face configs (default,
// linear, dynamic NTK, llama3, YaRN), computed on the host as transformers'
// ROPE_INIT_FUNCTIONS do. Shared by every family.
#include <nlohmann/json.hpp>

#include <vector>

namespace vkllm::nn {

struct RopeTable {
  std::vector<float> inv_freq;  // [rot_dim / 2]
  float mscale = 1.0f;          // attention factor applied to cos/sin (YaRN)
};

struct RopeParams {
  double theta = 10000.0;
  int rot_dim = 0;              // rotated dims (head_dim * partial_rotary_factor)
  int64_t max_position = 2048;  // max_position_embeddings
  nlohmann::json scaling;       // config.rope_scaling (null for none)
};

// seq_len matters only for "dynamic" scaling (NTK), which grows the base past max_position.
// Throws ModelError for an unknown rope_type.
RopeTable rope_table(const RopeParams& p, int64_t seq_len = 0);
// Whether the table depends on the sequence length (dynamic scaling).
bool rope_is_dynamic(const RopeParams& p);

}  // namespace vkllm::nn
