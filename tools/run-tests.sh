#!/usr/bin/env bash
# The test command (README, .ci/run): installs dependencies, then
#  1. GCC release build: the whole suite, then the fast tests again under the Vulkan validation
#     layers (any message fails a test);
#  2. Clang build with ASan + UBSan and libFuzzer coverage (the clang preset): the fast tests, then
#     every fuzz target for FUZZ_SECONDS (default 20) from its corpus (tools/fuzz.sh).
# Environment: JOBS (default 2) sets parallelism; VKLLM_SKIP_CLANG=1 skips step 2;
# VKLLM_GCC_ASAN=1 adds the GCC ASan + UBSan build (the asan preset) and its fast tests.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-2}
tools/install-deps.sh
cmake --preset release
cmake --build --preset release -j "$jobs"
ctest --preset release -j "$jobs"
ctest --preset validation -j "$jobs"
if [[ ${VKLLM_SKIP_CLANG:-0} != 1 ]]; then
  cmake --preset clang
  cmake --build --preset clang -j "$jobs"
  ctest --preset clang -j "$jobs"
  tools/fuzz.sh "${FUZZ_SECONDS:-20}"
fi
if [[ ${VKLLM_GCC_ASAN:-0} == 1 ]]; then
  cmake --preset asan
  cmake --build --preset asan -j "$jobs"
  ctest --preset asan -j "$jobs"
fi
echo "run-tests: all tests passed"
