#pragma once
// Process-level facilities of the host: device listing and selection for the CLI and for
// applications.
#include <string>
#include <vector>

#include "sdk/vk/device.h"

namespace vkllm::core {

std::vector<sdk::DeviceFeatures> list_devices();
// The device a model would run on with the current environment (VKLLM_DEVICE), or -1 when no
// device matches.
int default_device_index();
std::string devices_json(const std::vector<sdk::DeviceFeatures>& devices, int chosen);

}  // namespace vkllm::core
