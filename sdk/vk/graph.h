#pragma once
// A Graph records a forward pass (or any sequence of ops) into one command buffer: one submit
// per pass. It tracks which memory ranges each command reads and writes and inserts a barrier
// only where a command touches memory a pending command wrote (or writes memory a pending
// command read). Temporaries come from the device arena; a temporary whose handles are all
// dropped may be reused later in the same graph, which the range tracking makes safe.
#include <vulkan/vulkan.h>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "sdk/lora.h"
#include "sdk/tensor.h"
#include "sdk/vk/pipeline.h"

namespace vkllm::sdk {

class Device;

struct Groups {
  uint32_t x = 1, y = 1, z = 1;
};

// Bytes read back after a graph completes.
struct Readback {
  std::vector<uint8_t> bytes;
  template <class T>
  std::span<const T> as() const {
    return {reinterpret_cast<const T*>(bytes.data()), bytes.size() / sizeof(T)};
  }
};

class Graph {
 public:
  explicit Graph(std::shared_ptr<Device> device);
  ~Graph();
  Graph(const Graph&) = delete;
  Graph& operator=(const Graph&) = delete;

  Device& device() const { return *device_; }
  const std::shared_ptr<Device>& device_ptr() const { return device_; }

  // A temporary tensor from the device arena.
  Tensor alloc(Dtype dtype, const Shape& shape);

  // Records a dispatch of `kernel` with one tensor per binding and `params` after the binding
  // offsets in the push constants.
  void dispatch(const KernelDesc& kernel, std::initializer_list<const Tensor*> args,
                const void* params, size_t param_bytes, Groups groups,
                std::initializer_list<int32_t> spec = {});
  void dispatch(const KernelDesc& kernel, std::span<const Tensor* const> args, const void* params,
                size_t param_bytes, Groups groups, std::span<const int32_t> spec);

  // Copies host bytes into `dst` (its whole extent) at this point of the command stream.
  void upload(const Tensor& dst, const void* data, size_t bytes);
  // A temporary i32 tensor of `shape` holding `values` (ids, positions, spans).
  Tensor upload_i32(std::span<const int32_t> values, const Shape& shape);
  // Fills `dst`'s bytes with a repeated 32-bit word.
  void fill(const Tensor& dst, uint32_t word);
  // Copies `bytes` bytes from src's start to dst's start.
  void copy_bytes(const Tensor& src, const Tensor& dst, uint64_t bytes);
  // Reads `src` (its whole extent) back once the graph has run.
  std::shared_ptr<Readback> download(const Tensor& src);

  void submit();
  void wait();
  void run() {
    submit();
    wait();
  }

  // Runtime LoRA for the matmuls recorded from now on (see sdk/lora.h); null: none.
  void set_lora(LoraPass pass) { lora_ = std::move(pass); }
  void clear_lora() { lora_ = {}; }
  const LoraPass* lora() const { return lora_.table && !lora_.table->empty() ? &lora_ : nullptr; }

  uint32_t dispatches() const { return dispatches_; }
  uint32_t barriers() const { return barriers_; }

 private:
  struct Range {
    uint64_t block, begin, end;
  };
  void touch(const Tensor& t, bool write);
  void touch_range(const Block& b, uint64_t begin, uint64_t end, bool write);
  void flush_hazards_if_needed();
  void keep(const Tensor& t);

  std::shared_ptr<Device> device_;
  LoraPass lora_;
  VkCommandPool pool_ = VK_NULL_HANDLE;
  VkCommandBuffer cb_ = VK_NULL_HANDLE;
  VkFence fence_ = VK_NULL_HANDLE;
  std::vector<VkDescriptorPool> descriptor_pools_;
  bool recording_ = true, submitted_ = false;
  std::vector<Range> pending_writes_, pending_reads_, new_reads_, new_writes_;
  std::vector<std::shared_ptr<Allocation>> keep_alive_;
  std::vector<std::shared_ptr<Block>> keep_blocks_;
  struct PendingRead {
    std::shared_ptr<Readback> out;
    std::shared_ptr<Allocation> src;  // mapped memory to read from
    uint64_t offset, bytes;
  };
  std::vector<PendingRead> reads_;
  VkPipeline bound_ = VK_NULL_HANDLE;
  uint32_t dispatches_ = 0, barriers_ = 0;
  // Profiling (VKLLM_PROFILE): a timestamp before and after each dispatch.
  VkQueryPool queries_ = VK_NULL_HANDLE;
  uint32_t query_capacity_ = 0;
  std::vector<std::string> profiled_;
};

}  // namespace vkllm::sdk
