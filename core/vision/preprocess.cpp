#include "core/vision/preprocess.h"

#include <fmt/format.h>

#include <algorithm>
#include <cfenv>
#include <cmath>

#include "core/limits.h"
#include "sdk/base/error.h"
#include "sdk/nn/anyres.h"

namespace vkllm::core {

std::pair<int, int> smart_resize(int height, int width, int factor, int64_t min_pixels,
                                 int64_t max_pixels) {
  if (height < factor || width < factor) {
    throw InputError(fmt::format("image of {}x{} pixels: both sides must be at least {}", width,
                                 height, factor));
  }
  if (double(std::max(height, width)) / double(std::min(height, width)) > 200) {
    throw InputError(fmt::format("image of {}x{} pixels: aspect ratio above 200", width, height));
  }
  // Python's round(): halves go to the even neighbour (the default rounding mode).
  auto round_even = [](double x) { return int64_t(std::nearbyint(x)); };
  int64_t h = round_even(double(height) / factor) * factor;
  int64_t w = round_even(double(width) / factor) * factor;
  if (h * w > max_pixels) {
    double beta = std::sqrt(double(height) * double(width) / double(max_pixels));
    h = int64_t(std::floor(double(height) / beta / factor)) * factor;
    w = int64_t(std::floor(double(width) / beta / factor)) * factor;
  } else if (h * w < min_pixels) {
    double beta = std::sqrt(double(min_pixels) / (double(height) * double(width)));
    h = int64_t(std::ceil(double(height) * beta / factor)) * factor;
    w = int64_t(std::ceil(double(width) * beta / factor)) * factor;
  }
  return {int(h), int(w)};
}

namespace {

constexpr int kPrecisionBits = 32 - 8 - 2;

// PIL's filters and their support (Resample.c).
double bicubic(double x) {
  const double a = -0.5;
  x = std::fabs(x);
  if (x < 1.0) return ((a + 2.0) * x - (a + 3.0)) * x * x + 1;
  if (x < 2.0) return (((x - 5) * x + 8) * x - 4) * a;
  return 0.0;
}
double bilinear(double x) {
  x = std::fabs(x);
  return x < 1.0 ? 1.0 - x : 0.0;
}
struct Filter {
  double (*fn)(double);
  double support;
};
Filter filter_of(plugin::Resample r) {
  return r == plugin::Resample::bilinear ? Filter{bilinear, 1.0} : Filter{bicubic, 2.0};
}

// Per output pixel: first input index and fixed-point weights (PIL's precompute_coeffs and
// normalize_coeffs_8bpc).
struct Coeffs {
  std::vector<int> first, count;
  std::vector<std::vector<int32_t>> k;
};

Coeffs coeffs(int in_size, int out_size, Filter f) {
  double scale = double(in_size) / out_size, filterscale = std::max(scale, 1.0);
  double support = f.support * filterscale;
  Coeffs c;
  for (int xx = 0; xx < out_size; ++xx) {
    double center = (xx + 0.5) * scale, ss = 1.0 / filterscale;
    int xmin = std::max(int(center - support + 0.5), 0);
    int xmax = std::min(int(center + support + 0.5), in_size) - xmin;
    std::vector<double> w(size_t(std::max(xmax, 0)));
    double ww = 0;
    for (int x = 0; x < xmax; ++x) ww += w[size_t(x)] = f.fn((x + xmin - center + 0.5) * ss);
    std::vector<int32_t> k(w.size());
    for (size_t x = 0; x < w.size(); ++x) {
      double v = ww != 0.0 ? w[x] / ww : w[x];
      k[x] = v < 0 ? int32_t(-0.5 + v * (1 << kPrecisionBits))
                   : int32_t(0.5 + v * (1 << kPrecisionBits));
    }
    c.first.push_back(xmin);
    c.count.push_back(xmax);
    c.k.push_back(std::move(k));
  }
  return c;
}

uint8_t clip8(int64_t v) {
  if (v >= (int64_t(1) << kPrecisionBits) << 8) return 255;
  if (v <= 0) return 0;
  return uint8_t(v >> kPrecisionBits);
}

}  // namespace

Image resize(const Image& in, int width, int height, plugin::Resample filter) {
  if (width <= 0 || height <= 0) throw InputError("resize: target size must be positive");
  // A processor's rule can ask for far more pixels than it was given (a 1-pixel-wide image whose
  // shorter side goes to 336): the decoded-pixel limit holds for what resizing makes too.
  if (int64_t(width) * height > limits::kImagePixels ||
      int64_t(width) * in.height > limits::kImagePixels) {
    throw InputError(fmt::format(
        "resizing a {}x{} image to {}x{} exceeds the limit of {} Mpixel (an extreme aspect "
        "ratio?)",
        in.width, in.height, width, height, limits::kImagePixels >> 20));
  }
  const Filter f = filter_of(filter);
  Image cur = in;
  if (width != in.width) {  // horizontal pass first, as PIL does
    Coeffs c = coeffs(in.width, width, f);
    Image out{width, in.height, std::vector<uint8_t>(size_t(width) * size_t(in.height) * 3)};
    for (int y = 0; y < in.height; ++y)
      for (int x = 0; x < width; ++x)
        for (int ch = 0; ch < 3; ++ch) {
          int64_t ss = int64_t(1) << (kPrecisionBits - 1);
          for (int i = 0; i < c.count[size_t(x)]; ++i)
            ss += int64_t(cur.at(y, c.first[size_t(x)] + i, ch)) * c.k[size_t(x)][size_t(i)];
          out.rgb[(size_t(y) * size_t(width) + size_t(x)) * 3 + size_t(ch)] = clip8(ss);
        }
    cur = std::move(out);
  }
  if (height != in.height) {
    Coeffs c = coeffs(in.height, height, f);
    Image out{cur.width, height, std::vector<uint8_t>(size_t(cur.width) * size_t(height) * 3)};
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < cur.width; ++x)
        for (int ch = 0; ch < 3; ++ch) {
          int64_t ss = int64_t(1) << (kPrecisionBits - 1);
          for (int i = 0; i < c.count[size_t(y)]; ++i)
            ss += int64_t(cur.at(c.first[size_t(y)] + i, x, ch)) * c.k[size_t(y)][size_t(i)];
          out.rgb[(size_t(y) * size_t(cur.width) + size_t(x)) * 3 + size_t(ch)] = clip8(ss);
        }
    cur = std::move(out);
  }
  return cur;
}

