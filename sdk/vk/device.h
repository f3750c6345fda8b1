#pragma once
// The Vulkan device: instance, physical-device choice, feature probe, queue, and the pools and
// pipeline cache that every tensor and op on it shares.
#include <vulkan/vulkan.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "sdk/base/options.h"

namespace vkllm::sdk {

class MemoryPool;
class Pipelines;

struct DeviceFeatures {
  uint32_t index = 0;
  std::string name;
  std::string type;  // discrete, integrated, virtual, cpu, other
  std::string driver;
  uint32_t vendor_id = 0, device_id = 0;
  uint32_t api_version = 0;
  bool fp16_arith = false;
  bool storage16 = false;
  bool storage8 = false;
  bool int8_arith = false;
  bool int_dot = false;  // VK_KHR_shader_integer_dot_product
  bool int_dot_accelerated = false;
  uint32_t subgroup_size = 0;
  bool subgroup_arith = false;
  bool subgroup_shuffle = false;
  bool subgroup_size_control = false;
  uint32_t shared_memory_bytes = 0;
  uint32_t max_workgroup_invocations = 0;
  uint64_t max_storage_buffer_range = 0;
  uint64_t max_texel_buffer_elements = 0;
  uint64_t max_allocation_bytes = 0;
  uint64_t device_local_heap_bytes = 0;
  bool unified_memory = false;  // a device-local memory type is also host-visible
  bool cooperative_matrix = false;
  bool push_descriptor = false;
  bool buffer_device_address = false;
  uint32_t min_storage_offset_alignment = 16;
  uint32_t min_texel_offset_alignment = 16;
  uint32_t max_push_constants_bytes = 128;
  double timestamp_period_ns = 1.0;
};

// Lists every Vulkan device the loader reports. Throws DeviceError when Vulkan itself is
// unavailable or reports no device (naming the Debian package for the CPU driver).
std::vector<DeviceFeatures> list_devices();

// The index Device::create would pick among `devices` for `options` (VKLLM_DEVICE, else the
// best type). Throws DeviceError naming the devices when the selection matches none.
uint32_t choose_device(const std::vector<DeviceFeatures>& devices, const DeviceOptions& options);

class Device : public std::enable_shared_from_this<Device> {
 public:
  static std::shared_ptr<Device> create(const DeviceOptions& options = DeviceOptions::from_env());
  ~Device();
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  const DeviceFeatures& features() const { return features_; }
  const DeviceOptions& options() const { return options_; }
  KernelClass kernel_class() const { return kernel_class_; }
  bool use_push_descriptors() const { return push_descriptors_; }
  bool host_visible_weights() const { return host_visible_device_local_; }

  VkDevice vk() const { return device_; }
  VkPhysicalDevice physical() const { return physical_; }
  VkQueue queue() const { return queue_; }
  uint32_t queue_family() const { return queue_family_; }
  std::mutex& queue_mutex() { return queue_mu_; }

  // Memory type indices: device-local (preferably host-visible on unified memory) and
  // host-visible staging (host-cached where possible, for readback).
  uint32_t device_memory_type() const { return device_type_; }
  uint32_t staging_memory_type() const { return staging_type_; }
  bool device_memory_host_visible() const { return host_visible_device_local_; }

  MemoryPool& weights();  // long-lived tensors (weights, KV cache)
  MemoryPool& arena();    // activations, reused across forward passes
  MemoryPool& staging();  // host-visible transfer buffers
  Pipelines& pipelines();

  // Validation-layer messages of severity warning or error seen so far (0 when disabled).
  uint64_t validation_messages() const { return validation_messages_.load(); }
  // Validation messages of every device of this process (test harnesses fail on any).
  static uint64_t validation_messages_total();
  bool validation_enabled() const { return messenger_ != VK_NULL_HANDLE; }

  PFN_vkCmdPushDescriptorSetKHR push_descriptor_fn() const { return push_descriptor_fn_; }

  // Per-kernel device time gathered when options().profile is set.
  struct KernelTime {
    uint64_t dispatches = 0;
    double ms = 0;
  };
  void add_profile(const std::string& kernel, double ms);
  std::map<std::string, KernelTime> profile() const;
  void reset_profile();

  // Graphs in flight (submitted, not yet waited). A graph allocating arena memory first waits
  // for the others, so a range one of them still reads is never handed out again.
  void add_in_flight(VkFence fence);
  void remove_in_flight(VkFence fence);
  void wait_in_flight(VkFence except);

  // Runs `record` in a one-off command buffer and waits for it.
  void run_once(const std::function<void(VkCommandBuffer)>& record);

 private:
  explicit Device(const DeviceOptions& options);
  static VKAPI_ATTR VkBool32 VKAPI_CALL debug_callback(VkDebugUtilsMessageSeverityFlagBitsEXT,
                                                       VkDebugUtilsMessageTypeFlagsEXT,
                                                       const VkDebugUtilsMessengerCallbackDataEXT*,
                                                       void*);

  DeviceOptions options_;
  DeviceFeatures features_;
  KernelClass kernel_class_ = KernelClass::gpu;
  bool push_descriptors_ = false;
  VkInstance instance_ = VK_NULL_HANDLE;
  VkDebugUtilsMessengerEXT messenger_ = VK_NULL_HANDLE;
  VkPhysicalDevice physical_ = VK_NULL_HANDLE;
  VkDevice device_ = VK_NULL_HANDLE;
  VkQueue queue_ = VK_NULL_HANDLE;
  uint32_t queue_family_ = 0;
  std::mutex queue_mu_;
  VkCommandPool one_off_pool_ = VK_NULL_HANDLE;
  std::mutex one_off_mu_;
  uint32_t device_type_ = 0, staging_type_ = 0;
  bool host_visible_device_local_ = false;
  std::atomic<uint64_t> validation_messages_{0};
  mutable std::mutex profile_mu_;
  std::map<std::string, KernelTime> profile_;
  std::mutex in_flight_mu_;
  std::vector<VkFence> in_flight_;
  PFN_vkCmdPushDescriptorSetKHR push_descriptor_fn_ = nullptr;
  std::unique_ptr<MemoryPool> weights_, arena_, staging_;
  std::unique_ptr<Pipelines> pipelines_;
};

}  // namespace vkllm::sdk
