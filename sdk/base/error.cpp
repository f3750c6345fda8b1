#include "sdk/base/error.h"

#include <fmt/format.h>

namespace vkllm {

Error::Error(const std::string& what) : std::runtime_error(what) {}
Error::~Error() = default;
InputError::~InputError() = default;
ModelError::~ModelError() = default;
PluginError::~PluginError() = default;
DeviceError::~DeviceError() = default;
Cancelled::~Cancelled() = default;
InternalError::~InternalError() = default;

void fail_internal(const char* file, int line, const char* expr, const std::string& msg) {
  throw InternalError(fmt::format("internal error at {}:{}: {} ({})", file, line, msg, expr));
}

}  // namespace vkllm
