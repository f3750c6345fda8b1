#pragma once
// Multimodal rotary position ids (M-RoPE): three rows (temporal, height, width). Text tokens get
// the same position in all three rows, counting on from the previous token's largest position;
// the tokens of an image (its grid merged by merge x merge) get (t, row, column) offsets from
// the position after the text before it, so text after an image continues from the image's
// largest position + 1, not from its token count.
#include <array>
#include <cstdint>
#include <span>
#include <vector>

namespace vkllm::nn {

struct MropePositions {
  std::array<std::vector<int32_t>, 3> rows;  // [3][T]
  int32_t next = 0;                          // position of the token after the last one
};

// ids: the prompt with each image's placeholder run expanded; grids: (t, h, w) in patches per
// image, in prompt order; the i-th run of image_token belongs to grids[i]. Throws InputError
// when the runs and the grids disagree.
MropePositions mrope_positions(std::span<const int32_t> ids, int32_t image_token,
                               std::span<const std::array<int32_t, 3>> grids, int merge = 2);

}  // namespace vkllm::nn
