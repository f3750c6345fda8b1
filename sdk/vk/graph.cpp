#include "sdk/vk/graph.h"

#include <fmt/format.h>

#include <algorithm>
#include <cstring>

#include "sdk/base/error.h"
#include "sdk/vk/check.h"
#include "sdk/vk/device.h"

namespace vkllm::sdk {
namespace {

bool overlaps(uint64_t a0, uint64_t a1, uint64_t b0, uint64_t b1) { return a0 < b1 && b0 < a1; }

}  // namespace

Graph::Graph(std::shared_ptr<Device> device) : device_(std::move(device)) {
  VkDevice dev = device_->vk();
  auto pci = vk_struct<VkCommandPoolCreateInfo>(VK_STRUCTURE_TYPE_COMMAND_POOL_CREATE_INFO);
  pci.flags = VK_COMMAND_POOL_CREATE_TRANSIENT_BIT;
  pci.queueFamilyIndex = device_->queue_family();
  VK_CHECK(vkCreateCommandPool(dev, &pci, nullptr, &pool_));
  auto ai = vk_struct<VkCommandBufferAllocateInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_ALLOCATE_INFO);
  ai.commandPool = pool_;
  ai.level = VK_COMMAND_BUFFER_LEVEL_PRIMARY;
  ai.commandBufferCount = 1;
  VK_CHECK(vkAllocateCommandBuffers(dev, &ai, &cb_));
  auto fci = vk_struct<VkFenceCreateInfo>(VK_STRUCTURE_TYPE_FENCE_CREATE_INFO);
  VK_CHECK(vkCreateFence(dev, &fci, nullptr, &fence_));
  auto bi = vk_struct<VkCommandBufferBeginInfo>(VK_STRUCTURE_TYPE_COMMAND_BUFFER_BEGIN_INFO);
  bi.flags = VK_COMMAND_BUFFER_USAGE_ONE_TIME_SUBMIT_BIT;
  VK_CHECK(vkBeginCommandBuffer(cb_, &bi));
}

Graph::~Graph() {
  VkDevice dev = device_->vk();
  if (submitted_) {
    vkWaitForFences(dev, 1, &fence_, VK_TRUE, UINT64_MAX);
    device_->remove_in_flight(fence_);
  }
  for (auto p : descriptor_pools_) vkDestroyDescriptorPool(dev, p, nullptr);
  if (queries_) vkDestroyQueryPool(dev, queries_, nullptr);
  vkDestroyFence(dev, fence_, nullptr);
  vkDestroyCommandPool(dev, pool_, nullptr);
}

Tensor Graph::alloc(Dtype dtype, const Shape& shape) {
  // A range freed by a graph still running must not be handed to this one.
  device_->wait_in_flight(fence_);
  return Tensor::allocate(device_->arena(), dtype, shape);
}

void Graph::keep(const Tensor& t) {
  // Arena temporaries may be recycled within this graph once their handles are gone (the range
  // tracking orders the reuse), so only their block is held; tensors of other pools (weights,
  // caches) are held whole until the graph completes.
  if (t.memory()->pool() == &device_->arena()) {
    if (keep_blocks_.empty() || keep_blocks_.back() != t.memory()->block()) {
      keep_blocks_.push_back(t.memory()->block());
    }
  } else {
    keep_alive_.push_back(t.memory());
  }
}

void Graph::touch_range(const Block& b, uint64_t begin, uint64_t end, bool write) {
  Range r{b.id(), begin, end};
  auto conflicts = [&](const std::vector<Range>& v) {
    return std::any_of(v.begin(), v.end(), [&](const Range& o) {
      return o.block == r.block && overlaps(o.begin, o.end, r.begin, r.end);
    });
  };
  bool hazard = conflicts(pending_writes_) || (write && conflicts(pending_reads_));
  if (hazard) {
    auto mb = vk_struct<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
    mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT |
                       VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_TRANSFER_READ_BIT;
    mb.dstAccessMask = VK_ACCESS_SHADER_READ_BIT | VK_ACCESS_SHADER_WRITE_BIT |
                       VK_ACCESS_TRANSFER_READ_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
    VkPipelineStageFlags stages =
        VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT;
    vkCmdPipelineBarrier(cb_, stages, stages, 0, 1, &mb, 0, nullptr, 0, nullptr);
    ++barriers_;
    pending_writes_.clear();
    pending_reads_.clear();
  }
  (write ? new_writes_ : new_reads_).push_back(r);
}

void Graph::touch(const Tensor& t, bool write) {
  if (!t.defined()) throw InternalError("[graph] undefined tensor bound to a command");
  uint64_t begin = t.memory()->offset() + t.byte_offset();
  touch_range(t.block(), begin, begin + std::max<uint64_t>(t.extent_bytes(), 1), write);
}

