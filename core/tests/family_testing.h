#pragma once
// What the vision families' parity tests share: running a prompt with images through the host,
// comparing with transformers' references, checkpoint copies with an edited config.json, and the
// chat-template and cache checks every vision family makes.
#include <nlohmann/json.hpp>

#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "vkllm/engine.h"

namespace vkllm::test {

double max_abs_diff(std::span<const float> a, std::span<const float> b);

struct Outcome {
  std::vector<float> logits;  // every prompt position
  std::vector<int32_t> greedy;
  Result res;
};

// `ids` with `images` (files) through a fresh engine of `folder`: prompt logits and n greedy
// tokens (EOS ignored).
Outcome run_with_images(const std::string& folder, const std::vector<std::string>& images,
                        const std::vector<int32_t>& ids, EngineOptions o = {}, int n = 8);

// `folder`/`reference` (input_ids, logits, greedy) with `images`: logits of every prompt
// position within `tolerance` and the same greedy ids, in one pass and in chunks of 5.
void expect_matches_reference(const std::string& folder, const std::string& reference,
                              const std::vector<std::string>& images, double tolerance);

// A copy of `folder` in the temp directory with config.json edited (remove it when done).
std::filesystem::path with_config(const std::string& folder,
                                  const std::function<void(nlohmann::json&)>& edit);

// The message of the error Engine::load throws for `folder`, or "(loaded)".
std::string load_error(const std::filesystem::path& folder);

// A system message and a user message with `images` and a question through the chat
// template: the prompt length, logits and greedy of `folder`/reference_chat.safetensors.
void expect_chat_matches_reference(const std::string& folder,
                                   const std::vector<std::string>& images,
                                   const std::string& system, const std::string& question,
                                   double tolerance);

// `folder`/reference_two_images.safetensors with prefix and feature caches on: the second run
// reuses the prompt, a different prompt around the same images reuses their features.
void expect_caches_reuse_images(const std::string& folder, const std::vector<std::string>& images);

}  // namespace vkllm::test
