#pragma once
// The plugin ABI. A family plugin is libvkllm-<family>.so exporting one extern "C" symbol,
// `vkllm_plugin_entry`, that returns a pointer to a static VkllmPluginDescriptor. The first two
// fields never move; the host reads abi_version first and refuses a mismatch, and accepts a
// smaller struct_size (older plugin) by treating missing fields as zero.
#include <stdint.h>

// 5: Batch over several sequences (KvStep parts, logits_rows). 6: runtime LoRA in the SDK
// (sdk::Graph carries a LoraPass, MatmulOptions::out): plugins see adapters through ops::matmul.
// 7: ModelInfo's activation and vision estimates. 8: Family::import_gguf (GGUF files as models).
// 9: llama.cpp's quantized formats as Dtypes, sdk::Tensor parts (concat_rows) and the
// five-region QuantLayout.
#define VKLLM_PLUGIN_ABI_VERSION 9u
#define VKLLM_PLUGIN_ENTRY_SYMBOL "vkllm_plugin_entry"

#ifdef __cplusplus
extern "C" {
#endif

// Capability bits a family declares (cross-checked against the registry).
enum VkllmCapability {
  VKLLM_CAP_TEXT = 1u << 0,
  VKLLM_CAP_VISION = 1u << 1,
  VKLLM_CAP_MULTI_IMAGE = 1u << 2,
  VKLLM_CAP_VIDEO = 1u << 3,
  VKLLM_CAP_SLIDING_WINDOW = 1u << 4,
  VKLLM_CAP_MROPE = 1u << 5,
  VKLLM_CAP_KV_QUANT = 1u << 6,
  VKLLM_CAP_PREFIX_CACHE = 1u << 7,
  VKLLM_CAP_SPECULATIVE = 1u << 8,
};

typedef struct VkllmPluginDescriptor {
  uint32_t abi_version;            // VKLLM_PLUGIN_ABI_VERSION
  uint32_t struct_size;            // sizeof(VkllmPluginDescriptor) as the plugin was built
  const char* sdk_version;         // VKLLM_SDK_VERSION the plugin was built against
  const char* family;              // "llama"
  const char* const* model_types;  // null-terminated list of config.json model_type values
  uint64_t capabilities;           // VkllmCapability bits
  uint32_t max_images;             // per prompt; 0 for text families
  uint32_t max_image_pixels;       // 0: no limit of the family's own
  // Creates the family object: a vkllm::plugin::Family* (C++, same SDK version). Must not throw.
  void* (*create_family)(void);
  void (*destroy_family)(void* family);
} VkllmPluginDescriptor;

typedef const VkllmPluginDescriptor* (*VkllmPluginEntryFn)(void);

#ifdef __cplusplus
}
#endif

// Defines the entry point of a plugin whose family class is `FamilyClass` (default
// constructible). Use once, in the plugin's plugin.cpp.
#define VKLLM_DEFINE_PLUGIN(FamilyClass, family_name, capability_bits, ...)                  \
  namespace {                                                                                \
  const char* const vkllm_model_types_[] = {__VA_ARGS__, nullptr};                           \
  void* vkllm_create_() noexcept {                                                           \
    try {                                                                                    \
      return static_cast<::vkllm::plugin::Family*>(new FamilyClass());                       \
    } catch (...) {                                                                          \
      return nullptr;                                                                        \
    }                                                                                        \
  }                                                                                          \
  void vkllm_destroy_(void* f) noexcept { delete static_cast<::vkllm::plugin::Family*>(f); } \
  const VkllmPluginDescriptor vkllm_descriptor_ = {VKLLM_PLUGIN_ABI_VERSION,                 \
                                                   sizeof(VkllmPluginDescriptor),            \
                                                   VKLLM_SDK_VERSION,                        \
                                                   family_name,                              \
                                                   vkllm_model_types_,                       \
                                                   (capability_bits),                        \
                                                   0,                                        \
                                                   0,                                        \
                                                   vkllm_create_,                            \
                                                   vkllm_destroy_};                          \
  }                                                                                          \
  extern "C" __attribute__((visibility("default"))) const VkllmPluginDescriptor*             \
  vkllm_plugin_entry() noexcept {                                                            \
    return &vkllm_descriptor_;                                                               \
  }
