#!/usr/bin/env bash
# Runs every libFuzzer target for SECONDS each (default 60) from its corpus in tests/fuzz/corpus,
# two at a time. Needs the clang preset built (cmake --preset clang && cmake --build --preset
# clang). New inputs go to build/clang/fuzz/corpus/<target> (the checked-in corpus is only read);
# crashes, leaks and timeouts to build/clang/fuzz/artifacts/<target>/. Prints per target the
# executions, coverage and findings; exits non-zero when any target found something.
#   tools/fuzz.sh [SECONDS] [TARGET ...]
set -uo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
shift || true
bin=build/clang/bin
targets=("$@")
if ((${#targets[@]} == 0)); then
  targets=(safetensors jinja tokenizer image config openai_request gbnf json_schema adapter kv_block gguf)
fi
work=build/clang/fuzz
mkdir -p "$work"
run_one() {
  local t=$1 log="$work/$1.log"
  mkdir -p "$work/corpus/$t" "$work/artifacts/$t"
  # -rss_limit_mb: a parser may not need more than 2 GiB; -timeout: nor 10 s for one input.
  ASAN_OPTIONS=detect_leaks=1:allocator_may_return_null=0 UBSAN_OPTIONS=print_stacktrace=1 \
    VKLLM_LOG=off "$bin/fuzz_$t" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -print_final_stats=1 -artifact_prefix="$work/artifacts/$t/" \
    "$work/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1
  echo $? >"$work/$t.rc"
}
for t in "${targets[@]}"; do
  if [[ ! -x $bin/fuzz_$t ]]; then
    echo "fuzz: $bin/fuzz_$t is not built (cmake --preset clang && cmake --build --preset clang)" >&2
    exit 2
  fi
done
running=0
for t in "${targets[@]}"; do
  run_one "$t" &
  if ((++running % 2 == 0)); then wait; fi
done
wait
status=0
printf '%-12s %12s %10s %8s %s\n' target executions exec/s cov findings
for t in "${targets[@]}"; do
  log="$work/$t.log"
  execs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$log" | grep -o '[0-9]*$')
  rate=$(grep -o 'stat::average_exec_per_sec: *[0-9]*' "$log" | grep -o '[0-9]*$')
  cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | grep -o '[0-9]*$')
  found=$(find "$work/artifacts/$t" -type f | wc -l)
  printf '%-12s %12s %10s %8s %s\n' "$t" "${execs:-?}" "${rate:-?}" "${cov:-?}" "$found"
  if [[ $(cat "$work/$t.rc") != 0 || $found != 0 ]]; then
    status=1
    echo "fuzz: $t failed (exit $(cat "$work/$t.rc")); see $log and $work/artifacts/$t/" >&2
    grep -m1 -A12 'ERROR:\|runtime error\|uncaught exception\|deadly signal' "$log" >&2 || tail -20 "$log" >&2
  fi
done
exit $status
