#include <filesystem>

#include "sdk/base/error.h"
#include "sdk/ops/elementwise.h"
#include "sdk/tests/fixture.h"
#include "sdk/vk/check.h"
#include "sdk/vk/pipeline.h"

namespace vkllm::test {
namespace {

class DeviceTest : public SdkTest {};

TEST_F(DeviceTest, ListsDevicesWithFeatures) {
  auto devs = sdk::list_devices();
  ASSERT_FALSE(devs.empty());
  for (const auto& f : devs) {
    EXPECT_FALSE(f.name.empty());
    EXPECT_GE(f.subgroup_size, 1u);
    EXPECT_GT(f.max_storage_buffer_range, 0u);
    EXPECT_GT(f.shared_memory_bytes, 0u);
  }
  EXPECT_EQ(dev().features().name, devs[dev().features().index].name);
}

TEST_F(DeviceTest, SelectsByIndexAndName) {
  auto devs = sdk::list_devices();
  DeviceOptions o;
  o.select = "0";
  EXPECT_EQ(sdk::Device::create(o)->features().name, devs[0].name);
  o.select = devs[0].name.substr(0, 4);
  EXPECT_NE(sdk::Device::create(o)->features().name.find(o.select), std::string::npos);
}

TEST_F(DeviceTest, UnknownDeviceNamesTheDevices) {
  DeviceOptions o;
  o.select = "no-such-gpu-xyz";
  try {
    sdk::Device::create(o);
    FAIL() << "expected DeviceError";
  } catch (const DeviceError& e) {
    std::string msg = e.what();
    EXPECT_NE(msg.find("no-such-gpu-xyz"), std::string::npos) << msg;
    EXPECT_NE(msg.find(sdk::list_devices()[0].name), std::string::npos) << msg;
  }
}

TEST_F(DeviceTest, ValidationLayerCountsMisuse) {
  DeviceOptions o = DeviceOptions::from_env();
  o.validation = true;
  auto d = sdk::Device::create(o);
  if (!d->validation_enabled()) GTEST_SKIP() << "VK_LAYER_KHRONOS_validation is not installed";
  // A buffer view whose range is not a multiple of the texel size is invalid usage.
  auto t = sdk::Tensor::allocate(d->weights(), Dtype::f32, {16});
  auto ci = sdk::vk_struct<VkBufferViewCreateInfo>(VK_STRUCTURE_TYPE_BUFFER_VIEW_CREATE_INFO);
  ci.buffer = t.block().buffer();
  ci.format = VK_FORMAT_R32G32B32A32_UINT;
  ci.offset = 0;
  ci.range = 20;
  VkBufferView view = VK_NULL_HANDLE;
  uint64_t before = d->validation_messages();
  vkCreateBufferView(d->vk(), &ci, nullptr, &view);
  if (view) vkDestroyBufferView(d->vk(), view, nullptr);
  EXPECT_GT(d->validation_messages(), before);
  test::expect_validation_messages(d->validation_messages() - before);
}

TEST_F(DeviceTest, RuntimeGlslCompilesAndCaches) {
  namespace fs = std::filesystem;
  fs::path dir = fs::temp_directory_path() / fmt::format("vkllm-spirv-{}", rng()());
  DeviceOptions o = DeviceOptions::from_env();
  o.cache_dir = dir.string();
  const std::string src = R"(#version 450
layout(local_size_x = 8) in;
layout(binding = 0) uniform usamplerBuffer X;
layout(binding = 1) buffer Y { float y[]; };
layout(push_constant) uniform PC { uint o_x, o_y, n; } pc;
void main() {
  uint i = gl_GlobalInvocationID.x;
  if (i < pc.n) y[pc.o_y + i] = 3.0 * uintBitsToFloat(texelFetch(X, int(pc.o_x + i)).x);
})";
  sdk::KernelDesc desc{"plugin_triple", {sdk::Binding::words, sdk::Binding::storage}, 4};
  for (int round = 0; round < 2; ++round) {
    auto d = sdk::Device::create(o);
    d->pipelines().register_glsl("plugin_triple", src);
    EXPECT_EQ(d->pipelines().spirv_cache_hits(), uint64_t(round));
    auto x = sdk::Tensor::allocate(d->weights(), Dtype::f32, {5});
    sdk::upload_f32(x, std::vector<float>{1, 2, 3, 4, 5});
    sdk::Graph g(d);
    auto y = g.alloc(Dtype::f32, {5});
    uint32_t n = 5;
    g.dispatch(desc, {&x, &y}, &n, 4, {1, 1, 1});
    g.run();
    EXPECT_EQ(sdk::download_f32(y), (std::vector<float>{3, 6, 9, 12, 15}));
  }
  auto d = sdk::Device::create(o);
  EXPECT_THROW(d->pipelines().register_glsl("broken", "#version 450\nvoid main() { nope; }"),
               PluginError);
  fs::remove_all(dir);
}

TEST_F(DeviceTest, GraphBarriersOnlyWhereDataFlows) {
  auto a = input(Dtype::f32, {64}, randn(64));
  auto b = input(Dtype::f32, {64}, randn(64));
  auto g = graph();
  // three independent ops: no barrier between them
  auto x = ops::scale(*g, a, 2.0f);
  auto y = ops::scale(*g, b, 3.0f);
  auto z = ops::add(*g, a, b);
  EXPECT_EQ(g->barriers(), 0u);
  // reads x and y, written above: one barrier
  auto w = ops::add(*g, x, y);
  EXPECT_EQ(g->barriers(), 1u);
  auto v = ops::add(*g, w, z);
  EXPECT_EQ(g->barriers(), 2u);
  g->run();
  auto av = sdk::download_f32(a), bv = sdk::download_f32(b);
  std::vector<double> want;
  for (size_t i = 0; i < 64; ++i) want.push_back(2.0 * av[i] + 3.0 * bv[i] + av[i] + bv[i]);
  expect_close(sdk::download_f32(v), want, {1e-5, 1e-6}, "chain");
  EXPECT_EQ(g->dispatches(), 5u);
}

TEST_F(DeviceTest, ArenaRangesAreReusedWithinAGraph) {
  auto a = input(Dtype::f32, {1 << 16}, randn(1 << 16));
  auto g = graph();
  uint64_t before = dev().arena().bytes_in_use();
  sdk::Tensor x = a;
  for (int i = 0; i < 50; ++i) x = ops::scale(*g, x, 1.0f);  // each step frees the previous
  EXPECT_LE(dev().arena().bytes_in_use() - before, 2u * (1u << 18));
  g->run();
  auto av = sdk::download_f32(a);
  expect_close(sdk::download_f32(x), std::vector<double>(av.begin(), av.end()), {0, 0},
               "identity chain");
}

TEST_F(DeviceTest, StagingPathWithoutHostVisibleMemory) {
  DeviceOptions o = DeviceOptions::from_env();
  o.no_host_visible = true;
  auto d = sdk::Device::create(o);
  EXPECT_FALSE(d->device_memory_host_visible());
  auto v = randn(1000);
  auto x = sdk::Tensor::allocate(d->weights(), Dtype::f32, {1000});
  sdk::upload_f32(x, v);
  sdk::Graph g(d);
  auto y = ops::scale(g, x, 2.0f);
  auto rb = g.download(y);
  g.run();
  auto got = rb->as<float>();
  ASSERT_EQ(got.size(), v.size());
  for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(got[i], 2.0f * v[i]);
}

}  // namespace
}  // namespace vkllm::test
