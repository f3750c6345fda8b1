#include "sdk/vk/pipeline.h"

#include <fmt/format.h>
#include <shaderc/shaderc.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "sdk/base/error.h"
#include "sdk/base/log.h"
#include "sdk/vk/check.h"
#include "sdk/vk/device.h"

namespace vkllm::sdk {
namespace detail {
struct EmbeddedKernel {
  std::string_view name;
  std::span<const uint32_t> words;
};
extern const EmbeddedKernel kEmbeddedKernels[];
extern const size_t kEmbeddedKernelCount;
}  // namespace detail

namespace {

uint64_t fnv1a(std::string_view s, uint64_t h = 1469598103934665603ull) {
  for (unsigned char c : s) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

std::string device_key(Device& d) {
  const auto& f = d.features();
  return fmt::format("{:04x}-{:04x}-{:016x}", f.vendor_id, f.device_id, fnv1a(f.driver + f.name));
}

std::vector<char> read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return {};
  return std::vector<char>(std::istreambuf_iterator<char>(in), {});
}

void write_file_atomic(const std::string& path, const void* data, size_t size) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  {
    std::ofstream out(tmp, std::ios::binary);
    if (!out) return;
    out.write(static_cast<const char*>(data), std::streamsize(size));
    if (!out) return;
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) std::filesystem::remove(tmp, ec);
}

}  // namespace

std::string cache_directory(Device& device) {
  const auto& opt = device.options().cache_dir;
  std::string dir;
  if (opt) {
    dir = *opt;
  } else if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) {
    dir = std::string(x) + "/vkllm";
  } else if (const char* h = std::getenv("HOME"); h && *h) {
    dir = std::string(h) + "/.cache/vkllm";
  }
  if (dir.empty()) return "";
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  return ec ? "" : dir;
}

Pipelines::Pipelines(Device& device) : device_(device) {
  std::string dir = cache_directory(device);
  std::vector<char> blob;
  if (!dir.empty()) {
    cache_path_ = dir + "/pipelines-" + device_key(device) + ".bin";
    blob = read_file(cache_path_);
  }
  auto ci = vk_struct<VkPipelineCacheCreateInfo>(VK_STRUCTURE_TYPE_PIPELINE_CACHE_CREATE_INFO);
  ci.initialDataSize = blob.size();
  ci.pInitialData = blob.empty() ? nullptr : blob.data();
  if (vkCreatePipelineCache(device.vk(), &ci, nullptr, &cache_) != VK_SUCCESS) {
    ci.initialDataSize = 0;  // a stale or corrupt cache file: start empty
    ci.pInitialData = nullptr;
    VK_CHECK(vkCreatePipelineCache(device.vk(), &ci, nullptr, &cache_));
  }
}

Pipelines::~Pipelines() {
  VkDevice dev = device_.vk();
  if (!cache_path_.empty()) {
    size_t size = 0;
    if (vkGetPipelineCacheData(dev, cache_, &size, nullptr) == VK_SUCCESS && size) {
      std::vector<char> data(size);
      if (vkGetPipelineCacheData(dev, cache_, &size, data.data()) == VK_SUCCESS) {
        write_file_atomic(cache_path_, data.data(), size);
      }
    }
  }
  for (auto& [k, p] : pipelines_) vkDestroyPipeline(dev, p->pipeline, nullptr);
  for (auto& [k, l] : layouts_) vkDestroyPipelineLayout(dev, l, nullptr);
  for (auto& [k, l] : set_layouts_) vkDestroyDescriptorSetLayout(dev, l, nullptr);
  for (auto& [k, m] : modules_) vkDestroyShaderModule(dev, m, nullptr);
  vkDestroyPipelineCache(dev, cache_, nullptr);
}

bool Pipelines::has_kernel(const std::string& name) const {
  if (runtime_spirv_.count(name)) return true;
  for (size_t i = 0; i < detail::kEmbeddedKernelCount; ++i) {
    if (detail::kEmbeddedKernels[i].name == name) return true;
  }
  return false;
}

std::span<const uint32_t> Pipelines::module_words(const std::string& name) {
  if (auto it = runtime_spirv_.find(name); it != runtime_spirv_.end()) return it->second;
  for (size_t i = 0; i < detail::kEmbeddedKernelCount; ++i) {
    if (detail::kEmbeddedKernels[i].name == name) return detail::kEmbeddedKernels[i].words;
  }
  throw InternalError("[pipelines] no kernel named '" + name + "'");
}

VkShaderModule Pipelines::module(const std::string& name) {
  if (auto it = modules_.find(name); it != modules_.end()) return it->second;
  auto words = module_words(name);
  auto ci = vk_struct<VkShaderModuleCreateInfo>(VK_STRUCTURE_TYPE_SHADER_MODULE_CREATE_INFO);
  ci.codeSize = words.size() * 4;
  ci.pCode = words.data();
  VkShaderModule m;
  VK_CHECK(vkCreateShaderModule(device_.vk(), &ci, nullptr, &m));
  modules_.emplace(name, m);
  return m;
}

