// Out-of-line key functions: the typeinfo of these interfaces lives in libvkllm-sdk.so, not in
// every plugin.
#include "sdk/plugin_api/family.h"

#include <fmt/format.h>

#include "sdk/base/error.h"

namespace vkllm::plugin {
WeightSource::~WeightSource() = default;
Model::~Model() = default;
Family::~Family() = default;
sdk::Tensor Model::encode_image(sdk::Graph&, const ImagePatches&) {
  throw InputError(fmt::format("the {} model takes no images (text only)", info().family));
}
GgufImport Family::import_gguf(const sdk::GgufFile& file) const {
  throw ModelError(fmt::format("{}: GGUF architecture '{}' has no GGUF import in its family",
                               file.path(), file.architecture()));
}
void Family::export_gguf(const nlohmann::json&, WeightSource&, sdk::GgufWriter&, Dtype) const {
  throw PluginError("[gguf] this model family has no GGUF export");
}
}  // namespace vkllm::plugin
