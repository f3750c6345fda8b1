#include "sdk/lora.h"

#include "sdk/base/error.h"

namespace vkllm::sdk {

void LoraTable::add(const Tensor& weight, int adapter, LoraFactors f) {
  if (adapter < 1) throw InternalError("[lora] adapter indexes start at 1");
  if (f.a.rank() != 2 || f.b.rank() != 2 || f.a.dim(0) != f.b.dim(1) ||
      f.a.dim(1) != weight.dim(1) || f.b.dim(0) != weight.dim(0)) {
    throw InternalError("[lora] factors " + f.a.str() + " and " + f.b.str() +
                        " do not fit weight " + weight.str());
  }
  bytes_ += f.a.memory()->size() + f.b.memory()->size();
  table_[key(weight)][adapter] = std::move(f);
}

const LoraFactors* LoraTable::find(const Tensor& weight, int adapter) const {
  auto it = table_.find(key(weight));
  if (it == table_.end()) return nullptr;
  auto a = it->second.find(adapter);
  return a == it->second.end() ? nullptr : &a->second;
}

}  // namespace vkllm::sdk
