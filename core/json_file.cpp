#include "core/json_file.h"

#include <fmt/format.h>

#include <filesystem>
#include <fstream>

#include "sdk/base/error.h"

namespace vkllm::core {

nlohmann::json read_json_file(const std::string& path, uint64_t max_bytes) {
  std::error_code ec;
  uint64_t size = std::filesystem::file_size(path, ec);
  std::ifstream in(path);
  if (ec || !in) throw ModelError(fmt::format("{}: cannot open", path));
  if (size > max_bytes) {
    throw ModelError(fmt::format("{}: {} bytes is more than the {} MiB a JSON file of this kind may "
                                 "hold",
                                 path, size, max_bytes >> 20));
  }
  try {
    return nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw ModelError(fmt::format("{}: not valid JSON: {}", path, e.what()));
  }
}

}  // namespace vkllm::core
