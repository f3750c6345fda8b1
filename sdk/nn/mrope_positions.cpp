#include "sdk/nn/mrope_positions.h"

#include <fmt/format.h>

#include <algorithm>

#include "sdk/base/error.h"

namespace vkllm::nn {

MropePositions mrope_positions(std::span<const int32_t> ids, int32_t image_token,
                               std::span<const std::array<int32_t, 3>> grids, int merge) {
  MropePositions out;
  auto push = [&](int32_t t, int32_t h, int32_t w) {
    out.rows[0].push_back(t);
    out.rows[1].push_back(h);
    out.rows[2].push_back(w);
    out.next = std::max({out.next, t + 1, h + 1, w + 1});
  };
  size_t i = 0, image = 0;
  while (i < ids.size()) {
    if (ids[i] != image_token) {
      push(out.next, out.next, out.next);
      ++i;
      continue;
    }
    if (image >= grids.size()) {
      throw InputError(
          fmt::format("image tokens at position {}: more image runs than the {} "
                      "images given",
                      i, grids.size()));
    }
    auto [gt, gh, gw] = grids[image++];
    const int32_t h = gh / merge, w = gw / merge, base = out.next;
    const size_t n = size_t(gt) * size_t(h) * size_t(w);
    if (gt <= 0 || gh % merge || gw % merge || i + n > ids.size() ||
        std::any_of(ids.begin() + long(i), ids.begin() + long(i + n),
                    [&](int32_t id) { return id != image_token; }) ||
        (i + n < ids.size() && ids[i + n] == image_token)) {
      throw InputError(
          fmt::format("image {} (grid {}x{}x{}): expected a run of {} image tokens "
                      "at position {}",
                      image - 1, gt, gh, gw, n, i));
    }
    for (int32_t t = 0; t < gt; ++t)
      for (int32_t y = 0; y < h; ++y)
        for (int32_t x = 0; x < w; ++x) push(base + t, base + y, base + x);
    i += n;
  }
  if (image != grids.size()) {
    throw InputError(
        fmt::format("{} images given, {} image token runs in the prompt", grids.size(), image));
  }
  return out;
}

}  // namespace vkllm::nn
