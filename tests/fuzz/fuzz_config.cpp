// libFuzzer target: config.json as the host reads it: registry routing (model_type, nested
// vision_config rules), normalisation (text_config, defaults, quantization), then the serving
// family's describe() (its config parse); inputs with "model_types" are parsed as registry
// tables instead. Build with the clang preset.
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "core/plugin_host.h"
#include "sdk/base/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static const auto* host = new vkllm::core::PluginHost();
  static auto* families = new std::map<std::string, std::shared_ptr<vkllm::plugin::Family>>();
  auto config = nlohmann::json::parse(data, data + size, nullptr, false);
  if (config.is_discarded()) return 0;
  try {
    if (config.is_object() && config.contains("model_types")) {  // a registry table
      vkllm::registry::Registry::parse(config.dump(), "fuzz/model_types.json");
      return 0;
    }
    const auto& reg = host->registry();
    const auto& entry = reg.route(config, "fuzz/config.json");
    auto normal = reg.normalize(config, entry, "fuzz/config.json");
    const auto& record = host->plugin_for(entry.family, entry.model_type);
    auto& family = (*families)[record.family];
    if (!family) family = host->create_family(record);
    family->describe(normal);
  } catch (const vkllm::Error&) {
  }
  return 0;
}
