#include "sdk/vk/memory.h"

#include <fmt/format.h>

#include <algorithm>
#include <atomic>

#include "sdk/base/error.h"
#include "sdk/base/log.h"
#include "sdk/vk/check.h"
#include "sdk/vk/device.h"

namespace vkllm::sdk {
namespace {

uint64_t align_up(uint64_t v, uint64_t a) { return (v + a - 1) / a * a; }

}  // namespace

Block::Block(Device& device, uint32_t memory_type, uint64_t size, uint64_t id, bool map)
    : device_(device), size_(size), id_(id) {
  auto bi = vk_struct<VkBufferCreateInfo>(VK_STRUCTURE_TYPE_BUFFER_CREATE_INFO);
  bi.size = size;
  bi.usage = VK_BUFFER_USAGE_STORAGE_BUFFER_BIT | VK_BUFFER_USAGE_UNIFORM_TEXEL_BUFFER_BIT |
             VK_BUFFER_USAGE_STORAGE_TEXEL_BUFFER_BIT | VK_BUFFER_USAGE_TRANSFER_SRC_BIT |
             VK_BUFFER_USAGE_TRANSFER_DST_BIT;
  bi.sharingMode = VK_SHARING_MODE_EXCLUSIVE;
  VK_CHECK(vkCreateBuffer(device.vk(), &bi, nullptr, &buffer_));
  VkMemoryRequirements req;
  vkGetBufferMemoryRequirements(device.vk(), buffer_, &req);
  auto ai = vk_struct<VkMemoryAllocateInfo>(VK_STRUCTURE_TYPE_MEMORY_ALLOCATE_INFO);
  ai.allocationSize = req.size;
  ai.memoryTypeIndex = memory_type;
  if (!(req.memoryTypeBits & (1u << memory_type))) {
    vkDestroyBuffer(device.vk(), buffer_, nullptr);
    throw DeviceError("[memory] buffer cannot live in the chosen memory type");
  }
  VkResult r = vkAllocateMemory(device.vk(), &ai, nullptr, &memory_);
  if (r != VK_SUCCESS) {
    vkDestroyBuffer(device.vk(), buffer_, nullptr);
    throw DeviceError(fmt::format("[memory] allocating {:.1f} MiB on {} failed: {}",
                                  double(size) / (1 << 20), device.features().name,
                                  vk_result_string(r)));
  }
  vkBindBufferMemory(device.vk(), buffer_, memory_, 0);
  if (map) {
    void* p = nullptr;
    VK_CHECK(vkMapMemory(device.vk(), memory_, 0, VK_WHOLE_SIZE, 0, &p));
    mapped_ = static_cast<uint8_t*>(p);
  }
}

Block::~Block() {
  for (auto& [key, view] : views_) vkDestroyBufferView(device_.vk(), view, nullptr);
  if (mapped_) vkUnmapMemory(device_.vk(), memory_);
  vkDestroyBuffer(device_.vk(), buffer_, nullptr);
  vkFreeMemory(device_.vk(), memory_, nullptr);
}

std::pair<VkBufferView, uint64_t> Block::view(VkFormat format, uint32_t texel_bytes,
                                              uint64_t offset, uint64_t bytes) {
  const auto& f = device_.features();
  uint64_t max_range = f.max_texel_buffer_elements * texel_bytes;
  uint64_t align = std::max<uint64_t>(f.min_texel_offset_alignment, texel_bytes);
  uint64_t start;
  if (size_ <= max_range) {
    start = 0;
  } else {
    // Views start on granules of half the maximum range, so any range of at most half of it
    // fits in the view that starts at its granule; longer ranges get a view of their own.
    uint64_t granule = (max_range / 2) / align * align;
    start = offset / granule * granule;
    if (offset + bytes > start + max_range) start = offset / align * align;
    if (offset + bytes > start + max_range) {
      throw DeviceError(
          fmt::format("[memory] a tensor of {} bytes exceeds this device's texel "
                      "buffer range ({} bytes)",
                      bytes, max_range));
    }
  }
  std::lock_guard lock(views_mu_);
  auto key = std::make_pair(int(format), start);
  if (auto it = views_.find(key); it != views_.end()) return {it->second, start};
  uint64_t range = std::min(max_range, size_ - start) / texel_bytes * texel_bytes;
  auto ci = vk_struct<VkBufferViewCreateInfo>(VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO);
  ci.buffer = buffer_;
  ci.format = format;
  ci.offset = start;
  ci.range = range;
  VkBufferView v;
  VK_CHECK(vkCreateBufferView(device_.vk(), &ci, nullptr, &v));
  views_.emplace(key, v);
  return {v, start};
}

Allocation::~Allocation() {
  if (pool_) pool_->release(block_.get(), offset_, size_);
}

MemoryPool::MemoryPool(Device& device, Kind kind, std::string name)
    : device_(device), kind_(kind), name_(std::move(name)) {
  uint64_t want =
      kind == Kind::staging ? (64ull << 20) : (name_ == "arena" ? (128ull << 20) : (64ull << 20));
  block_size_ = std::min<uint64_t>(want, device.features().max_allocation_bytes);
}

MemoryPool::~MemoryPool() = default;

std::shared_ptr<Allocation> MemoryPool::allocate(uint64_t bytes, uint64_t alignment) {
  bytes = align_up(std::max<uint64_t>(bytes, 1), 16);
  alignment = std::max<uint64_t>(alignment, device_.features().min_storage_offset_alignment);
  std::lock_guard lock(mu_);
  auto take = [&](BlockState& bs) -> std::shared_ptr<Allocation> {
    for (auto it = bs.free.begin(); it != bs.free.end(); ++it) {
      uint64_t start = align_up(it->first, alignment);
      uint64_t end = it->first + it->second;
      if (start + bytes > end) continue;
      uint64_t fo = it->first, fs = it->second;
      bs.free.erase(it);
      if (start > fo) bs.free.emplace(fo, start - fo);
      if (start + bytes < fo + fs) bs.free.emplace(start + bytes, fo + fs - start - bytes);
      bs.used += bytes;
      in_use_ += bytes;
      peak_ = std::max(peak_, in_use_);
      return std::make_shared<Allocation>(device_.shared_from_this(), bs.block, start, bytes, this);
    }
    return nullptr;
  };
  for (auto& bs : blocks_) {
    if (auto a = take(bs)) return a;
  }
  uint64_t size = std::max(block_size_, align_up(bytes, 1 << 20));
  add_block(size, bytes);
  auto a = take(blocks_.back());
  VKLLM_ASSERT(a != nullptr, "fresh block cannot satisfy allocation");
  return a;
}

void MemoryPool::add_block(uint64_t size, uint64_t bytes) {
  if (size > device_.features().max_allocation_bytes) {
    throw DeviceError(
        fmt::format("[memory] {} needs {:.1f} MiB in one allocation; {} allows at "
                    "most {:.1f} MiB",
                    name_, double(bytes) / (1 << 20), device_.features().name,
                    double(device_.features().max_allocation_bytes) / (1 << 20)));
  }
  bool map = kind_ == Kind::staging || device_.device_memory_host_visible();
  uint32_t type =
      kind_ == Kind::staging ? device_.staging_memory_type() : device_.device_memory_type();
  BlockState bs;
  // Block ids are unique across pools: the graph's hazard tracking keys ranges on them.
  static std::atomic<uint64_t> next_block_id{1};
  bs.block = std::make_shared<Block>(device_, type, size, next_block_id++, map);
  bs.free.emplace(0, size);
  log::sdk().debug("[memory] {}: new block of {:.1f} MiB", name_, double(size) / (1 << 20));
  blocks_.push_back(std::move(bs));
}

void MemoryPool::reserve(uint64_t bytes) {
  std::lock_guard lock(mu_);
  // Room for the allocations' alignment padding (at most 256 bytes each).
  bytes = align_up(bytes + bytes / 512 + (64 << 10), 64 << 10);
  const uint64_t limit = device_.features().max_allocation_bytes / (64 << 10) * (64 << 10);
  while (bytes > 0) {
    uint64_t size = std::min(bytes, limit);
    add_block(size, size);
    bytes -= size;
  }
}

void MemoryPool::release(Block* block, uint64_t offset, uint64_t size) {
  std::lock_guard lock(mu_);
  for (auto& bs : blocks_) {
    if (bs.block.get() != block) continue;
    auto [it, ok] = bs.free.emplace(offset, size);
    VKLLM_ASSERT(ok, "double free in memory pool");
    // coalesce with the next and previous ranges
    auto next = std::next(it);
    if (next != bs.free.end() && it->first + it->second == next->first) {
      it->second += next->second;
      bs.free.erase(next);
    }
    if (it != bs.free.begin()) {
      auto prev = std::prev(it);
      if (prev->first + prev->second == it->first) {
        prev->second += it->second;
        bs.free.erase(it);
      }
    }
    bs.used -= size;
    in_use_ -= size;
    return;
  }
}

uint64_t MemoryPool::bytes_in_use() const {
  std::lock_guard lock(mu_);
  return in_use_;
}

uint64_t MemoryPool::bytes_reserved() const {
  std::lock_guard lock(mu_);
  uint64_t total = 0;
  for (auto& bs : blocks_) total += bs.block->size();
  return total;
}

uint64_t MemoryPool::peak_bytes_in_use() const {
  std::lock_guard lock(mu_);
  return peak_;
}

void MemoryPool::reset_peak() {
  std::lock_guard lock(mu_);
  peak_ = in_use_;
}

void MemoryPool::trim() {
  std::lock_guard lock(mu_);
  std::erase_if(blocks_,
                [](const BlockState& bs) { return bs.used == 0 && bs.block.use_count() == 1; });
}

}  // namespace vkllm::sdk
