#!/usr/bin/env bash
# Coverage-guided fuzzing (libFuzzer) of the five fuzz targets in fuzz/, on the stable
# toolchain: builds them with the sanitizer-coverage flags cargo-fuzz passes, then runs each for
# SECONDS (default 600) from seeds out of ../shared/testdata and fuzz/regressions/.
#   bash scripts/fuzz.sh [SECONDS] [TARGET...]
# A crash, a leak past the memory limit or an input that takes over 10 s stops the run with
# status 1, and the input is copied into fuzz/regressions/<target>/, where
# tests/fuzz_regressions.rs replays it in every test run: commit it with the fix.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
seconds=${1:-600}
shift || true
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(load_vrm pose_json token_text camera_frame vmc_datagram)
out="$PWD/target/fuzz"
# The flags apply to the target only (explicit --target), not to build scripts.
export RUSTFLAGS="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4 \
-Cllvm-args=-sanitizer-coverage-inline-8bit-counters -Cllvm-args=-sanitizer-coverage-pc-table \
-Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing -Cdebug-assertions -Coverflow-checks"
triple=$(rustc -vV | sed -n 's/^host: //p')
cargo build --release --manifest-path fuzz/Cargo.toml --target "$triple" \
  --target-dir "$out/build" "${targets[@]/#/--bin=}"
testdata=../shared/testdata
seed() { # target, files...
  local dir="$out/corpus/$1"
  shift
  mkdir -p "$dir"
  for f in "$@"; do [[ -f $f ]] && cp -n "$f" "$dir/" || true; done
}
seed load_vrm $(find "$testdata/vrm" "$testdata/gltf" -maxdepth 3 -type f \( -name '*.vrm' -o -name '*.glb' -o -name '*.gltf' \) -size -2M 2>/dev/null)
seed pose_json $(find "$testdata" -maxdepth 3 -type f -name '*.json' -size -512k 2>/dev/null)
seed token_text
seed camera_frame
seed vmc_datagram
status=0
for t in "${targets[@]}"; do
  mkdir -p "$out/artifacts/$t" "$out/corpus/$t"
  rm -f "$out/artifacts/$t"/*
  printf '\n== fuzz %s for %s s\n' "$t" "$seconds"
  if ! "$out/build/$triple/release/$t" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
    -max_len=1048576 -print_final_stats=1 -artifact_prefix="$out/artifacts/$t/" \
    "$out/corpus/$t" "fuzz/regressions/$t" 2>"$out/$t.log"; then
    status=1
    tail -40 "$out/$t.log"
    for a in "$out/artifacts/$t"/*; do
      [[ -f $a ]] || continue
      cp "$a" "fuzz/regressions/$t/"
      echo "kept fuzz/regressions/$t/$(basename "$a"): tests/fuzz_regressions.rs replays it"
    done
  else
    grep -E '^stat::number_of_executed_units|^stat::peak_rss_mb|^#[0-9]+.*DONE' "$out/$t.log" || true
  fi
done
exit "$status"
