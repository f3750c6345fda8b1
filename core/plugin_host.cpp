#include "core/plugin_host.h"

#include <fmt/format.h>

#include <algorithm>
#include <boost/dll/runtime_symbol_info.hpp>
#include <boost/dll/shared_library.hpp>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <set>

#include "sdk/base/error.h"
#include "sdk/base/log.h"

#ifndef VKLLM_BUILD_PLUGIN_DIR
#define VKLLM_BUILD_PLUGIN_DIR ""
#define VKLLM_BUILD_CORE_DIR ""
#endif

namespace vkllm::core {
namespace fs = std::filesystem;

namespace {

std::string join(const std::vector<std::string>& v, const char* sep) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : sep) + s;
  return out;
}

}  // namespace

std::vector<std::string> PluginHost::default_dirs() {
  std::vector<std::string> dirs;
  // The build tree's plugins when this libvkllm.so is the build tree's; otherwise
  // <libdir>/vkllm/plugins next to the installed libvkllm.so.
  boost::system::error_code ec;
  auto here = boost::dll::this_line_location(ec);
  fs::path lib_dir = ec ? fs::path() : fs::path(here.string()).parent_path();
  std::error_code fe;
  if (!lib_dir.empty() && fs::equivalent(lib_dir, VKLLM_BUILD_CORE_DIR, fe)) {
    dirs.push_back(VKLLM_BUILD_PLUGIN_DIR);
  } else if (!lib_dir.empty()) {
    dirs.push_back((lib_dir / "vkllm" / "plugins").string());
  }
  if (const char* env = std::getenv("VKLLM_PLUGIN_PATH")) {
    std::string s = env;
    size_t start = 0;
    while (start <= s.size()) {
      size_t end = s.find(':', start);
      if (end == std::string::npos) end = s.size();
      if (end > start) dirs.push_back(s.substr(start, end - start));
      start = end + 1;
    }
  }
  return dirs;
}

PluginHost::PluginHost(std::vector<std::string> dirs)
    : dirs_(dirs.empty() ? default_dirs() : std::move(dirs)),
      registry_(registry::Registry::builtin()) {
  for (const auto& d : dirs_) scan(d);
  // Model types: duplicates, registry agreement, and rows for types only a plugin declares.
  std::map<std::string, const PluginRecord*> claims;
  for (const auto& p : plugins_) {
    for (const auto& t : p.model_types) {
      auto [it, fresh] = claims.emplace(t, &p);
      if (!fresh) {
        conflicts_.emplace_back(
            t, fmt::format("model type '{}' is claimed by two plugins: {} and {}", t,
                           it->second->path, p.path));
        log::get("core")->error("[plugins] {}", conflicts_.back().second);
        continue;
      }
      if (const auto* e = registry_.find(t)) {
        if (e->family != p.family) {
          warnings_.push_back(
              fmt::format("{}: claims model type '{}', which the registry routes to "
                          "family '{}', not '{}'",
                          p.path, t, e->family, p.family));
        } else if (e->capabilities != p.capabilities) {
          auto reg = registry::capability_names(e->capabilities);
          auto plug = registry::capability_names(p.capabilities);
          warnings_.push_back(
              fmt::format("{}: family '{}' declares capabilities [{}], the registry "
                          "lists [{}] for '{}'",
                          p.path, p.family, join(plug, ", "), join(reg, ", "), t));
        }
      } else {
        registry::Entry added;
        added.model_type = t;
        added.family = p.family;
        added.kind = (p.capabilities & VKLLM_CAP_VISION) ? "vision" : "text";
        added.capabilities = p.capabilities;
        registry_.add(std::move(added));
      }
    }
  }
  for (const auto& w : warnings_) log::get("core")->warn("[plugins] {}", w);
}

PluginHost::~PluginHost() = default;

void PluginHost::scan(const std::string& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return;
  std::vector<std::string> files;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    std::string name = e.path().filename().string();
    if (name.starts_with("libvkllm-") && e.path().extension() == ".so")
      files.push_back(e.path().string());
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) load(f);
}

