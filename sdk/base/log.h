#pragma once
// Named loggers per subsystem (sdk, registry, core, cli, server, plugin.<family>). The SDK owns
// them because it is the one library every other part links; spdlog is linked as a shared
// library so host and plugins share one logger registry. Levels come from VKLLM_LOG
// (spdlog's "info,sdk=debug" syntax).
#include <spdlog/spdlog.h>

#include <memory>
#include <string>

namespace vkllm::log {

// Returns the logger of that name, creating it (stderr sink) on first use.
std::shared_ptr<spdlog::logger> get(const std::string& name);

inline spdlog::logger& sdk() {
  static auto l = get("sdk");
  return *l;
}

}  // namespace vkllm::log
