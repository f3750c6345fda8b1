#pragma once
#include <vulkan/vulkan.h>

#include <string>

namespace vkllm::sdk {

const char* vk_result_string(VkResult r);
// Throws DeviceError "<call>: <result>" when r is not VK_SUCCESS.
void vk_check(VkResult r, const char* call);

}  // namespace vkllm::sdk

#define VK_CHECK(call) ::vkllm::sdk::vk_check((call), #call)

namespace vkllm::sdk {
// A zero-initialised Vulkan struct with its sType set.
template <class T>
T vk_struct(VkStructureType type) {
  T s{};
  s.sType = type;
  return s;
}
}  // namespace vkllm::sdk
