#pragma once
// Compute pipelines: kernels are SPIR-V modules (embedded at build time, or GLSL supplied at run
// time and compiled with shaderc) plus a binding signature. Pipelines are created on first use
// per (kernel, specialization constants) and cached; a VkPipelineCache persists on disk.
#include <vulkan/vulkan.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <vector>

namespace vkllm::sdk {

class Device;

// How a kernel binding sees its tensor. Reads go through uniform texel buffers, which llvmpipe
// turns into vector gathers (3-4x faster than per-lane storage-buffer loads there); writes go
// through storage buffers.
enum class Binding : uint8_t {
  texels,  // usamplerBuffer, VK_FORMAT_R32G32B32A32_UINT: 16-byte texels
  words,   // usamplerBuffer, VK_FORMAT_R32_UINT: 4-byte texels
  storage  // storage buffer (read/write)
};

// Every kernel's push constants start with one uint per binding: the binding's offset in 32-bit
// words from what the shader sees as index 0. Op parameters follow.
struct KernelDesc {
  const char* name;  // SPIR-V module (kernel file stem)
  std::vector<Binding> bindings;
  uint32_t param_bytes = 0;     // size of the op parameters after the offsets
  bool full_subgroups = false;  // require full subgroups (subgroup-reduction kernels)
};

struct Pipeline {
  VkPipeline pipeline = VK_NULL_HANDLE;
  VkPipelineLayout layout = VK_NULL_HANDLE;
  VkDescriptorSetLayout set_layout = VK_NULL_HANDLE;
};

class Pipelines {
 public:
  explicit Pipelines(Device& device);
  ~Pipelines();

  // The pipeline of `desc` specialised with `spec` (constant ids 0, 1, 2 ... in order).
  const Pipeline& get(const KernelDesc& desc, std::span<const int32_t> spec);

  // Registers GLSL source (a plugin's own kernel) under `name`, compiling it with shaderc.
  // SPIR-V is cached on disk keyed by the source hash and the device; compile errors throw
  // PluginError with shaderc's message.
  void register_glsl(const std::string& name, const std::string& source);
  bool has_kernel(const std::string& name) const;
  // How many runtime compilations were served from the disk cache (for tests).
  uint64_t spirv_cache_hits() const { return cache_hits_; }

 private:
  std::span<const uint32_t> module_words(const std::string& name);
  VkShaderModule module(const std::string& name);

  Device& device_;
  std::mutex mu_;
  VkPipelineCache cache_ = VK_NULL_HANDLE;
  std::string cache_path_;
  std::map<std::string, VkShaderModule> modules_;
  std::map<std::string, std::vector<uint32_t>> runtime_spirv_;
  std::map<std::string, std::unique_ptr<Pipeline>> pipelines_;
  std::map<std::string, VkDescriptorSetLayout> set_layouts_;
  std::map<std::string, VkPipelineLayout> layouts_;
  uint64_t cache_hits_ = 0;
};

// Directory for on-disk caches ("" when disabled).
std::string cache_directory(Device& device);

}  // namespace vkllm::sdk
