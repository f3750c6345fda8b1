#pragma once
// A reasoning model for tests: the bundled model's weights and vocabulary with a chat template
// that opens the thinking block in the generation prompt (as those of thinking-only models do).
#include <nlohmann/json.hpp>

#include <filesystem>
#include <fstream>
#include <string>

namespace vkllm::test {

inline std::string thinking_model() {
  namespace fs = std::filesystem;
  const fs::path src = fs::path(VKLLM_SOURCE_DIR) / "models/tiny-kjv";
  const fs::path dir = fs::temp_directory_path() / "vkllm_thinking_model";
  fs::create_directories(dir);
  for (const char* f : {"config.json", "model.safetensors", "tokenizer.json"})
    fs::copy_file(src / f, dir / f, fs::copy_options::overwrite_existing);
  auto cfg = nlohmann::json::parse(std::ifstream(src / "tokenizer_config.json"));
  cfg["chat_template"] =
      "{% for m in messages %}{{ m.role }}: {{ m.content }}\n{% endfor %}"
      "{% if add_generation_prompt %}assistant: <think>\n{% endif %}";
  std::ofstream(dir / "tokenizer_config.json") << cfg.dump();
  return dir.string();
}

}  // namespace vkllm::test