std::vector<Image> pan_and_scan(const Image& img, const PanAndScan& o) {
  if (!o.enabled) return {};
  const int w = img.width, h = img.height;
  const bool landscape = w >= h;
  const double ratio = landscape ? double(w) / h : double(h) / w;
  if (ratio < o.min_ratio_to_activate) return {};
  const int long_side = landscape ? w : h;
  int n = int(std::floor(ratio + 0.5));  // half rounds up
  n = std::min(int(std::floor(double(long_side) / o.min_crop_size)), n);
  n = std::min(o.max_num_crops, std::max(2, n));
  const int nw = landscape ? n : 1, nh = landscape ? 1 : n;
  const int cw = int(std::ceil(double(w) / nw)), ch = int(std::ceil(double(h) / nh));
  if (std::min(cw, ch) < o.min_crop_size) return {};
  std::vector<Image> crops;
  for (int i = 0; i < nh; ++i)
    for (int j = 0; j < nw; ++j) {
      const int y0 = i * ch, x0 = j * cw;
      const int y1 = std::min(y0 + ch, h), x1 = std::min(x0 + cw, w);  // clipped at the border
      Image c{x1 - x0, y1 - y0, {}};
      c.rgb.reserve(size_t(c.width) * size_t(c.height) * 3);
      for (int y = y0; y < y1; ++y)
        c.rgb.insert(c.rgb.end(), img.rgb.begin() + (size_t(y) * size_t(w) + size_t(x0)) * 3,
                     img.rgb.begin() + (size_t(y) * size_t(w) + size_t(x1)) * 3);
      crops.push_back(std::move(c));
    }
  return crops;
}

std::pair<int, int> longest_edge_resize(int height, int width, int longest_edge, int factor) {
  if (height <= 0 || width <= 0 || longest_edge <= 0 || factor <= 0)
    throw InputError(fmt::format("image of {}x{} pixels cannot be resized", width, height));
  const double ratio = std::max(double(height) / longest_edge, double(width) / longest_edge);
  if (ratio > 1) {  // floor, as the reference does, so that the result stays within the limit
    height = std::max(1, int(std::floor(height / ratio)));
    width = std::max(1, int(std::floor(width / ratio)));
  }
  return {((height - 1) / factor + 1) * factor, ((width - 1) / factor + 1) * factor};
}

