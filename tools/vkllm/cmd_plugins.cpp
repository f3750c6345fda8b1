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
    fmt::print("{:<14} {:<28} {:<30} {}\n", "family", "model types", "capabilities", "file");
    for (const auto& p : host.plugins()) {
      fmt::print(
          "{:<14} {:<28} {:<30} {}\n", p.family, fmt::format("{}", fmt::join(p.model_types, ",")),
          fmt::format("{}", fmt::join(registry::capability_names(p.capabilities), ",")), p.path);
    }
    std::vector<std::string> orphans;
    for (const auto& [type, e] : host.registry().entries()) {
      bool served = false;
      for (const auto& p : host.plugins()) served = served || p.family == e.family;
      if (!served) orphans.push_back(type + " (" + e.family + ")");
    }
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