const Pipeline& Pipelines::get(const KernelDesc& desc, std::span<const int32_t> spec) {
  std::string key = desc.name;
  for (int32_t v : spec) key += fmt::format(":{}", v);
  std::lock_guard lock(mu_);
  if (auto it = pipelines_.find(key); it != pipelines_.end()) return *it->second;

  VkDevice dev = device_.vk();
  // The set layout and pipeline layout depend only on the binding signature.
  std::string sig;
  for (Binding b : desc.bindings) sig += char('0' + int(b));
  uint32_t push_bytes = uint32_t(desc.bindings.size()) * 4 + desc.param_bytes;
  if (push_bytes > device_.features().max_push_constants_bytes) {
    throw InternalError(
        fmt::format("[pipelines] {} needs {} bytes of push constants; the "
                    "device allows {}",
                    desc.name, push_bytes, device_.features().max_push_constants_bytes));
  }
  sig += fmt::format("/{}", push_bytes);
  VkDescriptorSetLayout set_layout;
  if (auto it = set_layouts_.find(sig); it != set_layouts_.end()) {
    set_layout = it->second;
  } else {
    std::vector<VkDescriptorSetLayoutBinding> bindings;
    for (uint32_t i = 0; i < desc.bindings.size(); ++i) {
      VkDescriptorSetLayoutBinding b{};
      b.binding = i;
      b.descriptorCount = 1;
      b.stageFlags = VK_SHADER_STAGE_COMPUTE_BIT;
      b.descriptorType = desc.bindings[i] == Binding::storage
                             ? VK_DESCRIPTOR_TYPE_STORAGE_BUFFER
                             : VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER;
      bindings.push_back(b);
    }
    auto ci = vk_struct<VkDescriptorSetLayoutCreateInfo>(
        VK_STRUCTURE_TYPE_DESCRIPTOR_SET_LAYOUT_CREATE_INFO);
    if (device_.use_push_descriptors())
      ci.flags = VK_DESCRIPTOR_SET_LAYOUT_CREATE_PUSH_DESCRIPTOR_BIT_KHR;
    ci.bindingCount = uint32_t(bindings.size());
    ci.pBindings = bindings.data();
    VK_CHECK(vkCreateDescriptorSetLayout(dev, &ci, nullptr, &set_layout));
    set_layouts_.emplace(sig, set_layout);
    VkPushConstantRange range{VK_SHADER_STAGE_COMPUTE_BIT, 0, push_bytes};
    auto li = vk_struct<VkPipelineLayoutCreateInfo>(VK_STRUCTURE_TYPE_PIPELINE_LAYOUT_CREATE_INFO);
    li.setLayoutCount = 1;
    li.pSetLayouts = &set_layout;
    li.pushConstantRangeCount = 1;
    li.pPushConstantRanges = &range;
    VkPipelineLayout layout;
    VK_CHECK(vkCreatePipelineLayout(dev, &li, nullptr, &layout));
    layouts_.emplace(sig, layout);
  }
  VkPipelineLayout layout = layouts_.at(sig);

  std::vector<VkSpecializationMapEntry> entries;
  for (uint32_t i = 0; i < spec.size(); ++i) entries.push_back({i, i * 4, 4});
  VkSpecializationInfo si{};
  si.mapEntryCount = uint32_t(entries.size());
  si.pMapEntries = entries.data();
  si.dataSize = spec.size() * 4;
  si.pData = spec.data();

  auto ci = vk_struct<VkComputePipelineCreateInfo>(VK_STRUCTURE_TYPE_COMPUTE_PIPELINE_CREATE_INFO);
  ci.stage.sType = VK_STRUCTURE_TYPE_PIPELINE_SHADER_STAGE_CREATE_INFO;
  ci.stage.stage = VK_SHADER_STAGE_COMPUTE_BIT;
  ci.stage.module = module(desc.name);
  ci.stage.pName = "main";
  ci.stage.pSpecializationInfo = spec.empty() ? nullptr : &si;
  if (desc.full_subgroups && device_.features().subgroup_size_control) {
    ci.stage.flags |= VK_PIPELINE_SHADER_STAGE_CREATE_REQUIRE_FULL_SUBGROUPS_BIT;
  }
  ci.layout = layout;
  auto p = std::make_unique<Pipeline>();
  p->layout = layout;
  p->set_layout = set_layout;
  VK_CHECK(vkCreateComputePipelines(dev, cache_, 1, &ci, nullptr, &p->pipeline));
  log::sdk().trace("[pipelines] created {}", key);
  return *pipelines_.emplace(key, std::move(p)).first->second;
}

void Pipelines::register_glsl(const std::string& name, const std::string& source) {
  std::string dir = cache_directory(device_);
  std::string target = "vulkan1.2";
  std::string hash = fmt::format("{:016x}", fnv1a(source, fnv1a(target + name)));
  std::string path = dir.empty() ? "" : dir + "/spirv-" + device_key(device_) + "-" + hash + ".spv";
  std::vector<uint32_t> words;
  if (!path.empty()) {
    auto blob = read_file(path);
    if (blob.size() >= 20 && blob.size() % 4 == 0) {
      words.resize(blob.size() / 4);
      std::memcpy(words.data(), blob.data(), blob.size());
      if (words[0] == 0x07230203u) {
        std::lock_guard lock(mu_);
        ++cache_hits_;
      } else {
        words.clear();
      }
    }
  }
  if (words.empty()) {
    shaderc::Compiler compiler;
    shaderc::CompileOptions opts;
    opts.SetTargetEnvironment(shaderc_target_env_vulkan, shaderc_env_version_vulkan_1_2);
    opts.SetOptimizationLevel(shaderc_optimization_level_performance);
    auto result = compiler.CompileGlslToSpv(source, shaderc_compute_shader, name.c_str(), opts);
    if (result.GetCompilationStatus() != shaderc_compilation_status_success) {
      throw PluginError(fmt::format("[shaderc] kernel '{}' does not compile:\n{}", name,
                                    result.GetErrorMessage()));
    }
    words.assign(result.cbegin(), result.cend());
    if (!path.empty()) write_file_atomic(path, words.data(), words.size() * 4);
  }
  std::lock_guard lock(mu_);
  if (auto it = modules_.find(name); it != modules_.end()) {
    throw PluginError("[shaderc] a kernel named '" + name + "' is already registered");
  }
  runtime_spirv_[name] = std::move(words);
}

}  // namespace vkllm::sdk
