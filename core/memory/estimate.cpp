#include "core/memory/estimate.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>

#include "core/vision/prompt.h"
#include "sdk/base/error.h"
#include "sdk/vk/device.h"

namespace vkllm::core {
namespace {

double mib(uint64_t b) { return double(b) / (1 << 20); }

}  // namespace

MemoryEstimate estimate_memory(const MemoryRequest& r) {
  const plugin::ModelInfo& info = *r.info;
  MemoryEstimate e;
  e.context = default_context(info, r.session.context);
  KvPlan plan = plan_kv_cache(info, r.vision, r.session, e.context, r.max_sequences);
  e.cache_tokens = plan.options.max_tokens;
  e.kv_bits = r.session.kv_bits;
  e.weights = r.weight_bytes;
  e.kv = plan.bytes();
  // The widest pass: a prefill chunk (or a whole bidirectional image run), and the logits of
  // one row per sequence.
  const int64_t rows = std::min(plan.max_step, e.context);
  e.text_activations = uint64_t(info.activation_bytes_per_token) * uint64_t(rows) +
                       uint64_t(info.vocab_size) * 4 * uint64_t(r.max_sequences);
  // An image encode is a pass of its own: the arena holds the larger of the two.
  e.image_activations =
      uint64_t(info.vision_activation_bytes_per_patch) * uint64_t(r.image_patches);
  e.activations = std::max(e.text_activations, e.image_activations);
  const bool vision = r.vision || info.vision_activation_bytes_per_patch > 0;
  e.image_cache = vision ? r.image_cache_bytes : 0;
  return e;
}

MemoryRequest folder_request(const ModelSummary& summary, const std::string& folder,
                             const SessionOptions& session, int max_sequences,
                             uint64_t image_cache_bytes) {
  const plugin::VisionSpec* spec = summary.info.vision ? &*summary.info.vision : nullptr;
  return {.info = &summary.info,
          .vision = spec,
          .weight_bytes = summary.weight_bytes,
          .session = session,
          .max_sequences = max_sequences,
          .image_cache_bytes = spec ? image_cache_bytes : 0,
          .image_patches = spec ? max_patches_per_image(patch_options(*spec, folder)) : 0};
}

MemoryFit fit_memory(const MemoryRequest& r, uint64_t budget, bool allow_kv_bits,
                     int64_t min_context) {
  const MemoryEstimate asked = estimate_memory(r);
  MemoryFit fit{r.session, asked, asked, {}};
  auto estimate_for = [&](const SessionOptions& so) {
    MemoryRequest q = r;
    q.session = so;
    return estimate_memory(q);
  };
  auto fits = [&](const SessionOptions& so) {
    const MemoryEstimate e = estimate_for(so);
    if (e.total() > budget) return false;
    fit.session = so;
    fit.estimate = e;
    return true;
  };
  if (asked.total() <= budget) return fit;
  std::vector<std::string> changes;
  SessionOptions so = r.session;
  so.context = asked.context;
  // 1. The prefix cache's spare capacity (blocks kept for later requests beyond the context).
  if (so.prefix_cache && so.cache_tokens != so.context) {
    so.cache_tokens = so.context;
    changes.push_back(fmt::format("KV capacity {} -> {} tokens (less prefix-cache room)",
                                  asked.cache_tokens, so.context));
    if (fits(so)) {
      fit.changes = fmt::format("{}", fmt::join(changes, "; "));
      return fit;
    }
  }
  // 2. Narrower KV values, when allowed.
  if (allow_kv_bits) {
    for (int bits : {8, 4}) {
      if (bits >= so.kv_bits) continue;
      SessionOptions narrow = so;
      narrow.kv_bits = bits;
      if (fits(narrow)) {
        changes.push_back(fmt::format("KV cache {} -> {} bits", r.session.kv_bits, bits));
        fit.changes = fmt::format("{}", fmt::join(changes, "; "));
        return fit;
      }
    }
    so.kv_bits = std::min(so.kv_bits, 4);
    if (so.kv_bits != r.session.kv_bits)
      changes.push_back(fmt::format("KV cache {} -> {} bits", r.session.kv_bits, so.kv_bits));
  }
  // 3. The largest context (whole blocks) that fits.
  const int64_t bs = so.block_size;
  int64_t lo = std::min(min_context, asked.context) / bs, hi = asked.context / bs;
  auto at = [&](int64_t blocks) {
    SessionOptions s = so;
    s.context = blocks * bs;
    if (s.cache_tokens > 0) s.cache_tokens = s.context;
    return s;
  };
  if (lo < 1 || !fits(at(lo))) {
    const SessionOptions smallest = at(std::max<int64_t>(lo, 1));
    const MemoryEstimate least = estimate_for(smallest);
    throw DeviceError(fmt::format(
        "the model does not fit the memory budget of {:.1f} MiB: weights {:.1f} MiB, KV cache "
        "{:.1f} MiB for {} tokens, activations {:.1f} MiB{} (at the smallest context, {} tokens: "
        "{:.1f} MiB in all); quantize the weights (--quantize q4_0) or raise the budget",
        mib(budget), mib(asked.weights), mib(asked.kv), asked.cache_tokens, mib(asked.activations),
        asked.image_cache ? fmt::format(", image cache {:.1f} MiB", mib(asked.image_cache)) : "",
        smallest.context, mib(least.total())));
  }
  while (lo < hi) {  // fits(at(lo)), and contexts above hi blocks do not
    int64_t mid = (lo + hi + 1) / 2;
    if (fits(at(mid)))
      lo = mid;
    else
      hi = mid - 1;
  }
  fits(at(lo));
  changes.push_back(fmt::format("context {} -> {} tokens", asked.context, lo * bs));
  fit.changes = fmt::format("{}", fmt::join(changes, "; "));
  return fit;
}

uint64_t default_memory_budget(const sdk::DeviceFeatures& device) {
  uint64_t bytes = device.device_local_heap_bytes;
  // A CPU driver (lavapipe) reports a nominal heap (2 GiB) but allocates from system memory.
  if (device.type == "cpu") {
    const long pages = ::sysconf(_SC_PHYS_PAGES), page = ::sysconf(_SC_PAGE_SIZE);
    if (pages > 0 && page > 0) bytes = std::max(bytes, uint64_t(pages) * uint64_t(page));
  }
  return bytes / 10 * 9;
}

}  // namespace vkllm::core