void Graph::flush_hazards_if_needed() {
  // The command's own accesses become pending for the commands after it.
  for (auto& r : new_reads_) pending_reads_.push_back(r);
  for (auto& r : new_writes_) pending_writes_.push_back(r);
  new_reads_.clear();
  new_writes_.clear();
}

void Graph::dispatch(const KernelDesc& kernel, std::initializer_list<const Tensor*> args,
                     const void* params, size_t param_bytes, Groups groups,
                     std::initializer_list<int32_t> spec) {
  dispatch(kernel, std::span<const Tensor* const>(args.begin(), args.size()), params, param_bytes,
           groups, std::span<const int32_t>(spec.begin(), spec.size()));
}

void Graph::dispatch(const KernelDesc& kernel, std::span<const Tensor* const> args,
                     const void* params, size_t param_bytes, Groups groups,
                     std::span<const int32_t> spec) {
  if (!recording_) throw InternalError("[graph] dispatch after submit");
  if (args.size() != kernel.bindings.size()) {
    throw InternalError(fmt::format("[graph] {} takes {} tensors, got {}", kernel.name,
                                    kernel.bindings.size(), args.size()));
  }
  if (param_bytes != kernel.param_bytes) {
    throw InternalError(fmt::format("[graph] {} takes {} bytes of parameters, got {}", kernel.name,
                                    kernel.param_bytes, param_bytes));
  }
  if (groups.x == 0 || groups.y == 0 || groups.z == 0) return;  // nothing to do
  const auto& feats = device_->features();
  const Pipeline& pipe = device_->pipelines().get(kernel, spec);

  const size_t n = args.size();
  std::vector<VkWriteDescriptorSet> writes(n);
  std::vector<VkDescriptorBufferInfo> infos(n);
  std::vector<VkBufferView> views(n);
  std::vector<uint32_t> push(n + (param_bytes + 3) / 4, 0);
  for (size_t i = 0; i < n; ++i) {
    const Tensor& t = *args[i];
    if (!t.defined())
      throw InternalError(fmt::format("[graph] {} binding {} is undefined", kernel.name, i));
    Block& b = t.block();
    uint64_t begin = t.memory()->offset() + t.byte_offset();
    uint64_t extent = std::max<uint64_t>(t.extent_bytes(), 4);
    if (begin % 4)
      throw InternalError(
          fmt::format("[graph] {} binding {}: offset not 4-byte aligned", kernel.name, i));
    writes[i] = vk_struct<VkWriteDescriptorSet>(VK_STRUCTURE_TYPE_WRITE_DESCRIPTOR_SET);
    writes[i].dstBinding = uint32_t(i);
    writes[i].descriptorCount = 1;
    switch (kernel.bindings[i]) {
      case Binding::texels:
      case Binding::words: {
        bool vec = kernel.bindings[i] == Binding::texels;
        auto [view, start] = b.view(vec ? VK_FORMAT_R32G32B32A32_UINT : VK_FORMAT_R32_UINT,
                                    vec ? 16 : 4, begin, extent);
        views[i] = view;
        writes[i].descriptorType = VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER;
        writes[i].pTexelBufferView = &views[i];
        push[i] = uint32_t((begin - start) / 4);
        break;
      }
      case Binding::storage: {
        uint64_t align = feats.min_storage_offset_alignment;
        uint64_t base = begin / align * align;
        uint64_t range = std::min<uint64_t>(feats.max_storage_buffer_range, b.size() - base);
        if (begin + extent > base + range) {
          throw DeviceError(
              fmt::format("[graph] {} writes {} bytes; this device binds at most {} "
                          "bytes as a storage buffer",
                          kernel.name, extent, feats.max_storage_buffer_range));
        }
        infos[i] = {b.buffer(), base, range};
        writes[i].descriptorType = VK_DESCRIPTOR_TYPE_STORAGE_BUFFER;
        writes[i].pBufferInfo = &infos[i];
        push[i] = uint32_t((begin - base) / 4);
        break;
      }
    }
    touch(t, kernel.bindings[i] == Binding::storage);
    keep(t);
  }
  flush_hazards_if_needed();
  if (param_bytes) std::memcpy(push.data() + n, params, param_bytes);

  if (pipe.pipeline != bound_) {
    vkCmdBindPipeline(cb_, VK_PIPELINE_BIND_POINT_COMPUTE, pipe.pipeline);
    bound_ = pipe.pipeline;
  }
  if (device_->use_push_descriptors()) {
    device_->push_descriptor_fn()(cb_, VK_PIPELINE_BIND_POINT_COMPUTE, pipe.layout, 0, uint32_t(n),
                                  writes.data());
  } else {
    auto ai =
        vk_struct<VkDescriptorSetAllocateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_SET_ALLOCATE_INFO);
    ai.descriptorSetCount = 1;
    ai.pSetLayouts = &pipe.set_layout;
    VkDescriptorSet set = VK_NULL_HANDLE;
    VkResult r = VK_ERROR_OUT_OF_POOL_MEMORY;
    if (!descriptor_pools_.empty()) {
      ai.descriptorPool = descriptor_pools_.back();
      r = vkAllocateDescriptorSets(device_->vk(), &ai, &set);
    }
    if (r != VK_SUCCESS) {
      VkDescriptorPoolSize sizes[2] = {{VK_DESCRIPTOR_TYPE_STORAGE_BUFFER, 1024},
                                       {VK_DESCRIPTOR_TYPE_UNIFORM_TEXEL_BUFFER, 1024}};
      auto pci =
          vk_struct<VkDescriptorPoolCreateInfo>(VK_STRUCTURE_TYPE_DESCRIPTOR_POOL_CREATE_INFO);
      pci.maxSets = 256;
      pci.poolSizeCount = 2;
      pci.pPoolSizes = sizes;
      VkDescriptorPool pool;
      VK_CHECK(vkCreateDescriptorPool(device_->vk(), &pci, nullptr, &pool));
      descriptor_pools_.push_back(pool);
      ai.descriptorPool = pool;
      VK_CHECK(vkAllocateDescriptorSets(device_->vk(), &ai, &set));
    }
    for (auto& w : writes) w.dstSet = set;
    vkUpdateDescriptorSets(device_->vk(), uint32_t(n), writes.data(), 0, nullptr);
    vkCmdBindDescriptorSets(cb_, VK_PIPELINE_BIND_POINT_COMPUTE, pipe.layout, 0, 1, &set, 0,
                            nullptr);
  }
  vkCmdPushConstants(cb_, pipe.layout, VK_SHADER_STAGE_COMPUTE_BIT, 0,
                     uint32_t(n * 4 + param_bytes), push.data());
  bool timed = device_->options().profile && profiled_.size() < 4096;
  if (timed) {
    if (!queries_) {
      query_capacity_ = 8192;
      auto qi = vk_struct<VkQueryPoolCreateInfo>(VK_STRUCTURE_TYPE_QUERY_POOL_CREATE_INFO);
      qi.queryType = VK_QUERY_TYPE_TIMESTAMP;
      qi.queryCount = query_capacity_;
      VK_CHECK(vkCreateQueryPool(device_->vk(), &qi, nullptr, &queries_));
      vkCmdResetQueryPool(cb_, queries_, 0, query_capacity_);
    }
    vkCmdWriteTimestamp(cb_, VK_PIPELINE_STAGE_TOP_OF_PIPE_BIT, queries_,
                        uint32_t(2 * profiled_.size()));
  }
  vkCmdDispatch(cb_, groups.x, groups.y, groups.z);
  if (timed) {
    vkCmdWriteTimestamp(cb_, VK_PIPELINE_STAGE_BOTTOM_OF_PIPE_BIT, queries_,
                        uint32_t(2 * profiled_.size() + 1));
    profiled_.emplace_back(kernel.name);
  }
  ++dispatches_;
}