std::pair<int, int> shortest_edge_size(int height, int width, int shortest_edge) {
  if (height <= 0 || width <= 0 || shortest_edge <= 0)
    throw InputError(fmt::format("image of {}x{} pixels cannot be resized", width, height));
  const int s = std::min(height, width), l = std::max(height, width);
  const int longer = std::max(1, int(int64_t(shortest_edge) * l / s));  // int(short * long / s)
  return width <= height ? std::pair{longer, shortest_edge} : std::pair{shortest_edge, longer};
}

namespace {

// The h x w window at (top, left) of `in`, zero outside it.
Image window(const Image& in, int top, int left, int height, int width) {
  Image out{width, height, std::vector<uint8_t>(size_t(width) * size_t(height) * 3, 0)};
  for (int y = std::max(0, -top); y < height && top + y < in.height; ++y) {
    const int x0 = std::max(0, -left), x1 = std::min(width, in.width - left);
    if (x1 <= x0) continue;
    std::copy_n(in.rgb.begin() + (size_t(top + y) * size_t(in.width) + size_t(left + x0)) * 3,
                size_t(x1 - x0) * 3,
                out.rgb.begin() + (size_t(y) * size_t(width) + size_t(x0)) * 3);
  }
  return out;
}

// CLIPImageProcessor: the shorter side to shortest_edge, then the centre crop.
Image shortest_edge_crop(const Image& in, const PatchOptions& o) {
  auto [h, w] = shortest_edge_size(in.height, in.width, o.shortest_edge);
  const Image r = (h == in.height && w == in.width) ? in : resize(in, w, h, o.resample);
  return center_crop(r, o.height, o.width);
}

// Rescale (in double, stored as f32) and normalise (in f32), as the reference does, then the
// patches of one h x w image appended to `out` in merge-window order.
void append_patches(const Image& r, const PatchOptions& o, std::vector<float>& out) {
  const int P = o.patch_size, M = o.merge_size, T = o.temporal_patch_size;
  const int h = r.height, w = r.width;
  std::vector<float> px(size_t(h) * size_t(w) * 3);
  for (size_t i = 0; i < px.size(); ++i) {
    int c = int(i % 3);
    float v = float(double(r.rgb[i]) * o.rescale);
    px[i] = (v - o.mean[size_t(c)]) / o.std[size_t(c)];
  }
  const int gh = h / P, gw = w / P;
  for (int bh = 0; bh < gh / M; ++bh)
    for (int bw = 0; bw < gw / M; ++bw)
      for (int mh = 0; mh < M; ++mh)
        for (int mw = 0; mw < M; ++mw)
          for (int c = 0; c < 3; ++c)
            for (int t = 0; t < T; ++t)  // one frame repeated over the temporal patch
              for (int py = 0; py < P; ++py)
                for (int pxl = 0; pxl < P; ++pxl) {
                  int y = (bh * M + mh) * P + py, x = (bw * M + mw) * P + pxl;
                  out.push_back(px[(size_t(y) * size_t(w) + size_t(x)) * 3 + size_t(c)]);
                }
}

}  // namespace

Image center_crop(const Image& in, int height, int width) {
  if (height <= 0 || width <= 0) throw InputError("center crop: size must be positive");
  if (height == in.height && width == in.width) return in;
  // Python's floor division: a crop larger than the image is centred on zeros with the extra
  // pixel (odd difference) at the start.
  auto floor_half = [](int d) { return d >= 0 ? d / 2 : -((1 - d) / 2); };
  return window(in, floor_half(in.height - height), floor_half(in.width - width), height, width);
}

