// vkllm plugins: families, their files and model types, and the files that were rejected.
#include <fmt/format.h>

#include "commands.h"
#include "core/plugin_host.h"
#include "registry/registry.h"

namespace vkllm::cli {

Run add_plugins(CLI::App& app) {
  auto* cmd =
      app.add_subcommand("plugins", "List model-family plugins and the model types they serve");
  (void)cmd;
  return [] {
    core::PluginHost host;
    fmt::print("search path: {}\n\n", fmt::join(host.dirs(), ":"));
    // Model types a plugin declares, then the registry's routes to its family on nested keys
    // (type[vision_config.model_type=x]).
    fmt::print("{:<14} {:<28} {:<30} {:<24} {}\n", "family", "model types", "capabilities",
               "adapters", "file");
    for (const auto& p : host.plugins()) {
      std::vector<std::string> types = p.model_types;
      for (const auto& r : host.registry().routes())
        if (r.family == p.family) types.push_back(r.model_type + "[" + r.rule + "]");
      // Where the family takes LoRA adapters (the registry's parts).
      std::vector<std::string> parts;
      if (const auto* a = host.registry().adapters(p.family))
        for (const auto& [part, prefixes] : a->parts) parts.push_back(part);
      fmt::print("{:<14} {:<28} {:<30} {:<24} {}\n", p.family,
                 fmt::format("{}", fmt::join(types, ",")),
                 fmt::format("{}", fmt::join(registry::capability_names(p.capabilities), ",")),
                 parts.empty() ? "-" : fmt::format("{}", fmt::join(parts, ",")), p.path);
    }
    std::vector<std::string> orphans;
    auto served = [&](const std::string& family) {
      for (const auto& p : host.plugins())
        if (p.family == family) return true;
      return false;
    };
    for (const auto& [type, e] : host.registry().entries())
      if (!served(e.family)) orphans.push_back(type + " (" + e.family + ")");
    for (const auto& r : host.registry().routes())
      if (!served(r.family))
        orphans.push_back(r.model_type + "[" + r.rule + "] (" + r.family + ")");
    for (const auto& f : host.registry().fallbacks())
      if (served(f.entry.family))
        fmt::print(
            "\n{} also loads unknown model types whose vision_config.model_type is {} and "
            "text_config.model_type a known text model (with a warning)\n",
            f.entry.family, fmt::join(f.towers, "|"));
    if (!orphans.empty())
      fmt::print("\nregistered without a plugin: {}\n", fmt::join(orphans, ", "));
    if (!host.rejected().empty()) {
      fmt::print("\nrejected:\n");
      for (const auto& r : host.rejected()) fmt::print("  {}: {}\n", r.path, r.reason);
    }
    if (!host.warnings().empty()) {
      fmt::print("\nwarnings:\n");
      for (const auto& w : host.warnings()) fmt::print("  {}\n", w);
    }
    return 0;
  };
}

}  // namespace vkllm::cli
