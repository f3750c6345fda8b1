#pragma once
// Error types shared by the SDK, the host and plugins. They live in libvkllm-sdk.so with
// out-of-line key functions so their typeinfo is unique across shared objects.
#include <stdexcept>
#include <string>

namespace vkllm {

class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& what);
  ~Error() override;
};

// Bad input from the user: files, requests, prompts, images.
class InputError : public Error {
 public:
  using Error::Error;
  ~InputError() override;
};

// A model folder that cannot be loaded: config, weights, tokenizer.
class ModelError : public Error {
 public:
  using Error::Error;
  ~ModelError() override;
};

// A plugin that cannot be loaded or that misbehaves.
class PluginError : public Error {
 public:
  using Error::Error;
  ~PluginError() override;
};

// Vulkan or device failures.
class DeviceError : public Error {
 public:
  using Error::Error;
  ~DeviceError() override;
};

// An operation stopped because the caller asked.
class Cancelled : public Error {
 public:
  using Error::Error;
  ~Cancelled() override;
};

// A violated internal invariant (a bug in vkllm, not bad input).
class InternalError : public Error {
 public:
  using Error::Error;
  ~InternalError() override;
};

[[noreturn]] void fail_internal(const char* file, int line, const char* expr,
                                const std::string& msg);

}  // namespace vkllm

// Internal invariants only; anything input can reach throws a typed Error instead.
#define VKLLM_ASSERT(cond, msg)                                            \
  do {                                                                     \
    if (!(cond)) ::vkllm::fail_internal(__FILE__, __LINE__, #cond, (msg)); \
  } while (0)
