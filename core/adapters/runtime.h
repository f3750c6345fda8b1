#pragma once
// Adapters on a loaded model: checks that every tensor an adapter updates was loaded by the
// family, and builds the runtime table (sdk/lora.h) from the weights as they were fused.
#include <memory>
#include <vector>

#include "core/adapters/adapter.h"
#include "core/weights/weight_store.h"
#include "sdk/lora.h"
#include "sdk/vk/device.h"

namespace vkllm::core {

// Throws ModelError naming the first updated tensor the model never loaded (or, at runtime,
// loaded as something other than a matrix applied to every row).
void check_adapter_targets(const Adapter& a, const std::vector<LoadedWeight>& loaded, bool runtime);

// Adapter i of `adapters` is table index i + 1; each checked by check_adapter_targets (runtime)
// first. A fused weight gets A stacked over its parts
// ([Σr, in]) and B block-diagonal ([Σout, Σr], scales folded in; zero where a part has none);
// f32 beside f32 weights, f16 otherwise.
std::unique_ptr<sdk::LoraTable> build_lora_table(const std::vector<Adapter>& adapters,
                                                 const std::vector<LoadedWeight>& loaded,
                                                 sdk::Device& device);

}  // namespace vkllm::core
