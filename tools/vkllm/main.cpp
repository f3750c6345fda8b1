// vkllm: run language and vision-language models on Vulkan.
#include <cstdio>
#include <exception>
#include <vector>

#include "commands.h"
#include "sdk/base/error.h"
#include "sdk/vk/device.h"

int main(int argc, char** argv) {
  CLI::App app{"vkllm: large language and vision-language models on Vulkan compute"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("vkllm ") + VKLLM_SDK_VERSION);
  std::vector<std::pair<CLI::App*, vkllm::cli::Run>> commands;
  auto add = [&](vkllm::cli::Run (*f)(CLI::App&)) {
    size_t before = app.get_subcommands({}).size();
    auto run = f(app);
    commands.emplace_back(app.get_subcommands({})[before], std::move(run));
  };
  add(vkllm::cli::add_devices);
  add(vkllm::cli::add_plugins);
  add(vkllm::cli::add_inspect);
  add(vkllm::cli::add_generate);
  add(vkllm::cli::add_chat);
  add(vkllm::cli::add_tokenize);
  add(vkllm::cli::add_export);
  add(vkllm::cli::add_bench);
  add(vkllm::cli::add_bench_vision);
  add(vkllm::cli::add_serve);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  try {
    for (auto& [sub, run] : commands) {
      if (!sub->parsed()) continue;
      int rc = run();
      // Under VKLLM_VALIDATION=1 a validation message is a failure of the command (tests rely
      // on the exit status, as they rely on the test main's check).
      if (uint64_t n = vkllm::sdk::Device::validation_messages_total(); n > 0 && rc == 0) {
        std::fprintf(stderr, "vkllm: the Vulkan validation layers reported %llu problem(s)\n",
                     static_cast<unsigned long long>(n));
        return 3;
      }
      return rc;
    }
  } catch (const vkllm::Error& e) {
    std::fprintf(stderr, "vkllm: %s\n", e.what());
    return 1;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "vkllm: unexpected error: %s\n", e.what());
    return 2;
  }
  return 0;
}
