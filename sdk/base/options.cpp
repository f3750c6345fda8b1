#include "sdk/base/options.h"

#include <cstdlib>
#include <string_view>

#include "sdk/base/error.h"

namespace vkllm {
namespace {

std::optional<std::string> env(const char* name) {
  const char* v = std::getenv(name);
  if (!v) return std::nullopt;
  return std::string(v);
}

bool env_flag(const char* name) {
  auto v = env(name);
  return v && !v->empty() && *v != "0" && *v != "false" && *v != "off";
}

}  // namespace

DeviceOptions DeviceOptions::from_env() {
  DeviceOptions o;
  o.select = env("VKLLM_DEVICE").value_or("");
  o.validation = env_flag("VKLLM_VALIDATION");
  if (auto k = env("VKLLM_KERNELS"); k && !k->empty()) {
    if (*k == "cpu")
      o.kernels = KernelClass::cpu;
    else if (*k == "gpu")
      o.kernels = KernelClass::gpu;
    else
      throw InputError("VKLLM_KERNELS must be 'cpu' or 'gpu', got '" + *k + "'");
  }
  o.no_push_descriptor = env_flag("VKLLM_NO_PUSH_DESCRIPTOR");
  o.no_host_visible = env_flag("VKLLM_NO_HOST_VISIBLE");
  o.cache_dir = env("VKLLM_CACHE_DIR");
  o.profile = env_flag("VKLLM_PROFILE");
  return o;
}

}  // namespace vkllm