void PluginHost::load(const std::string& path) {
  auto reject = [&](const std::string& why) {
    rejected_.push_back({path, why});
    log::get("core")->warn("[plugins] {}: {}", path, why);
  };
  // The same file reached through two directories counts once.
  for (const auto& p : plugins_) {
    std::error_code ec;
    if (fs::equivalent(p.path, path, ec)) return;
  }
  auto lib = std::make_shared<boost::dll::shared_library>();
  try {
    lib->load(path, boost::dll::load_mode::rtld_lazy | boost::dll::load_mode::rtld_local);
  } catch (const std::exception& e) {
    reject(std::string("cannot be loaded: ") + e.what());
    return;
  }
  if (!lib->has(VKLLM_PLUGIN_ENTRY_SYMBOL)) {
    reject(std::string("missing symbol ") + VKLLM_PLUGIN_ENTRY_SYMBOL + " (not a vkllm plugin)");
    return;
  }
  auto entry = lib->get<const VkllmPluginDescriptor*()>(VKLLM_PLUGIN_ENTRY_SYMBOL);
  const VkllmPluginDescriptor* d = entry();
  if (!d) {
    reject("the entry point returned no descriptor");
    return;
  }
  if (d->abi_version != VKLLM_PLUGIN_ABI_VERSION) {
    reject(fmt::format("plugin ABI {} != host ABI {}", d->abi_version, VKLLM_PLUGIN_ABI_VERSION));
    return;
  }
  // Fields beyond struct_size are absent in an older plugin: read only what it has.
  VkllmPluginDescriptor desc{};
  std::memcpy(&desc, d, std::min<size_t>(d->struct_size, sizeof desc));
  if (d->struct_size < offsetof(VkllmPluginDescriptor, destroy_family) + sizeof(void*)) {
    reject(fmt::format("descriptor of {} bytes lacks the factory", d->struct_size));
    return;
  }
  if (!desc.sdk_version || std::strcmp(desc.sdk_version, VKLLM_SDK_VERSION) != 0) {
    reject(fmt::format("built against SDK {}; this host has SDK {} (rebuild the plugin)",
                       desc.sdk_version ? desc.sdk_version : "(none)", VKLLM_SDK_VERSION));
    return;
  }
  if (!desc.family || !*desc.family || !desc.model_types || !desc.create_family ||
      !desc.destroy_family) {
    reject("descriptor lacks family, model types or factory");
    return;
  }
  PluginRecord r;
  r.path = path;
  r.family = desc.family;
  for (auto t = desc.model_types; *t; ++t) r.model_types.emplace_back(*t);
  r.capabilities = desc.capabilities;
  r.struct_size = d->struct_size;
  r.library = lib;
  r.descriptor = d;
  log::get("core")->info("[plugins] loaded {} (family {}, ABI {})", path, r.family, d->abi_version);
  plugins_.push_back(std::move(r));
}

const PluginRecord& PluginHost::plugin_for(const std::string& family,
                                           const std::string& model_type) const {
  for (const auto& [t, msg] : conflicts_) {
    if (t == model_type) throw PluginError("[plugins] " + msg);
  }
  for (const auto& p : plugins_) {
    if (p.family == family) return p;
  }
  std::string why;
  for (const auto& r : rejected_) {
    if (fs::path(r.path).filename().string() == "libvkllm-" + family + ".so") {
      why = fmt::format("; {} was rejected: {}", r.path, r.reason);
    }
  }
  throw PluginError(fmt::format("[plugins] no plugin for family '{}' (model type '{}') in: {}{}",
                                family, model_type, join(dirs_, ", "), why));
}

std::shared_ptr<plugin::Family> PluginHost::create_family(const PluginRecord& record) const {
  void* raw = record.descriptor->create_family();
  if (!raw) throw PluginError(fmt::format("[plugins] {}: the family factory failed", record.path));
  auto lib = record.library;
  auto destroy = record.descriptor->destroy_family;
  // The deleter keeps the library loaded until the family is gone.
  return std::shared_ptr<plugin::Family>(static_cast<plugin::Family*>(raw),
                                         [lib, destroy](plugin::Family* f) { destroy(f); });
}

}  // namespace vkllm::core
