#pragma once
// Image input: files, raw bytes and data: URLs in PNG, JPEG, BMP and GIF (first frame), decoded
// to 8-bit RGB the way the Hugging Face processors see them (PIL's convert("RGB")): alpha is
// kept aside (Image::alpha; composite_on_white() for processors that flatten it), gray is
// replicated, 16-bit colour keeps the high byte and 16-bit gray is clipped to 255 (PIL's "I" ->
// "RGB"). Every failure is an InputError naming the input.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace vkllm::core {

struct Image {
  int width = 0, height = 0;
  std::vector<uint8_t> rgb;    // [height][width][3]
  std::vector<uint8_t> alpha;  // [height][width], empty for images without transparency
  uint8_t at(int y, int x, int c) const {
    return rgb[(size_t(y) * size_t(width) + size_t(x)) * 3 + size_t(c)];
  }
};

// `what` names the input in errors. Inputs over limits::kImageBytes, and images over
// limits::kImagePixels (read from the header), are refused before decoding.
Image decode_image(std::span<const uint8_t> bytes, const std::string& what);
// A file path or a data: URL (data:image/png;base64,...).
Image load_image(const std::string& source);

// The image pasted over white through its alpha (the convert_to_rgb of processors that
// flatten transparency, VisionSpec::alpha_on_white: PIL's paste with an RGBA mask, rounding as
// PIL does); unchanged without alpha.
Image composite_on_white(const Image& image);

}  // namespace vkllm::core
