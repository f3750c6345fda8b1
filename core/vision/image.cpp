#include "core/vision/image.h"

#include <fmt/format.h>
#include <stb/stb_image.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>

#include "core/limits.h"
#include "sdk/base/error.h"

namespace vkllm::core {
namespace {

std::vector<uint8_t> base64_decode(std::string_view s, const std::string& what) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::vector<uint8_t> out;
  uint32_t acc = 0;
  int bits = 0;
  for (char c : s) {
    if (c == '=' || c == '\n' || c == '\r' || c == ' ') continue;
    int v = val(c);
    if (v < 0) throw InputError(fmt::format("{}: invalid base64 character '{}'", what, c));
    acc = (acc << 6) | uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(uint8_t(acc >> bits));
    }
  }
  return out;
}

}  // namespace

Image decode_image(std::span<const uint8_t> bytes, const std::string& what) {
  if (bytes.empty()) throw InputError(fmt::format("{}: empty image", what));
  if (bytes.size() > limits::kImageBytes) {
    throw InputError(fmt::format("{}: {} bytes is more than the {} MiB an image may have", what,
                                 bytes.size(), limits::kImageBytes >> 20));
  }
  int w = 0, h = 0, comp = 0;
  const auto* data = reinterpret_cast<const stbi_uc*>(bytes.data());
  int len = int(bytes.size());
  if (!stbi_info_from_memory(data, len, &w, &h, &comp)) {
    throw InputError(
        fmt::format("{}: not a decodable image ({}); PNG, JPEG, BMP and GIF are "
                    "supported",
                    what, stbi_failure_reason()));
  }
  if (w <= 0 || h <= 0 || int64_t(w) * int64_t(h) > limits::kImagePixels) {
    throw InputError(fmt::format("{}: {}x{} pixels; at most {} Mpixel are accepted", what, w, h,
                                 limits::kImagePixels >> 20));
  }
  Image img;
  img.width = w;
  img.height = h;
  img.rgb.resize(size_t(w) * size_t(h) * 3);
  const size_t n = size_t(w) * size_t(h);
  if (stbi_is_16_bit_from_memory(data, len)) {
    std::unique_ptr<stbi_us, void (*)(void*)> px(
        stbi_load_16_from_memory(data, len, &w, &h, &comp, 0), stbi_image_free);
    if (!px) throw InputError(fmt::format("{}: corrupt image ({})", what, stbi_failure_reason()));
    for (size_t i = 0; i < n; ++i) {
      for (int c = 0; c < 3; ++c) {
        if (comp >= 3) {
          img.rgb[i * 3 + size_t(c)] = uint8_t(px.get()[i * size_t(comp) + size_t(c)] >> 8);
        } else {  // 16-bit gray: PIL opens it as "I" and clips to 255 converting to RGB
          img.rgb[i * 3 + size_t(c)] = uint8_t(std::min<int>(px.get()[i * size_t(comp)], 255));
        }
      }
    }
    if (comp == 2 || comp == 4) {  // PIL keeps the high byte of 16-bit alpha
      img.alpha.resize(n);
      for (size_t i = 0; i < n; ++i)
        img.alpha[i] = uint8_t(px.get()[i * size_t(comp) + size_t(comp - 1)] >> 8);
    }
    return img;
  }
  std::unique_ptr<stbi_uc, void (*)(void*)> px(stbi_load_from_memory(data, len, &w, &h, &comp, 0),
                                               stbi_image_free);
  if (!px) throw InputError(fmt::format("{}: corrupt image ({})", what, stbi_failure_reason()));
  for (size_t i = 0; i < n; ++i) {
    for (int c = 0; c < 3; ++c) {  // gray (and gray+alpha) replicate; alpha is dropped
      img.rgb[i * 3 + size_t(c)] = px.get()[i * size_t(comp) + size_t(comp >= 3 ? c : 0)];
    }
  }
  if (comp == 2 || comp == 4) {
    img.alpha.resize(n);
    for (size_t i = 0; i < n; ++i) img.alpha[i] = px.get()[i * size_t(comp) + size_t(comp - 1)];
  }
  return img;
}

Image composite_on_white(const Image& in) {
  if (in.alpha.empty()) return in;
  Image out{in.width, in.height, in.rgb, {}};
  for (size_t i = 0; i < in.alpha.size(); ++i) {
    const int a = in.alpha[i];
    for (size_t c = 0; c < 3; ++c) {  // PIL's BLEND: DIV255(out * (255 - a) + in * a)
      const int t = 255 * (255 - a) + int(in.rgb[i * 3 + c]) * a + 128;
      out.rgb[i * 3 + c] = uint8_t(((t >> 8) + t) >> 8);
    }
  }
  return out;
}

Image load_image(const std::string& source) {
  if (source.rfind("data:", 0) == 0) {
    auto comma = source.find(',');
    if (comma == std::string::npos ||
        source.substr(0, comma).find(";base64") == std::string::npos) {
      throw InputError("data: URL image: expected data:<type>;base64,<data>");
    }
    if ((source.size() - comma) / 4 * 3 > limits::kImageBytes) {
      throw InputError(fmt::format("data: URL image: more than the {} MiB an image may have",
                                   limits::kImageBytes >> 20));
    }
    auto bytes = base64_decode(std::string_view(source).substr(comma + 1), "data: URL image");
    return decode_image(bytes, "data: URL image");
  }
  std::ifstream f(source, std::ios::binary);
  if (!f) throw InputError(fmt::format("image {}: cannot open the file", source));
  std::error_code ec;
  if (uint64_t size = std::filesystem::file_size(source, ec); !ec && size > limits::kImageBytes) {
    throw InputError(fmt::format("image {}: {} bytes is more than the {} MiB an image may have",
                                 source, size, limits::kImageBytes >> 20));
  }
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  return decode_image(bytes, "image " + source);
}

}  // namespace vkllm::core
