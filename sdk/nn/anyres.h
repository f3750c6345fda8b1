#pragma once
// AnyRes (LLaVA-NeXT, "Improved reasoning, OCR, and world knowledge", 2024): an image is shown
// to a fixed-size vision tower as a base image plus tiles of the grid resolution that fits it
// best; the tiles' features form one map from which the rows or columns that only saw padding
// are removed. The arithmetic is shared by the host (which expands an image's placeholder to
// its token count) and the families (which pack the features in that order).
#include <array>
#include <cstdint>
#include <span>

namespace vkllm::nn {

// The (height, width) of `pinpoints` that shows most of a height x width image (scaled to fit,
// aspect kept) and, among those, wastes the fewest pixels; the first such in the list.
std::array<int, 2> anyres_best_resolution(int height, int width,
                                          std::span<const std::array<int, 2>> pinpoints);

// The part of a grid_h x grid_w feature map (the tiles' features side by side) that shows a
// height x width image scaled into it and centred: rows [top, top + rows), columns [left, left +
// cols).
struct AnyresRegion {
  int top = 0, rows = 0, left = 0, cols = 0;
};
AnyresRegion anyres_unpad(int height, int width, int grid_h, int grid_w);

// Tokens of one image: the base image's (base_tokens), the unpadded tile features, and one per
// row of them with a newline token. `side`: patches per side of one tile; `tiles`: tiles per
// column and row.
int64_t anyres_tokens(int height, int width, std::array<int, 2> tiles, int side,
                      int64_t base_tokens, bool newline);

}  // namespace vkllm::nn
