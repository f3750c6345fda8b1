// Plugins that are wrong on purpose, one per compile definition, to test the host's errors:
// BAD_NO_ENTRY (no entry symbol), BAD_ABI (ABI 999), BAD_SDK (another SDK version),
// BAD_FACTORY (the factory fails), DUP_FAMILY=<name> (a valid plugin claiming "dupe_type").
#include "sdk/plugin_api/descriptor.h"
#include "sdk/plugin_api/family.h"

namespace {
const char* const kTypes[] = {"dupe_type", nullptr};
const char* const kOwnTypes[] = {"bad_type", nullptr};
void* create() noexcept {
#ifdef BAD_FACTORY
  return nullptr;
#else
  return nullptr;  // never created in the tests
#endif
}
void destroy(void*) noexcept {}
#ifdef DUP_FAMILY
constexpr const char* kFamily = DUP_FAMILY;
const char* const* kModelTypes = kTypes;
#else
constexpr const char* kFamily = "bad";
const char* const* kModelTypes = kOwnTypes;
#endif
#ifdef BAD_ABI
constexpr uint32_t kAbi = 999;
#else
constexpr uint32_t kAbi = VKLLM_PLUGIN_ABI_VERSION;
#endif
#ifdef BAD_SDK
constexpr const char* kSdk = "0.0.0-other";
#else
constexpr const char* kSdk = VKLLM_SDK_VERSION;
#endif
const VkllmPluginDescriptor kDescriptor = {
    kAbi,   sizeof(VkllmPluginDescriptor), kSdk, kFamily, kModelTypes, VKLLM_CAP_TEXT, 0, 0, create,
    destroy};
}  // namespace

#ifndef BAD_NO_ENTRY
extern "C" __attribute__((visibility("default"))) const VkllmPluginDescriptor*
vkllm_plugin_entry() noexcept {
  return &kDescriptor;
}
#else
extern "C" __attribute__((visibility("default"))) int some_other_symbol() {
  return kDescriptor.abi_version;
}
#endif
