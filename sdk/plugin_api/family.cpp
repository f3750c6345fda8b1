// Out-of-line key functions: the typeinfo of these interfaces lives in libvkllm-sdk.so, not in
// every plugin.
#include "sdk/plugin_api/family.h"

namespace vkllm::plugin {
WeightSource::~WeightSource() = default;
Model::~Model() = default;
Family::~Family() = default;
}  // namespace vkllm::plugin
