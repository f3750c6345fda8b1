#pragma once
// Device memory a model needs for a context, from what its family reports (no weights are
// read): the weights, the KV cache as KvCache sizes it, the temporaries of the widest forward
// pass and the vision feature cache. And the fit of a request into a byte budget: the largest
// KV capacity, KV width or context that fits, saying what changed.
#include <cstdint>
#include <string>

#include "core/model.h"
#include "core/session.h"
#include "sdk/plugin_api/family.h"

namespace vkllm::core {

struct MemoryEstimate {
  int64_t context = 0, cache_tokens = 0;  // the context, and the KV capacity in tokens
  int kv_bits = 16;
  uint64_t weights = 0, kv = 0, activations = 0, image_cache = 0;
  // The activations are the larger of a text pass's and (vision models) an image encode's.
  uint64_t text_activations = 0, image_activations = 0;
  uint64_t total() const { return weights + kv + activations + image_cache; }
};

struct MemoryRequest {
  const plugin::ModelInfo* info = nullptr;
  const plugin::VisionSpec* vision = nullptr;  // null: a text model, or not loaded
  uint64_t weight_bytes = 0;                   // on the device, as loaded
  SessionOptions session;                      // context 0: the model's default
  int max_sequences = 1;                       // sequences batched together
  uint64_t image_cache_bytes = 0;              // vision models: the feature cache's budget
  int64_t image_patches = 0;  // vision models: the most patches one image encode may have
};

MemoryEstimate estimate_memory(const MemoryRequest& r);

// The request for a model folder that is not loaded (vkllm inspect): the weights from the
// checkpoint's headers, the image encode from the processor settings in the folder.
// `summary` must outlive the request.
MemoryRequest folder_request(const ModelSummary& summary, const std::string& folder,
                             const SessionOptions& session, int max_sequences,
                             uint64_t image_cache_bytes);

struct MemoryFit {
  SessionOptions session;   // the request's, with what had to change
  MemoryEstimate asked;     // of the request as it came
  MemoryEstimate estimate;  // of `session`
  std::string changes;      // empty when the request fits as asked
};

// Fits the request into `budget` bytes: the prefix cache's spare capacity goes first, then
// (allow_kv_bits) the KV cache narrows to 8 and 4 bits, then the context shrinks (in whole
// blocks). DeviceError with the numbers when not even a context of min_context fits.
MemoryFit fit_memory(const MemoryRequest& r, uint64_t budget, bool allow_kv_bits,
                     int64_t min_context = 256);

// The default budget of a device: 90% of its largest device-local heap (of the system memory
// for a CPU driver).
uint64_t default_memory_budget(const sdk::DeviceFeatures& device);

}  // namespace vkllm::core
