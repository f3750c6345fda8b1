#!/usr/bin/env bash
# The test command (README, .ci/run): installs dependencies, builds the release preset and runs
# the whole suite, then builds the ASan+UBSan preset and runs the fast tests under it.
# Environment: VKLLM_SKIP_ASAN=1 skips the sanitizer pass; JOBS (default 2) sets parallelism.
set -euo pipefail
cd "$(dirname "$0")/.."
jobs=${JOBS:-2}
tools/install-deps.sh
cmake --preset release
cmake --build --preset release -j "$jobs"
ctest --preset release -j "$jobs"
if [[ ${VKLLM_SKIP_ASAN:-0} != 1 ]]; then
  cmake --preset asan
  cmake --build --preset asan -j "$jobs"
  ctest --preset asan -j "$jobs"
fi
echo "run-tests: all tests passed"
