#!/usr/bin/env bash
# The README's test command: sets everything up (idempotent) and runs all checks and tests:
# formatting, clippy, the build with the checked-in libobs bindings, the core without libobs,
# unit tests, and the end-to-end tests in real OBS under Xvfb.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
source scripts/env.sh
# The tracking models and ONNX Runtime (converted once, then cached in models/).
bash scripts/models.sh

step() { printf '\n== %s\n' "$*"; }
step "format"
cargo fmt --all -- --check
step "clippy"
cargo clippy --release --all-targets -- -D warnings
step "the core builds and tests without libobs (no 'obs' feature)"
cargo test --release --no-default-features --lib -p obs-vrm-avatar
step "the checked-in libobs bindings still build (fallback without headers)"
VRM_AVATAR_CHECKED_IN_BINDINGS=1 cargo check --release --lib -p obs-vrm-avatar
step "build the plugin and the command line"
cargo build --release --all-targets
status=0
step "fuzzing, 20 s per target (bash scripts/fuzz.sh 600 for longer runs)"
# A crash found is kept in fuzz/regressions/ (replayed by the tests below) and fails the run.
bash scripts/fuzz.sh 20 || status=$?
step "all tests (unit, then end-to-end in real OBS)"
# An OBS test that failed only through one of OBS 29's own known faults (no frame of this
# module in the faulting thread) ran again (up to 3 runs); each such retry is listed here, never hidden.
export VRM_AVATAR_FAULT_LOG="$PWD/target/obs-own-faults.log"
rm -f "$VRM_AVATAR_FAULT_LOG"
# --no-fail-fast: every test file runs, so one failure does not hide the state of the others.
cargo test --release --no-fail-fast || status=$?
if [[ -s "$VRM_AVATAR_FAULT_LOG" ]]; then
  step "OBS 29's own faults met (each test ran again, up to 3 runs)"
  cat "$VRM_AVATAR_FAULT_LOG"
fi
exit "$status"
