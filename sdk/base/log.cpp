#include "sdk/base/log.h"

#include <spdlog/cfg/helpers.h>
#include <spdlog/sinks/stdout_color_sinks.h>

#include <cstdlib>
#include <mutex>

namespace vkllm::log {
namespace {

std::shared_ptr<spdlog::sinks::sink> shared_sink() {
  static auto sink = std::make_shared<spdlog::sinks::stderr_color_sink_mt>();
  return sink;
}

void configure_once() {
  static std::once_flag once;
  std::call_once(once, [] {
    spdlog::set_level(spdlog::level::warn);
    if (const char* env = std::getenv("VKLLM_LOG"); env && *env) {
      spdlog::cfg::helpers::load_levels(env);
    }
  });
}

}  // namespace

std::shared_ptr<spdlog::logger> get(const std::string& name) {
  configure_once();
  static std::mutex mu;
  std::lock_guard lock(mu);
  if (auto existing = spdlog::get(name)) return existing;
  auto logger = std::make_shared<spdlog::logger>(name, shared_sink());
  logger->set_pattern("[%H:%M:%S.%e] [%n] [%^%l%$] %v");
  spdlog::initialize_logger(logger);  // applies levels loaded from VKLLM_LOG
  return logger;
}

}  // namespace vkllm::log
