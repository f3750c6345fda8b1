#include "core/vision/prompt.h"

#include <fmt/format.h>

#include <algorithm>
#include <filesystem>

#include "core/model.h"
#include "sdk/base/error.h"
#include "sdk/base/json_get.h"
#include "sdk/nn/anyres.h"
#include "sdk/nn/mrope_positions.h"

namespace vkllm::core {

namespace {

// The sizes of a tower that takes one fixed size: a processor that resizes to it (size.height /
// width) or one that resizes the shorter side and crops the centre (size.shortest_edge and
// crop_size, CLIPImageProcessor's); the file says which. AnyRes keeps its mode and takes the
// file's shortest_edge, crop_size and image_grid_pinpoints.
void read_fixed_size(const nlohmann::json& pp, const std::string& where, PatchOptions& o) {
  auto int_at = [&](const nlohmann::json& j, const char* key, int fallback) {
    if (!j.is_object() || !j.contains(key) || j[key].is_null()) return fallback;
    return json::as<int>(j[key], fmt::format("{}: \"{}\"", where, key));
  };
  const nlohmann::json size = pp.contains("size") ? pp["size"] : nlohmann::json();
  int h = o.height, w = o.width;
  if (size.is_number_integer()) {  // older CLIP processors: "size": 224
    o.shortest_edge = int_at(pp, "size", o.shortest_edge);
    if (o.resize == plugin::ImageResize::fixed) o.resize = plugin::ImageResize::shortest_edge_crop;
  } else if (size.is_object() && size.contains("shortest_edge")) {
    o.shortest_edge = int_at(size, "shortest_edge", o.shortest_edge);
    if (o.resize == plugin::ImageResize::fixed) o.resize = plugin::ImageResize::shortest_edge_crop;
  } else if (size.is_object() && o.resize != plugin::ImageResize::anyres) {
    h = int_at(size, "height", h);
    w = int_at(size, "width", w);
    o.resize = plugin::ImageResize::fixed;
  }
  if (o.resize != plugin::ImageResize::fixed && pp.contains("crop_size")) {
    const auto& c = pp["crop_size"];
    h = c.is_object() ? int_at(c, "height", h) : int_at(pp, "crop_size", h);
    w = c.is_object() ? int_at(c, "width", w) : int_at(pp, "crop_size", w);
    if (!json::get_or<bool>(pp, "do_center_crop", true, where))
      throw ModelError(
          fmt::format("{}: do_center_crop false leaves images of other sizes than "
                      "the {}x{} the vision tower takes",
                      where, o.width, o.height));
  }
  if (h != o.height || w != o.width) {
    throw ModelError(fmt::format("{}: size {}x{} differs from the {}x{} the vision tower takes",
                                 where, w, h, o.width, o.height));
  }
  if (o.resize != plugin::ImageResize::fixed && (o.shortest_edge <= 0 || o.shortest_edge > 1 << 14))
    throw ModelError(
        fmt::format("{}: size.shortest_edge {} is out of range", where, o.shortest_edge));
  if (o.resize == plugin::ImageResize::anyres && pp.contains("image_grid_pinpoints")) {
    const std::string pw = where + ": \"image_grid_pinpoints\"";
    o.grid_pinpoints.clear();
    const auto& list = pp["image_grid_pinpoints"];
    if (!list.is_array()) throw ModelError(pw + " is not a list");
    for (const auto& r : list) {
      if (!r.is_array() || r.size() != 2) throw ModelError(pw + " has an entry that is not [h, w]");
      o.grid_pinpoints.push_back({json::as<int>(r[0], pw), json::as<int>(r[1], pw)});
    }
  }
  if (o.resize == plugin::ImageResize::anyres) {
    if (o.grid_pinpoints.empty()) throw ModelError(where + ": no image_grid_pinpoints");
    for (const auto& [ph, pw] : o.grid_pinpoints)
      if (ph <= 0 || pw <= 0 || ph % o.height || pw % o.width || ph > 1 << 14 || pw > 1 << 14)
        throw ModelError(
            fmt::format("{}: grid pinpoint {}x{} is not a positive multiple of the {}x{} tiles",
                        where, pw, ph, o.width, o.height));
  }
}

}  // namespace

PatchOptions patch_options(const plugin::VisionSpec& spec, const std::string& folder) {
  const std::string where = (std::filesystem::path(folder) / "preprocessor_config.json").string();
  nlohmann::json pp;
  if (std::filesystem::exists(where)) pp = read_json_file(where);
  return patch_options(spec, pp, where);
}

PatchOptions patch_options(const plugin::VisionSpec& spec, const nlohmann::json& pp,
                           const std::string& where) {
  PatchOptions o;
  o.patch_size = spec.patch_size;
  o.merge_size = spec.merge_size;
  o.temporal_patch_size = spec.temporal_patch_size;
  o.resize = spec.resize;
  o.resample = spec.resample;
  o.height = spec.image_height;
  o.width = spec.image_width;
  o.longest_edge = spec.longest_edge;
  o.shortest_edge = spec.shortest_edge;
  o.grid_pinpoints = spec.grid_pinpoints;
  o.alpha_on_white = spec.alpha_on_white;
  o.mean = spec.image_mean;
  o.std = spec.image_std;
  if (!pp.is_object()) return o;
  auto num = [&](const nlohmann::json& j, const char* key, auto& out) {
    if (!j.contains(key) || j[key].is_null()) return;
    out = json::as<std::decay_t<decltype(out)>>(j[key], fmt::format("{}: \"{}\"", where, key));
  };
  if (o.resize == plugin::ImageResize::smart) {
    num(pp, "min_pixels", o.min_pixels);
    num(pp, "max_pixels", o.max_pixels);
    if (pp.contains("size") &&
        pp["size"].is_object()) {  // newer processors: size.{shortest,longest}_edge
      num(pp["size"], "shortest_edge", o.min_pixels);
      num(pp["size"], "longest_edge", o.max_pixels);
    }
  } else if (o.resize == plugin::ImageResize::longest_edge) {
    if (pp.contains("size") && pp["size"].is_object())
      num(pp["size"], "longest_edge", o.longest_edge);
    if (o.longest_edge <= 0 || o.longest_edge > (1 << 16))
      throw ModelError(
          fmt::format("{}: size.longest_edge {} is out of range", where, o.longest_edge));
  } else {
    read_fixed_size(pp, where, o);
  }
  if (spec.pan_and_scan) {
    auto& ps = o.pan_scan;
    ps.enabled = json::get_or<bool>(pp, "do_pan_and_scan", false, where);
    ps.min_crop_size = json::get_or(pp, "pan_and_scan_min_crop_size", ps.min_crop_size, where);
    ps.max_num_crops = json::get_or(pp, "pan_and_scan_max_num_crops", ps.max_num_crops, where);
    ps.min_ratio_to_activate =
        json::get_or(pp, "pan_and_scan_min_ratio_to_activate", ps.min_ratio_to_activate, where);
    if (ps.min_crop_size <= 0 || ps.max_num_crops < 2 || !(ps.min_ratio_to_activate >= 1.0))
      throw ModelError(fmt::format("{}: pan-and-scan settings are invalid", where));
  }
  if (pp.contains("resample") && !pp["resample"].is_null()) {
    int r = json::as<int>(pp["resample"], where + ": \"resample\"");
    if (r != 2 && r != 3)
      throw ModelError(
          fmt::format("{}: resample {} is not supported (2 bilinear, 3 bicubic)", where, r));
    o.resample = r == 2 ? plugin::Resample::bilinear : plugin::Resample::bicubic;
  }
  num(pp, "rescale_factor", o.rescale);
  for (auto [key, out] : {std::pair{"image_mean", &o.mean}, std::pair{"image_std", &o.std}}) {
    if (!pp.contains(key)) continue;
    const auto& v = pp[key];
    if (!v.is_array() || v.size() != 3 || !v[0].is_number() || !v[1].is_number() ||
        !v[2].is_number())
      throw ModelError(fmt::format("{}: \"{}\" must be three numbers", where, key));
    for (size_t c = 0; c < 3; ++c) (*out)[c] = json::as<float>(v[c], where + ": " + key);
  }
  int patch = o.patch_size, merge = o.merge_size, temporal = o.temporal_patch_size;
  if (pp.contains("patch_size") && pp["patch_size"].is_object()) {  // {"height": p, "width": p}
    int ph = patch, pw = patch;
    num(pp["patch_size"], "height", ph);
    num(pp["patch_size"], "width", pw);
    if (ph != pw)
      throw ModelError(fmt::format("{}: patch_size {}x{} is not square", where, pw, ph));
    patch = ph;
  } else {
    num(pp, "patch_size", patch);
  }
  num(pp, "merge_size", merge);
  num(pp, "temporal_patch_size", temporal);
  if (patch != o.patch_size || merge != o.merge_size || temporal != o.temporal_patch_size) {
    throw ModelError(fmt::format(
        "{}: patch {} / merge {} / temporal {} disagree with the model's vision config ({} / {} / "
        "{})",
        where, patch, merge, temporal, o.patch_size, o.merge_size, o.temporal_patch_size));
  }
  if (o.min_pixels <= 0 || o.max_pixels < o.min_pixels)
    throw ModelError(
        fmt::format("{}: pixel limits [{}, {}] are invalid", where, o.min_pixels, o.max_pixels));
  return o;
}

namespace {

ContentHash image_hash(const Image& img, const PatchOptions& o) {
  // The pixels and everything that shapes the features: size and preprocessing.
  std::vector<uint8_t> salt_bytes;
  auto put = [&](const void* p, size_t n) {
    auto b = static_cast<const uint8_t*>(p);
    salt_bytes.insert(salt_bytes.end(), b, b + n);
  };
  put(&img.width, sizeof img.width);
  put(&img.height, sizeof img.height);
  put(&o.patch_size, sizeof o.patch_size);
  put(&o.merge_size, sizeof o.merge_size);
  put(&o.temporal_patch_size, sizeof o.temporal_patch_size);
  put(&o.min_pixels, sizeof o.min_pixels);
  put(&o.max_pixels, sizeof o.max_pixels);
  put(&o.resize, sizeof o.resize);
  put(&o.resample, sizeof o.resample);
  put(&o.height, sizeof o.height);
  put(&o.width, sizeof o.width);
  put(o.mean.data(), sizeof o.mean);
  put(o.std.data(), sizeof o.std);
  put(&o.rescale, sizeof o.rescale);
  put(&o.longest_edge, sizeof o.longest_edge);
  put(&o.alpha_on_white, sizeof o.alpha_on_white);
  put(&o.shortest_edge, sizeof o.shortest_edge);
  put(o.grid_pinpoints.data(), o.grid_pinpoints.size() * sizeof o.grid_pinpoints[0]);
  ContentHash s = content_hash(salt_bytes);
  ContentHash h = content_hash(img.rgb, s.lo ^ (s.hi * 0x9e3779b97f4a7c15ull));
  // Composited over white, transparency changes what the tower sees.
  if (o.alpha_on_white && !img.alpha.empty())
    h = content_hash(img.alpha, h.lo ^ (h.hi * 0x9e3779b97f4a7c15ull));
  return h;
}

// The ids of one image's run: its image tokens, with row separators when the spec has them
// (image x w, row_break, ..., image x w, vision_end).
std::vector<int32_t> image_run(const plugin::VisionSpec& spec, const Patches& p,
                               int64_t per_token) {
  const int64_t rows = p.grid_thw[0] * (p.grid_thw[1] / per_token),
                cols = p.grid_thw[2] / per_token;
  if (spec.resize == plugin::ImageResize::anyres) {
    const int side = int(p.grid_thw[1] / per_token);
    return std::vector<int32_t>(
        size_t(nn::anyres_tokens(p.original_size[0], p.original_size[1], p.tiles, side,
                                 int64_t(side) * side + spec.extra_tokens, spec.image_newline)),
        spec.image_token);
  }
  if (spec.extra_tokens != 0 && spec.row_break < 0)
    return std::vector<int32_t>(size_t(rows * cols + spec.extra_tokens), spec.image_token);
  std::vector<int32_t> run;
  for (int64_t r = 0; r < rows; ++r) {
    run.insert(run.end(), size_t(cols), spec.image_token);
    if (spec.row_break >= 0) run.push_back(r + 1 < rows ? spec.row_break : spec.vision_end);
  }
  return run;
}

}  // namespace

std::string expand_image_markers(const std::string& text, const plugin::VisionSpec& spec,
                                 const Tokenizer& tokenizer, std::span<const int> crops) {
  if (!spec.expand_vision_start) return text;
  const std::string& marker = tokenizer.token(spec.vision_start);
  if (marker.empty()) return text;
  const std::string run = spec.text_around + marker + tokenizer.token(spec.image_token) +
                          tokenizer.token(spec.vision_end) + spec.text_around;
  std::string out;
  size_t at = 0, image = 0;
  for (size_t hit; (hit = text.find(marker, at)) != std::string::npos;
       at = hit + marker.size(), ++image) {
    out += text.substr(at, hit - at);
    const int n = image < crops.size() ? crops[image] : 0;
    if (n > 0) {  // the image, then its crops
      out += spec.pan_scan_intro + run + spec.pan_scan_crops + run;
      for (int k = 1; k < n; ++k) out += " " + run;
    } else {
      out += run;
    }
  }
  return out + text.substr(at);
}

ImagePrompt layout_images(std::vector<int32_t> ids, const std::vector<Image>& images,
                          const plugin::VisionSpec& spec, const PatchOptions& opt,
                          std::optional<int32_t> bos) {
  const int32_t pad = spec.image_token;
  ImagePrompt out;
  std::vector<std::vector<int32_t>> runs;  // each image's ids
  for (size_t i = 0; i < images.size(); ++i) {
    PromptImage pi;
    pi.patches = merge_window_patches(images[i], opt);
    pi.hash = image_hash(images[i], opt);
    runs.push_back(image_run(spec, pi.patches, int64_t(opt.merge_size) * spec.token_pool));
    pi.tokens = int64_t(runs.back().size());
    out.images.push_back(std::move(pi));
  }
  if (!images.empty() && std::find(ids.begin(), ids.end(), pad) == ids.end()) {
    std::vector<int32_t> marks;
    for (size_t i = 0; i < images.size(); ++i) {
      if (spec.vision_start >= 0) marks.push_back(spec.vision_start);
      marks.push_back(pad);
      if (spec.vision_end >= 0 && spec.row_break < 0) marks.push_back(spec.vision_end);
    }
    auto at = ids.begin() + (bos && !ids.empty() && ids[0] == *bos ? 1 : 0);
    ids.insert(at, marks.begin(), marks.end());
  }
  // Expand the runs.
  size_t image = 0;
  for (size_t i = 0; i < ids.size();) {
    if (ids[i] != pad) {
      out.ids.push_back(ids[i]);
      out.keys.push_back(uint64_t(uint32_t(ids[i])));
      ++i;
      continue;
    }
    size_t run = 0;
    while (i + run < ids.size() && ids[i + run] == pad) ++run;
    // With row separators an image's expanded run has many placeholders in a row, so adjacent
    // placeholders are adjacent images (the template's "[IMG][IMG]") unless they spell one
    // image's full layout.
    if (spec.row_break >= 0) run = 1;
    ++image;
    if (image > images.size()) {
      throw InputError(
          fmt::format("the prompt has more image placeholder runs than the {} "
                      "image(s) given (run {} at token {})",
                      images.size(), image, i));
    }
    PromptImage& pi = out.images[image - 1];
    const std::vector<int32_t>& want = runs[image - 1];
    if (want.size() > 1 && i + want.size() <= ids.size() &&
        std::equal(want.begin(), want.end(), ids.begin() + long(i))) {
      run = want.size();  // already expanded (a processor's ids, separators included)
    } else if (run != 1) {
      throw InputError(fmt::format(
          "image {} ({}x{} patches) needs {} placeholder tokens (id {}) or one to expand; the "
          "prompt has {} at token {}",
          image, pi.patches.grid_thw[1], pi.patches.grid_thw[2], pi.tokens, pad, run, i));
    }
    pi.first = int64_t(out.ids.size());
    auto keys = image_token_keys(pi.hash, pi.tokens);
    out.ids.insert(out.ids.end(), want.begin(), want.end());
    out.keys.insert(out.keys.end(), keys.begin(), keys.end());
    i += run;
  }
  if (image != images.size()) {
    throw InputError(fmt::format("{} image(s) given but the prompt has {} image placeholder run(s)",
                                 images.size(), image));
  }
  if (spec.mrope) {
    std::vector<std::array<int32_t, 3>> grids;
    for (const auto& pi : out.images)
      grids.push_back({pi.patches.grid_thw[0], pi.patches.grid_thw[1], pi.patches.grid_thw[2]});
    auto m = nn::mrope_positions(out.ids, pad, grids, opt.merge_size);
    const size_t T = out.ids.size();
    int32_t top = 0;
    for (size_t t = 0; t < T; ++t) {
      for (int r = 0; r < 3; ++r) top = std::max(top, m.rows[size_t(r)][t] + 1);
      out.next.push_back(top);
    }
    for (int r = 0; r < 3; ++r)
      out.positions.insert(out.positions.end(), m.rows[size_t(r)].begin(), m.rows[size_t(r)].end());
  } else {
    for (size_t t = 0; t < out.ids.size(); ++t) out.next.push_back(int32_t(t + 1));
  }
  return out;
}

}  // namespace vkllm::core
