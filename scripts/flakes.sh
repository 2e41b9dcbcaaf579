#!/usr/bin/env bash
# Flake counts for the README's reliability section (issue 17): runs each named OBS test file
# RUNS times in a row (built once), and counts the runs that passed, those that passed only
# after one of OBS 29's own known crashes was retried (listed in the fault log), and those
# that failed. Load the machine beside it (a soak, `vrm-avatar quits`) to measure it loaded.
#
#   scripts/flakes.sh RUNS TEST_FILE...     e.g. scripts/flakes.sh 20 obs_e2e ivs_obs_e2e
set -uo pipefail
cd "$(dirname "$0")/.."
RUNS="${1:?runs}"
shift
source scripts/env.sh
OUT="${FLAKES_OUT:-target/flakes}"
mkdir -p "$OUT"
cargo build --release --all-targets -q || exit 2
printf '| test file | runs | passed | passed after a retried OBS crash | failed |\n'
printf '| --- | ---: | ---: | ---: | ---: |\n'
for file in "$@"; do
  passed=0 retried=0 failed=0
  for run in $(seq 1 "$RUNS"); do
    log="$OUT/$file-$run.log"
    export VRM_AVATAR_FAULT_LOG="$PWD/$OUT/$file-$run.faults"
    rm -f "$VRM_AVATAR_FAULT_LOG"
    if cargo test --release -q --test "$file" >"$log" 2>&1; then
      if [[ -s "$VRM_AVATAR_FAULT_LOG" ]]; then retried=$((retried + 1)); else passed=$((passed + 1)); fi
    else
      failed=$((failed + 1))
      echo "$file run $run failed: $log" >&2
    fi
  done
  printf '| `%s` | %d | %d | %d | %d |\n' "$file" "$RUNS" "$passed" "$retried" "$failed"
done
