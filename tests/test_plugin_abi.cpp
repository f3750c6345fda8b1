// The plugin host's errors: every bad plugin is rejected with its path and reason, and two
// plugins claiming one model type name both files.
#include <gtest/gtest.h>

#include "core/plugin_host.h"
#include "sdk/base/error.h"

namespace vkllm::test {
namespace {

std::string reason_for(const core::PluginHost& h, const std::string& file) {
  for (const auto& r : h.rejected())
    if (r.path.ends_with(file)) return r.reason;
  return "(not rejected)";
}

TEST(PluginAbi, BadPluginsAreRejectedWithTheirReason) {
  core::PluginHost h({BAD_PLUGIN_DIR});
  EXPECT_NE(reason_for(h, "libvkllm-bad_no_entry.so").find("missing symbol vkllm_plugin_entry"),
            std::string::npos)
      << reason_for(h, "libvkllm-bad_no_entry.so");
  EXPECT_NE(reason_for(h, "libvkllm-bad_abi.so").find("ABI 999"), std::string::npos)
      << reason_for(h, "libvkllm-bad_abi.so");
  EXPECT_NE(reason_for(h, "libvkllm-bad_sdk.so").find("0.0.0-other"), std::string::npos)
      << reason_for(h, "libvkllm-bad_sdk.so");
  EXPECT_NE(reason_for(h, "libvkllm-bad_notelf.so").find("cannot be loaded"), std::string::npos)
      << reason_for(h, "libvkllm-bad_notelf.so");
}

TEST(PluginAbi, DuplicateModelTypeNamesBothFiles) {
  core::PluginHost h({BAD_PLUGIN_DIR});
  try {
    h.plugin_for("dup_a", "dupe_type");
    FAIL() << "expected PluginError";
  } catch (const PluginError& e) {
    std::string m = e.what();
    EXPECT_NE(m.find("libvkllm-dup_a.so"), std::string::npos) << m;
    EXPECT_NE(m.find("libvkllm-dup_b.so"), std::string::npos) << m;
  }
}

TEST(PluginAbi, FailingFactoryIsAnError) {
  core::PluginHost h({BAD_PLUGIN_DIR});
  const auto& rec = h.plugin_for("bad", "bad_type");
  EXPECT_THROW(h.create_family(rec), PluginError);
}

TEST(PluginAbi, UnknownFamilyListsTheSearchPath) {
  core::PluginHost h({BAD_PLUGIN_DIR});
  try {
    h.plugin_for("nonexistent", "x");
    FAIL();
  } catch (const PluginError& e) {
    EXPECT_NE(std::string(e.what()).find(BAD_PLUGIN_DIR), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vkllm::test
