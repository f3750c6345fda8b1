#pragma once
// Finds and loads family plugins (libvkllm-<family>.so) with Boost.DLL. Search order: the build
// tree, the install prefix (<libdir>/vkllm/plugins), then every directory of VKLLM_PLUGIN_PATH.
// A file that cannot be used is recorded with its reason (and logged), never silently skipped.
#include <memory>
#include <string>
#include <vector>

#include "registry/registry.h"
#include "sdk/plugin_api/descriptor.h"
#include "sdk/plugin_api/family.h"

namespace boost::dll {
class shared_library;
}

namespace vkllm::core {

struct PluginRecord {
  std::string path;
  std::string family;
  std::vector<std::string> model_types;
  uint64_t capabilities = 0;
  uint32_t struct_size = 0;
  std::shared_ptr<boost::dll::shared_library> library;
  const VkllmPluginDescriptor* descriptor = nullptr;
};

struct RejectedPlugin {
  std::string path;
  std::string reason;
};

class PluginHost {
 public:
  // Scans `dirs` in order (default_dirs() when empty).
  explicit PluginHost(std::vector<std::string> dirs = {});
  ~PluginHost();
  PluginHost(const PluginHost&) = delete;
  PluginHost& operator=(const PluginHost&) = delete;

  static std::vector<std::string> default_dirs();
  const std::vector<std::string>& dirs() const { return dirs_; }
  const std::vector<PluginRecord>& plugins() const { return plugins_; }
  const std::vector<RejectedPlugin>& rejected() const { return rejected_; }
  // Disagreements between plugins and the registry (capabilities, family names).
  const std::vector<std::string>& warnings() const { return warnings_; }

  // The registry with every plugin-declared model type added (drop-in families need no table
  // row); rows whose family has no plugin remain.
  const registry::Registry& registry() const { return registry_; }

  // The plugin serving `family`. Throws PluginError listing the directories searched, or naming
  // both files when two plugins claim one of its model types.
  const PluginRecord& plugin_for(const std::string& family, const std::string& model_type) const;
  // Creates the family object; it keeps its shared library loaded.
  std::shared_ptr<plugin::Family> create_family(const PluginRecord& record) const;

 private:
  void scan(const std::string& dir);
  void load(const std::string& path);

  std::vector<std::string> dirs_;
  std::vector<PluginRecord> plugins_;
  std::vector<RejectedPlugin> rejected_;
  std::vector<std::string> warnings_;
  std::vector<std::pair<std::string, std::string>> conflicts_;  // model type, message
  registry::Registry registry_;
};

}  // namespace vkllm::core