Tensor Graph::upload_i32(std::span<const int32_t> values, const Shape& shape) {
  Tensor t = alloc(Dtype::i32, shape);
  if (t.numel() != int64_t(values.size()))
    throw InternalError(fmt::format("[graph] {} values uploaded into {}", values.size(), t.str()));
  upload(t, values.data(), values.size_bytes());
  return t;
}

void Graph::upload(const Tensor& dst, const void* data, size_t bytes) {
  if (!recording_) throw InternalError("[graph] upload after submit");
  if (bytes > dst.extent_bytes()) {
    throw InternalError(fmt::format("[graph] upload of {} bytes into {} ({} bytes)", bytes,
                                    dst.str(), dst.extent_bytes()));
  }
  if (bytes == 0) return;
  auto staging = device_->staging().allocate(bytes);
  std::memcpy(staging->mapped(), data, bytes);
  touch(dst, true);
  flush_hazards_if_needed();
  VkBufferCopy region{staging->offset(), dst.memory()->offset() + dst.byte_offset(), bytes};
  vkCmdCopyBuffer(cb_, staging->block()->buffer(), dst.block().buffer(), 1, &region);
  keep_alive_.push_back(std::move(staging));
  keep(dst);
}

void Graph::fill(const Tensor& dst, uint32_t word) {
  if (!recording_) throw InternalError("[graph] fill after submit");
  uint64_t begin = dst.memory()->offset() + dst.byte_offset();
  uint64_t bytes = (dst.extent_bytes() + 3) / 4 * 4;
  if (begin % 4) throw InternalError("[graph] fill needs a 4-byte aligned tensor");
  touch(dst, true);
  flush_hazards_if_needed();
  vkCmdFillBuffer(cb_, dst.block().buffer(), begin, bytes, word);
  keep(dst);
}

