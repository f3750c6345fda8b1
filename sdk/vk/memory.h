#pragma once
// Device memory: large blocks (one VkDeviceMemory + one VkBuffer each) sub-allocated by a
// first-fit free list. Tensors hold an Allocation; dropping the last handle returns its range to
// the pool. The activation arena is such a pool whose blocks persist across forward passes.
#include <vulkan/vulkan.h>

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace vkllm::sdk {

class Device;
class MemoryPool;

class Block {
 public:
  Block(Device& device, uint32_t memory_type, uint64_t size, uint64_t id, bool map);
  ~Block();
  Block(const Block&) = delete;
  Block& operator=(const Block&) = delete;

  VkBuffer buffer() const { return buffer_; }
  uint64_t size() const { return size_; }
  uint64_t id() const { return id_; }
  uint8_t* mapped() const { return mapped_; }

  // A texel-buffer view of this block in `format` (texels of `texel_bytes`) whose range covers
  // [offset, offset + bytes). Returns the view and the byte offset at which it starts. Views are
  // created once and cached for the block's lifetime.
  std::pair<VkBufferView, uint64_t> view(VkFormat format, uint32_t texel_bytes, uint64_t offset,
                                         uint64_t bytes);

 private:
  Device& device_;
  VkDeviceMemory memory_ = VK_NULL_HANDLE;
  VkBuffer buffer_ = VK_NULL_HANDLE;
  uint64_t size_ = 0;
  uint64_t id_ = 0;
  uint8_t* mapped_ = nullptr;
  std::mutex views_mu_;
  std::map<std::pair<int, uint64_t>, VkBufferView> views_;
};

// A range of a block. Returns itself to its pool when destroyed.
class Allocation {
 public:
  Allocation(std::shared_ptr<Device> device, std::shared_ptr<Block> block, uint64_t offset,
             uint64_t size, MemoryPool* pool)
      : device_(std::move(device)),
        block_(std::move(block)),
        offset_(offset),
        size_(size),
        pool_(pool) {}
  ~Allocation();
  Allocation(const Allocation&) = delete;
  Allocation& operator=(const Allocation&) = delete;

  const std::shared_ptr<Block>& block() const { return block_; }
  uint64_t offset() const { return offset_; }
  uint64_t size() const { return size_; }
  uint8_t* mapped() const { return block_->mapped() ? block_->mapped() + offset_ : nullptr; }
  Device& device() const { return *device_; }
  const std::shared_ptr<Device>& device_ptr() const { return device_; }
  const MemoryPool* pool() const { return pool_; }

 private:
  std::shared_ptr<Device> device_;
  std::shared_ptr<Block> block_;
  uint64_t offset_, size_;
  MemoryPool* pool_;
};

class MemoryPool {
 public:
  enum class Kind { device, staging };
  MemoryPool(Device& device, Kind kind, std::string name);
  ~MemoryPool();

  // Throws DeviceError when the device is out of memory.
  std::shared_ptr<Allocation> allocate(uint64_t bytes, uint64_t alignment = 256);
  // Adds blocks of exactly `bytes` (split at the device's allocation limit) for a batch of
  // allocations about to come (weights at load, the KV pools), so that they do not leave most
  // of a default-sized block unused.
  void reserve(uint64_t bytes);

  uint64_t bytes_in_use() const;
  uint64_t bytes_reserved() const;
  uint64_t peak_bytes_in_use() const;
  void reset_peak();
  // Frees blocks that hold no allocation.
  void trim();
  const std::string& name() const { return name_; }

 private:
  friend class Allocation;
  struct BlockState {
    std::shared_ptr<Block> block;
    std::map<uint64_t, uint64_t> free;  // offset -> size
    uint64_t used = 0;
  };
  void release(Block* block, uint64_t offset, uint64_t size);
  void add_block(uint64_t size, uint64_t bytes);  // mu_ held; `bytes`: what it is for (errors)

  Device& device_;
  Kind kind_;
  std::string name_;
  uint64_t block_size_;
  mutable std::mutex mu_;
  std::vector<BlockState> blocks_;
  uint64_t in_use_ = 0, peak_ = 0;
};

}  // namespace vkllm::sdk
