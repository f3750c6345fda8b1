// vkllm devices: the Vulkan devices, their features, and which one vkllm would use.
#include <fmt/format.h>

#include "commands.h"
#include "core/runtime.h"

namespace vkllm::cli {

Run add_devices(CLI::App& app) {
  auto* cmd = app.add_subcommand("devices", "List Vulkan devices and their features");
  static bool json = false;
  cmd->add_flag("--json", json, "Print one JSON array");
  return [] {
    auto devices = core::list_devices();
    int chosen = core::default_device_index();
    if (json) {
      fmt::print("{}\n", core::devices_json(devices, chosen));
      return 0;
    }
    for (const auto& f : devices) {
      fmt::print("{} {}: {} ({})\n", int(f.index) == chosen ? "*" : " ", f.index, f.name, f.type);
      fmt::print("    driver: {}, Vulkan {}.{}.{}\n", f.driver, VK_API_VERSION_MAJOR(f.api_version),
                 VK_API_VERSION_MINOR(f.api_version), VK_API_VERSION_PATCH(f.api_version));
      fmt::print("    fp16 arithmetic: {}, 16-bit storage: {}, 8-bit storage: {}, int8: {}\n",
                 f.fp16_arith, f.storage16, f.storage8, f.int8_arith);
      fmt::print("    integer dot product: {} (accelerated: {}), cooperative matrix: {}\n",
                 f.int_dot, f.int_dot_accelerated, f.cooperative_matrix);
      fmt::print("    subgroup: {} lanes (arithmetic: {}, shuffle: {}, size control: {})\n",
                 f.subgroup_size, f.subgroup_arith, f.subgroup_shuffle, f.subgroup_size_control);
      fmt::print("    shared memory: {} KiB, max storage range: {} MiB, max texels: {}M\n",
                 f.shared_memory_bytes / 1024, f.max_storage_buffer_range >> 20,
                 f.max_texel_buffer_elements >> 20);
      fmt::print("    device-local heap: {:.1f} GiB, unified memory: {}, push descriptors: {}\n",
                 double(f.device_local_heap_bytes) / (1u << 30), f.unified_memory,
                 f.push_descriptor);
    }
    if (chosen >= 0) {
      fmt::print("(* = default device; choose another with VKLLM_DEVICE=<index|name>)\n");
    } else {
      fmt::print("VKLLM_DEVICE='{}' matches no device: nothing would run\n",
                 DeviceOptions::from_env().select);
      return 1;
    }
    return 0;
  };
}

}  // namespace vkllm::cli
