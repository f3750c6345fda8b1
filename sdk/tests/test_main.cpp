// main() of every test executable: GoogleTest plus a check at the end of the run that the
// Vulkan validation layers (VKLLM_VALIDATION=1) reported nothing on any device the tests made,
// SDK, host and family tests alike. CTest runs each test in its own process, so a message
// fails the test that caused it.
#include <gtest/gtest.h>

#include <atomic>

#include "sdk/tests/fixture.h"
#include "sdk/vk/device.h"

namespace vkllm::test {
namespace {

std::atomic<uint64_t> g_expected{0};

class ValidationCheck : public ::testing::Environment {
 public:
  void TearDown() override {
    uint64_t total = sdk::Device::validation_messages_total();
    EXPECT_EQ(total, g_expected.load())
        << "the Vulkan validation layers reported " << total - g_expected.load()
        << " problem(s); the messages are in the log above ([validation])";
  }
};

}  // namespace

void expect_validation_messages(uint64_t n) { g_expected += n; }

}  // namespace vkllm::test

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new vkllm::test::ValidationCheck);
  return RUN_ALL_TESTS();
}
