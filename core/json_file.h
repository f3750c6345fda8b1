#pragma once
// Reading the JSON files of a model folder, within a size limit (core/limits.h).
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "core/limits.h"

namespace vkllm::core {

// Parses the JSON file at `path`; throws ModelError naming the file when it cannot be opened,
// is larger than max_bytes, or is not valid JSON.
nlohmann::json read_json_file(const std::string& path,
                              uint64_t max_bytes = limits::kJsonFileBytes);

}  // namespace vkllm::core
