#pragma once
// Image preprocessing as the Hugging Face image processors do it, bit for bit where the
// reference is integer: smart_resize's target size (or a fixed size), PIL's bicubic and bilinear
// resampling of 8-bit images (separable, antialiased when shrinking, fixed-point coefficients,
// horizontal pass first), rescale and mean/std normalisation in f32, and the merge-window patch
// order of vision towers with a 2x2 patch merger (temporal patches of one repeated frame), or
// raster order.
#include <array>
#include <cstdint>
#include <utility>
#include <vector>

#include "core/vision/image.h"
#include "sdk/plugin_api/family.h"

namespace vkllm::core {

// (height, width) divisible by factor, pixel count within [min_pixels, max_pixels], aspect
// ratio kept; InputError where the reference raises (a side shorter than factor, aspect > 200).
std::pair<int, int> smart_resize(int height, int width, int factor, int64_t min_pixels,
                                 int64_t max_pixels);

// ImageResize::longest_edge's target (height, width): scaled down (floored) so that neither
// side exceeds longest_edge, then each side rounded up to a multiple of factor.
std::pair<int, int> longest_edge_resize(int height, int width, int longest_edge, int factor);

// CLIPImageProcessor's resize target (height, width): the shorter side to shortest_edge, the
// longer scaled and truncated.
std::pair<int, int> shortest_edge_size(int height, int width, int shortest_edge);

// The centre height x width of an image (image_transforms.center_crop): zero pixels where the
// image is smaller.
Image center_crop(const Image& in, int height, int width);

// PIL's Image.resize(size, BICUBIC or BILINEAR) on an 8-bit RGB image.
Image resize(const Image& in, int width, int height, plugin::Resample filter);
inline Image resize_bicubic(const Image& in, int width, int height) {
  return resize(in, width, height, plugin::Resample::bicubic);
}

// Pan-and-scan of the processors that have it (VisionSpec::pan_and_scan; pan_and_scan() below):
// crops of a long image (none when it is not long enough or the crops would be small), cut from
// the original pixels, row-major.
struct PanAndScan {
  bool enabled = false;
  int min_crop_size = 256, max_num_crops = 4;
  double min_ratio_to_activate = 1.2;
};
struct PatchOptions {
  int patch_size = 14, merge_size = 2, temporal_patch_size = 2;
  plugin::ImageResize resize = plugin::ImageResize::smart;
  plugin::Resample resample = plugin::Resample::bicubic;
  int height = 0, width = 0;                       // ImageResize::fixed
  int longest_edge = 0;                            // ImageResize::longest_edge
  int shortest_edge = 0;                           // ImageResize::shortest_edge_crop, anyres
  std::vector<std::array<int, 2>> grid_pinpoints;  // ImageResize::anyres
  bool alpha_on_white = false;
  int64_t min_pixels = 56 * 56, max_pixels = 28 * 28 * 1280;  // ImageResize::smart
  PanAndScan pan_scan;
  std::array<float, 3> mean = {0.48145466f, 0.4578275f, 0.40821073f};  // OpenAI CLIP
  std::array<float, 3> std = {0.26862954f, 0.26130258f, 0.27577711f};
  double rescale = 1.0 / 255.0;
};

std::vector<Image> pan_and_scan(const Image& image, const PanAndScan& opt);

// The most patches one image (with its AnyRes tiles) reaches the tower with under these
// settings (memory estimates).
int64_t max_patches_per_image(const PatchOptions& o);

struct Patches {
  std::vector<float> values;      // [rows, cols]
  int64_t rows = 0, cols = 0;     // rows = t * h * w, cols = 3 * temporal * patch * patch
  std::array<int, 3> grid_thw{};  // in patches (anyres: t sub-images of h x w)
  int resized_width = 0, resized_height = 0;
  std::array<int, 2> tiles{};          // anyres: tiles per column and row
  std::array<int, 2> original_size{};  // anyres: (height, width) before preprocessing
  // What a family's encode_image takes.
  plugin::ImagePatches view() const { return {values, rows, cols, grid_thw, tiles, original_size}; }
};

// The sub-images ImageResize::anyres shows the tower, each image_height x image_width: the base
// image, then the tiles row-major; `tiles` gets their grid.
std::vector<Image> anyres_images(const Image& image, const PatchOptions& opt,
                                 std::array<int, 2>& tiles);

// Transparency over white when asked, smart_resize (factor patch * merge), the fixed size,
// longest_edge_resize, shortest edge and centre crop, or the AnyRes sub-images; resize,
// rescale, normalise, then
// patches in merge-window order: rows run over (t, h / merge, w / merge, merge_h, merge_w)
// (raster order when merge is 1), columns over (channel, temporal, patch_y, patch_x).
Patches merge_window_patches(const Image& image, const PatchOptions& opt);

}  // namespace vkllm::core
