#!/usr/bin/env bash
# The stability experiment of the README's "Two software drivers in one process": runs
# `vrm-avatar stress-drivers` in three configurations (Vulkan + GL threads in one process, and
# each driver alone with as many threads), each RUNS times for SECONDS, with glibc's malloc
# checking on, and counts the runs that died (a corrupted heap aborts the process).
#
#   scripts/stress-drivers.sh [RUNS] [SECONDS]        (default 5 runs of 60 s each)
set -uo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:-5}"
SECONDS_EACH="${2:-60}"
BIN=target/release/vrm-avatar
[ -x "$BIN" ] || { echo "build first: cargo build --release" >&2; exit 2; }
source scripts/env.sh
OUT="${STRESS_OUT:-/tmp/stress-drivers}"
mkdir -p "$OUT"
for config in "--vulkan 1 --gl 1" "--vulkan 2 --gl 0" "--vulkan 0 --gl 2"; do
  died=0
  for run in $(seq 1 "$RUNS"); do
    log="$OUT/$(echo "$config" | tr -d ' -')-$run.log"
    MALLOC_CHECK_=3 LD_PRELOAD=/lib/x86_64-linux-gnu/libc_malloc_debug.so.0 \
      timeout $((SECONDS_EACH + 120)) "$BIN" stress-drivers $config --seconds "$SECONDS_EACH" >"$log" 2>&1
    rc=$?
    if [ "$rc" = 1 ]; then
      # A thread could not open its device: that run stressed nothing, so it counts for nothing.
      echo "stress-drivers $config: run $run could not open a device: $(grep -m1 '"error": "' "$log")" >&2
      exit 1
    elif [ "$rc" != 0 ]; then
      died=$((died + 1))
      echo "stress-drivers $config: run $run died (exit $rc): $(grep -m1 -E 'malloc|corrupt|free\(\)|Segmentation|Aborted|LLVM ERROR' "$log" || tail -n1 "$log")"
    fi
  done
  echo "stress-drivers $config: $died of $RUNS runs of ${SECONDS_EACH} s died"
done
