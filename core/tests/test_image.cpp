// Image input and Qwen2-VL-style preprocessing against the reference (tests/data/images, made by
// tools/fixtures/make_qwen_vl_pixels.py with PIL and transformers' Qwen2VLImageProcessor):
// decoded RGB and PIL's bicubic resize exactly (JPEG within ±3 levels: stb's decoder is not
// libjpeg's), pixel_values within 1e-5 (f32 rounding; JPEG 0.05) and image_grid_thw exactly.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>

#include "core/vision/image.h"
#include "core/vision/preprocess.h"
#include "core/weights/safetensors.h"
#include "sdk/base/error.h"
#include "sdk/nn/mrope_positions.h"

namespace vkllm::test {
namespace {

const std::string kDir = std::string(VKLLM_TEST_DATA) + "/images/";

template <class T>
std::vector<T> read(const core::SafetensorsFile& f, const std::string& name) {
  auto b = f.bytes(f.tensors().at(name));
  std::vector<T> v(b.size() / sizeof(T));
  std::memcpy(v.data(), b.data(), b.size());
  return v;
}

int max_diff(const std::vector<uint8_t>& got, const std::vector<int32_t>& want) {
  EXPECT_EQ(got.size(), want.size());
  int worst = 0;
  for (size_t i = 0; i < std::min(got.size(), want.size()); ++i)
    worst = std::max(worst, std::abs(int(got[i]) - want[i]));
  return worst;
}

class Preprocess : public ::testing::TestWithParam<std::string> {};

TEST_P(Preprocess, MatchesThePilAndTransformersReference) {
  const std::string file = GetParam();
  const std::string stem = file.substr(0, file.rfind('.'));
  core::SafetensorsFile ref(kDir + stem + ".safetensors");
  const bool jpeg = file.ends_with(".jpg");
  core::Image img = core::load_image(kDir + file);
  EXPECT_LE(max_diff(img.rgb, read<int32_t>(ref, "rgb")), jpeg ? 3 : 0) << "decoded RGB";

  core::PatchOptions opt{.min_pixels = 56 * 56, .max_pixels = 28 * 28 * 16};
  auto grid = read<int32_t>(ref, "image_grid_thw");
  core::Patches p = core::merge_window_patches(img, opt);
  EXPECT_EQ((std::vector<int32_t>{p.grid_thw[0], p.grid_thw[1], p.grid_thw[2]}), grid);
  if (!jpeg) {  // resampling alone, from the reference's own decoded pixels
    core::Image exact{img.width, img.height, {}};
    for (int32_t v : read<int32_t>(ref, "rgb")) exact.rgb.push_back(uint8_t(v));
    core::Image r = core::resize_bicubic(exact, p.resized_width, p.resized_height);
    EXPECT_EQ(max_diff(r.rgb, read<int32_t>(ref, "resized")), 0) << "bicubic resize";
  }
  auto want = read<float>(ref, "pixel_values");
  ASSERT_EQ(p.values.size(), want.size());
  double worst = 0;
  for (size_t i = 0; i < want.size(); ++i)
    worst = std::max(worst, std::fabs(double(p.values[i]) - double(want[i])));
  EXPECT_LE(worst, jpeg ? 0.05 : 1e-5) << "pixel_values";
}

INSTANTIATE_TEST_SUITE_P(Images, Preprocess,
                         ::testing::Values("rgb_61x47.png", "rgba_150x100.png", "la_50x80.png",
                                           "gray16_90x70.png", "photo_160x120.jpg",
                                           "rgb_33x120.bmp", "pal_64x64.gif"),
                         [](const auto& param_info) {
                           std::string n = param_info.param;
                           for (auto& c : n)
                             if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
                           return n;
                         });

TEST(Preprocess, TwoImagesConcatenateInPromptOrder) {
  // The processor output the vision-language fixtures were made with (tests/data/qwen_vl).
  core::SafetensorsFile ref(std::string(VKLLM_TEST_DATA) +
                            "/qwen_vl/qwen2_vl/reference_two_images.safetensors");
  std::vector<float> got;
  std::vector<int32_t> grids;
  for (const char* f : {"rgb_61x47.png", "rgba_150x100.png"}) {
    auto p = core::merge_window_patches(core::load_image(kDir + f),
                                        {.min_pixels = 56 * 56, .max_pixels = 28 * 28 * 16});
    got.insert(got.end(), p.values.begin(), p.values.end());
    grids.insert(grids.end(), p.grid_thw.begin(), p.grid_thw.end());
  }
  EXPECT_EQ(grids, read<int32_t>(ref, "image_grid_thw"));
  auto want = read<float>(ref, "pixel_values");
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-5) << "value " << i;
}

TEST(MropePositions, MatchTheReferenceForOneAndTwoImages) {
  for (const char* variant : {"qwen2_vl", "qwen2_5_vl"}) {
    for (const char* c : {"one_image", "two_images"}) {
      core::SafetensorsFile ref(std::string(VKLLM_TEST_DATA) + "/qwen_vl/" + variant +
                                "/reference_" + c + ".safetensors");
      auto ids = read<int32_t>(ref, "input_ids");
      auto g = read<int32_t>(ref, "image_grid_thw");
      std::vector<std::array<int32_t, 3>> grids;
      for (size_t i = 0; i + 2 < g.size(); i += 3) grids.push_back({g[i], g[i + 1], g[i + 2]});
      auto pos = nn::mrope_positions(ids, 297, grids);
      auto want = read<int32_t>(ref, "position_ids");  // [3, T]
      std::vector<int32_t> got;
      for (const auto& row : pos.rows) got.insert(got.end(), row.begin(), row.end());
      EXPECT_EQ(got, want) << variant << " " << c;
      EXPECT_EQ(pos.next, *std::max_element(want.begin(), want.end()) + 1);
    }
  }
  // Runs and grids must agree.
  std::vector<int32_t> ids = {1, 5, 297, 297, 297, 297, 6};
  std::vector<std::array<int32_t, 3>> one = {{1, 4, 4}}, small = {{1, 2, 2}};
  EXPECT_NO_THROW(nn::mrope_positions(ids, 297, one));
  EXPECT_THROW(nn::mrope_positions(ids, 297, small), InputError);
  EXPECT_THROW(nn::mrope_positions(ids, 297, {}), InputError);
}

TEST(SmartResize, FollowsTheReference) {
  // Values from the reference. Python's round() sends halves to even: 70 / 28 = 2.5 -> 2.
  EXPECT_EQ(core::smart_resize(42, 70, 28, 56 * 56, 28 * 28 * 1280), (std::pair{56, 56}));
  EXPECT_EQ(core::smart_resize(1000, 2000, 28, 56 * 56, 28 * 28 * 256), (std::pair{308, 616}));
  EXPECT_EQ(core::smart_resize(30, 30, 28, 56 * 56, 28 * 28 * 1280), (std::pair{56, 56}));
  EXPECT_THROW(core::smart_resize(20, 100, 28, 56 * 56, 1 << 20), InputError);
  EXPECT_THROW(core::smart_resize(28, 28 * 201, 28, 56 * 56, 1 << 30), InputError);
}

TEST(ImageInput, BadImagesFailNamingTheInput) {
  auto expect_error = [](auto&& f, const std::string& needle) {
    try {
      f();
      ADD_FAILURE() << "no error";
    } catch (const InputError& e) {
      EXPECT_NE(std::string(e.what()).find(needle), std::string::npos) << e.what();
    }
  };
  expect_error([] { core::load_image("/nonexistent/cat.png"); }, "/nonexistent/cat.png");
  std::vector<uint8_t> junk(100, 0x42);
  expect_error([&] { core::decode_image(junk, "upload 3"); }, "upload 3");
  expect_error([] { core::decode_image({}, "upload 4"); }, "upload 4");
  // A truncated PNG.
  std::ifstream f(kDir + "rgb_61x47.png", std::ios::binary);
  std::vector<uint8_t> png((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  png.resize(png.size() / 2);
  expect_error([&] { core::decode_image(png, "half.png"); }, "half.png");
  // A header claiming 10000 x 10000 pixels is refused before any pixel is decoded.
  std::vector<uint8_t> huge = {0x89, 'P',  'N', 'G', 0x0d, 0x0a, 0x1a, 0x0a, 0,    0, 0,
                               13,   'I',  'H', 'D', 'R',  0,    0,    0x27, 0x10, 0, 0,
                               0x27, 0x10, 8,   2,   0,    0,    0,    0,    0,    0, 0};
  expect_error([&] { core::decode_image(huge, "huge.png"); }, "Mpixel");
  expect_error([] { core::load_image("data:image/png;base64,@@@"); }, "base64");
  expect_error([] { core::load_image("data:image/png,abc"); }, "data:");
}

TEST(ImageInput, DataUrlDecodesLikeTheFile) {
  std::ifstream f(kDir + "rgb_61x47.png", std::ios::binary);
  std::vector<uint8_t> png((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  static const char* tbl = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string b64;
  for (size_t i = 0; i < png.size(); i += 3) {
    uint32_t v = uint32_t(png[i]) << 16;
    if (i + 1 < png.size()) v |= uint32_t(png[i + 1]) << 8;
    if (i + 2 < png.size()) v |= png[i + 2];
    b64 += tbl[(v >> 18) & 63];
    b64 += tbl[(v >> 12) & 63];
    b64 += i + 1 < png.size() ? tbl[(v >> 6) & 63] : '=';
    b64 += i + 2 < png.size() ? tbl[v & 63] : '=';
  }
  auto a = core::load_image("data:image/png;base64," + b64);
  auto b = core::load_image(kDir + "rgb_61x47.png");
  EXPECT_EQ(a.rgb, b.rgb);
  EXPECT_EQ(a.width, 61);
}

}  // namespace
}  // namespace vkllm::test
