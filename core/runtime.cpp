#include "core/runtime.h"

#include <nlohmann/json.hpp>

#include "sdk/base/error.h"

namespace vkllm::core {

std::vector<sdk::DeviceFeatures> list_devices() { return sdk::list_devices(); }

int default_device_index() {
  try {
    return int(sdk::choose_device(sdk::list_devices(), DeviceOptions::from_env()));
  } catch (const DeviceError&) {
    return -1;
  }
}

std::string devices_json(const std::vector<sdk::DeviceFeatures>& devices, int chosen) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& f : devices) {
    out.push_back({{"index", f.index},
                   {"name", f.name},
                   {"type", f.type},
                   {"driver", f.driver},
                   {"default", int(f.index) == chosen},
                   {"api_version", std::to_string(VK_API_VERSION_MAJOR(f.api_version)) + "." +
                                       std::to_string(VK_API_VERSION_MINOR(f.api_version))},
                   {"fp16_arith", f.fp16_arith},
                   {"storage16", f.storage16},
                   {"storage8", f.storage8},
                   {"int8_arith", f.int8_arith},
                   {"int_dot", f.int_dot},
                   {"int_dot_accelerated", f.int_dot_accelerated},
                   {"cooperative_matrix", f.cooperative_matrix},
                   {"subgroup_size", f.subgroup_size},
                   {"subgroup_arith", f.subgroup_arith},
                   {"shared_memory_bytes", f.shared_memory_bytes},
                   {"max_storage_buffer_range", f.max_storage_buffer_range},
                   {"max_texel_buffer_elements", f.max_texel_buffer_elements},
                   {"device_local_heap_bytes", f.device_local_heap_bytes},
                   {"unified_memory", f.unified_memory},
                   {"push_descriptor", f.push_descriptor}});
  }
  return out.dump(2);
}

}  // namespace vkllm::core
