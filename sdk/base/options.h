#pragma once
// Every device-level switch, filled once from documented VKLLM_* environment variables so tests
// can force fallbacks. No other code reads the environment for device behaviour.
#include <optional>
#include <string>

namespace vkllm {

enum class KernelClass { cpu, gpu };

struct DeviceOptions {
  // VKLLM_DEVICE: device index ("0") or a substring of its name ("llvmpipe"). Empty: best device
  // by type (discrete > integrated > virtual > cpu).
  std::string select;
  // VKLLM_VALIDATION=1: enable VK_LAYER_KHRONOS_validation and count its messages.
  bool validation = false;
  // VKLLM_KERNELS=cpu|gpu: force the kernel variant class instead of choosing by device type.
  std::optional<KernelClass> kernels;
  // VKLLM_NO_PUSH_DESCRIPTOR=1: use descriptor pools even where VK_KHR_push_descriptor exists.
  bool no_push_descriptor = false;
  // VKLLM_NO_HOST_VISIBLE=1: treat device memory as not host-visible (exercise staging paths).
  bool no_host_visible = false;
  // VKLLM_CACHE_DIR: where runtime-compiled SPIR-V and the pipeline cache live
  // (default: $XDG_CACHE_HOME/vkllm or ~/.cache/vkllm; empty string disables the disk cache).
  std::optional<std::string> cache_dir;
  // VKLLM_PROFILE=1: time every dispatch with timestamp queries; Device::profile() sums them
  // per kernel (costs a little time per dispatch).
  bool profile = false;

  static DeviceOptions from_env();
};

}  // namespace vkllm