void Graph::copy_bytes(const Tensor& src, const Tensor& dst, uint64_t bytes) {
  if (!recording_) throw InternalError("[graph] copy after submit");
  if (bytes > src.extent_bytes() || bytes > dst.extent_bytes()) {
    throw InternalError(
        fmt::format("[graph] copy of {} bytes from {} to {}", bytes, src.str(), dst.str()));
  }
  if (bytes == 0) return;
  touch(src, false);
  touch(dst, true);
  flush_hazards_if_needed();
  VkBufferCopy region{src.memory()->offset() + src.byte_offset(),
                      dst.memory()->offset() + dst.byte_offset(), bytes};
  vkCmdCopyBuffer(cb_, src.block().buffer(), dst.block().buffer(), 1, &region);
  keep(src);
  keep(dst);
}

std::shared_ptr<Readback> Graph::download(const Tensor& src) {
  if (!recording_) throw InternalError("[graph] download after submit");
  auto out = std::make_shared<Readback>();
  uint64_t bytes = src.extent_bytes();
  uint64_t begin = src.memory()->offset() + src.byte_offset();
  touch(src, false);
  flush_hazards_if_needed();
  keep(src);
  if (src.block().mapped()) {
    reads_.push_back({out, src.memory(), src.byte_offset(), bytes});
    return out;
  }
  auto staging = device_->staging().allocate(bytes);
  touch_range(*staging->block(), staging->offset(), staging->offset() + bytes, true);
  flush_hazards_if_needed();
  VkBufferCopy region{begin, staging->offset(), bytes};
  vkCmdCopyBuffer(cb_, src.block().buffer(), staging->block()->buffer(), 1, &region);
  reads_.push_back({out, staging, 0, bytes});
  return out;
}

void Graph::submit() {
  if (!recording_) throw InternalError("[graph] submitted twice");
  // Make every write visible to the host before the fence signals.
  auto mb = vk_struct<VkMemoryBarrier>(VK_STRUCTURE_TYPE_MEMORY_BARRIER);
  mb.srcAccessMask = VK_ACCESS_SHADER_WRITE_BIT | VK_ACCESS_TRANSFER_WRITE_BIT;
  mb.dstAccessMask = VK_ACCESS_HOST_READ_BIT;
  vkCmdPipelineBarrier(cb_, VK_PIPELINE_STAGE_COMPUTE_SHADER_BIT | VK_PIPELINE_STAGE_TRANSFER_BIT,
                       VK_PIPELINE_STAGE_HOST_BIT, 0, 1, &mb, 0, nullptr, 0, nullptr);
  VK_CHECK(vkEndCommandBuffer(cb_));
  recording_ = false;
  auto si = vk_struct<VkSubmitInfo>(VK_STRUCTURE_TYPE_SUBMIT_INFO);
  si.commandBufferCount = 1;
  si.pCommandBuffers = &cb_;
  std::lock_guard lock(device_->queue_mutex());
  VK_CHECK(vkQueueSubmit(device_->queue(), 1, &si, fence_));
  submitted_ = true;
  device_->add_in_flight(fence_);
}

void Graph::wait() {
  if (!submitted_) throw InternalError("[graph] wait before submit");
  VK_CHECK(vkWaitForFences(device_->vk(), 1, &fence_, VK_TRUE, UINT64_MAX));
  device_->remove_in_flight(fence_);
  if (queries_ && !profiled_.empty()) {
    std::vector<uint64_t> ts(2 * profiled_.size());
    if (vkGetQueryPoolResults(device_->vk(), queries_, 0, uint32_t(ts.size()), ts.size() * 8,
                              ts.data(), 8, VK_QUERY_RESULT_64_BIT) == VK_SUCCESS) {
      double period = device_->features().timestamp_period_ns;
      for (size_t i = 0; i < profiled_.size(); ++i) {
        device_->add_profile(profiled_[i], double(ts[2 * i + 1] - ts[2 * i]) * period / 1e6);
      }
    }
    profiled_.clear();
  }
  for (auto& r : reads_) {
    r.out->bytes.resize(r.bytes);
    std::memcpy(r.out->bytes.data(), r.src->mapped() + r.offset, r.bytes);
  }
  reads_.clear();
}

}  // namespace vkllm::sdk
