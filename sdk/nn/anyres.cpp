#include "sdk/nn/anyres.h"

#include <algorithm>
#include <cmath>
#include <limits>

namespace vkllm::nn {

std::array<int, 2> anyres_best_resolution(int height, int width,
                                          std::span<const std::array<int, 2>> pinpoints) {
  std::array<int, 2> best{};
  int64_t most = 0, least_wasted = std::numeric_limits<int64_t>::max();
  for (const auto& [h, w] : pinpoints) {
    const double scale = std::min(double(w) / width, double(h) / height);
    const int64_t effective = std::min(
        int64_t(double(width) * scale) * int64_t(double(height) * scale), int64_t(width) * height);
    const int64_t wasted = int64_t(w) * h - effective;
    if (effective > most || (effective == most && wasted < least_wasted)) {
      most = effective;
      least_wasted = wasted;
      best = {h, w};
    }
  }
  return best;
}

AnyresRegion anyres_unpad(int height, int width, int grid_h, int grid_w) {
  // round(x, 7) before truncating, as the reference does against binary fractions.
  auto kept = [](double x) { return int(std::round(x * 1e7) / 1e7); };
  AnyresRegion r{0, grid_h, 0, grid_w};
  if (double(width) / height > double(grid_w) / grid_h) {
    const int pad = (grid_h - kept(height * (double(grid_w) / width))) / 2;
    r.top = pad;
    r.rows = grid_h - 2 * pad;
  } else {
    const int pad = (grid_w - kept(width * (double(grid_h) / height))) / 2;
    r.left = pad;
    r.cols = grid_w - 2 * pad;
  }
  return r;
}

int64_t anyres_tokens(int height, int width, std::array<int, 2> tiles, int side,
                      int64_t base_tokens, bool newline) {
  const AnyresRegion r = anyres_unpad(height, width, tiles[0] * side, tiles[1] * side);
  return base_tokens + int64_t(r.rows) * r.cols + (newline ? r.rows : 0);
}

}  // namespace vkllm::nn
