#pragma once
// Per-kernel device time tables for the bench commands (VKLLM_PROFILE=1 turns timing on).
#include <fmt/format.h>

#include <algorithm>
#include <map>
#include <string>
#include <vector>

#include "sdk/vk/device.h"

namespace vkllm::cli {

using Profile = std::map<std::string, sdk::Device::KernelTime>;

// Moves the device's per-kernel times into `into` (VKLLM_PROFILE=1 turns timing on).
inline void take_profile(sdk::Device& dev, Profile& into) {
  for (auto& [k, t] : dev.profile()) {
    into[k].dispatches += t.dispatches;
    into[k].ms += t.ms;
  }
  dev.reset_profile();
}

inline void print_profile(const char* phase, const Profile& prof, double per, const char* unit) {
  std::vector<std::pair<std::string, sdk::Device::KernelTime>> rows(prof.begin(), prof.end());
  std::sort(rows.begin(), rows.end(), [](auto& a, auto& b) { return a.second.ms > b.second.ms; });
  double total = 0;
  for (auto& r : rows) total += r.second.ms;
  fmt::print("\n{} profile: {:.3f} ms of kernels per {}\n", phase, total / per, unit);
  fmt::print("  {:<28} {:>10} {:>12} {:>7}\n", "kernel", "dispatches", "ms/" + std::string(unit),
             "share");
  for (auto& [k, t] : rows) {
    fmt::print("  {:<28} {:>10.1f} {:>12.4f} {:>6.1f}%\n", k, double(t.dispatches) / per,
               t.ms / per, total > 0 ? 100.0 * t.ms / total : 0.0);
  }
}

}  // namespace vkllm::cli