std::vector<Image> anyres_images(const Image& image, const PatchOptions& o,
                                 std::array<int, 2>& tiles) {
  const auto [bh, bw] = nn::anyres_best_resolution(image.height, image.width, o.grid_pinpoints);
  const int th = o.height, tw = o.width;
  if (bh <= 0 || bw <= 0 || bh % th || bw % tw)
    throw InputError(fmt::format("AnyRes resolution {}x{} is not a multiple of the {}x{} tiles", bw,
                                 bh, tw, th));
  // Fit (aspect kept, the other side ceil'ed), centred on black.
  const double sw = double(bw) / image.width, sh = double(bh) / image.height;
  int nh = bh, nw = bw;
  if (sw < sh)
    nh = std::min(int(std::ceil(image.height * sw)), bh);
  else
    nw = std::min(int(std::ceil(image.width * sh)), bw);
  const Image fitted =
      (nh == image.height && nw == image.width) ? image : resize(image, nw, nh, o.resample);
  const Image canvas = window(fitted, -((bh - nh) / 2), -((bw - nw) / 2), bh, bw);
  std::vector<Image> out;
  const Image base = (image.height == o.shortest_edge && image.width == o.shortest_edge)
                         ? image
                         : resize(image, o.shortest_edge, o.shortest_edge, o.resample);
  out.push_back(shortest_edge_crop(base, o));
  tiles = {bh / th, bw / tw};
  for (int y = 0; y < bh; y += th)
    for (int x = 0; x < bw; x += tw)
      out.push_back(shortest_edge_crop(window(canvas, y, x, th, tw), o));
  return out;
}

int64_t max_patches_per_image(const PatchOptions& o) {
  using plugin::ImageResize;
  const int64_t P = std::max(1, o.patch_size), PM = P * std::max(1, o.merge_size);
  switch (o.resize) {
    case ImageResize::fixed:
    case ImageResize::shortest_edge_crop:
      return (o.height / P) * (o.width / P);
    case ImageResize::anyres: {
      int64_t tiles = 0;
      for (const auto& [ph, pw] : o.grid_pinpoints)
        tiles = std::max<int64_t>(
            tiles, int64_t(ph / std::max(1, o.height)) * (pw / std::max(1, o.width)));
      return (1 + tiles) * (o.height / P) * (o.width / P);
    }
    case ImageResize::longest_edge: {
      const int64_t side = (o.longest_edge + PM - 1) / PM * PM;
      return (side / P) * (side / P);
    }
    case ImageResize::smart:
      return o.max_pixels / (P * P);
  }
  return 0;
}

Patches merge_window_patches(const Image& input, const PatchOptions& o) {
  const int P = o.patch_size, M = o.merge_size, T = o.temporal_patch_size;
  Image flattened;
  if (o.alpha_on_white && !input.alpha.empty()) flattened = composite_on_white(input);
  const Image& image = flattened.rgb.empty() ? input : flattened;
  // The size each image (or AnyRes tile) reaches the tower at.
  using plugin::ImageResize;
  const bool tower_size = o.resize == ImageResize::fixed || o.resize == ImageResize::anyres ||
                          o.resize == ImageResize::shortest_edge_crop;
  const auto [h, w] =
      tower_size ? std::pair{o.height, o.width}
      : o.resize == ImageResize::longest_edge
          ? longest_edge_resize(image.height, image.width, o.longest_edge, P * M)
          : smart_resize(image.height, image.width, P * M, o.min_pixels, o.max_pixels);
  if (h <= 0 || w <= 0 || h % (P * M) || w % (P * M)) {
    throw InputError(fmt::format("image size {}x{} is not a positive multiple of patch x merge {}",
                                 w, h, P * M));
  }
  std::vector<Image> subs;
  Patches out;
  if (o.resize == ImageResize::anyres) {
    subs = anyres_images(image, o, out.tiles);
    out.original_size = {image.height, image.width};
  } else if (o.resize == ImageResize::shortest_edge_crop) {
    subs.push_back(shortest_edge_crop(image, o));
  } else {
    subs.push_back((h == image.height && w == image.width) ? image
                                                           : resize(image, w, h, o.resample));
  }
  const int gh = h / P, gw = w / P;
  out.grid_thw = {int(subs.size()), gh, gw};
  out.resized_height = h;
  out.resized_width = w;
  out.rows = int64_t(subs.size()) * gh * gw;
  out.cols = int64_t(3) * T * P * P;
  out.values.reserve(size_t(out.rows * out.cols));
  for (const Image& sub : subs) append_patches(sub, o, out.values);
  return out;
}

}  // namespace vkllm::core
