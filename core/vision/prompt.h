#pragma once
// Images in a prompt: each image's placeholder run expanded to one token per merged patch,
// prefix-cache keys that hash the image's content, and M-RoPE positions, for a vision family's
// VisionSpec. The family's own numbers (patch, merge) come from the spec; the processor's
// (pixel limits, mean/std) from preprocessor_config.json.
#include <nlohmann/json.hpp>

#include <optional>
#include <span>
#include <string>
#include <vector>

#include "core/tokenizer/tokenizer.h"
#include "core/vision/feature_cache.h"
#include "core/vision/preprocess.h"
#include "sdk/plugin_api/family.h"

namespace vkllm::core {

// PatchOptions for a spec and a model folder's preprocessor_config.json (the processor's
// defaults where the file is absent). ModelError naming the file when it is invalid.
PatchOptions patch_options(const plugin::VisionSpec& spec, const std::string& folder);
// The same from the file's JSON (null: no file); `where` names it in errors.
PatchOptions patch_options(const plugin::VisionSpec& spec, const nlohmann::json& preprocessor,
                           const std::string& where);

struct PromptImage {
  Patches patches;
  ContentHash hash;               // of the pixels and the preprocessing
  int64_t first = 0, tokens = 0;  // its placeholder run in the prompt
};

struct ImagePrompt {
  std::vector<int32_t> ids;        // runs expanded
  std::vector<uint64_t> keys;      // prefix-cache key per token
  std::vector<int32_t> positions;  // [3][ids] with M-RoPE, else empty
  std::vector<int32_t> next;       // per token: one past the largest position so far
  std::vector<PromptImage> images;
};

// The processor's text expansion of the template's per-image marker (VisionSpec::
// expand_vision_start): each occurrence of vision_start's token text becomes text_around +
// vision_start + image_token + vision_end + text_around (layout_images then expands the single
// image_token to the image's run). With pan-and-scan, crops[i] is the number of crops of the
// i-th image and its marker first becomes the processor's "the original image, then its crops"
// text. `text` unchanged for specs without marker expansion.
std::string expand_image_markers(const std::string& text, const plugin::VisionSpec& spec,
                                 const Tokenizer& tokenizer, std::span<const int> crops = {});

// Lays `images` (in order) into the prompt `ids`. The i-th run of spec.image_token belongs to
// the i-th image and holds either one placeholder (expanded here) or exactly the image's token
// count (ids given pre-expanded). A prompt without placeholders gets
// <vision_start><image_token><vision_end> per image at its start (after a leading `bos`).
// InputError when runs and images disagree.
ImagePrompt layout_images(std::vector<int32_t> ids, const std::vector<Image>& images,
                          const plugin::VisionSpec& spec, const PatchOptions& opt,
                          std::optional<int32_t> bos);

}  // namespace vkllm::core
