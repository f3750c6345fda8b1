#pragma once
// Subcommands of the vkllm executable; each file registers one with the CLI11 app.
#include <CLI/CLI.hpp>

#include <functional>

namespace vkllm::cli {

// Every subcommand adds itself and returns the function to run when chosen.
using Run = std::function<int()>;
Run add_devices(CLI::App& app);
Run add_plugins(CLI::App& app);
Run add_inspect(CLI::App& app);
Run add_generate(CLI::App& app);
Run add_chat(CLI::App& app);
Run add_tokenize(CLI::App& app);
Run add_export(CLI::App& app);
Run add_bench(CLI::App& app);
Run add_bench_vision(CLI::App& app);
Run add_serve(CLI::App& app);

}  // namespace vkllm::cli
