#!/usr/bin/env bash
# Issue 23: `vrm-avatar soak` with the plugin built under AddressSanitizer. The module is built
# with the nightly toolchain's -Zsanitizer=address (its own reads and writes checked) and OBS
# runs with GCC's ASan runtime preloaded, so every malloc and free in OBS's process (OBS, Qt,
# Mesa, ONNX Runtime, the plugin) goes through ASan's allocator: a double or invalid free
# anywhere, and a bad read or write by the plugin, stops OBS with a report in OUT/asan.PID.
# Unlike Valgrind, OBS keeps drawing at about half speed, so hours of tracking are covered.
#
#   scripts/asan-soak.sh MINUTES OUT [VRM [SOAK ARGS...]]   e.g. scripts/asan-soak.sh 30 target/asan-soak
# SOAK ARGS go to `vrm-avatar soak` as they are, e.g. `--env WGPU_BACKEND=vulkan` for the old way
# of drawing (lavapipe beside OBS's llvmpipe).
# Exit status 1 after an ASan report, a crash or an unclean quit.
set -euo pipefail
cd "$(dirname "$0")/.."
MINUTES="${1:?minutes}"
OUT="${2:?out dir}"
VRM="${3:-../shared/testdata/vrm/vrm0/Godette_vrm_v4.vrm}"
shift $(($# < 3 ? $# : 3))
source scripts/env.sh
runtime=/usr/lib/x86_64-linux-gnu/libasan.so.8
[[ -f $runtime ]] || apt-get install -y libasan8
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
triple=$(rustc -vV | sed -n 's/^host: //p')
# --target keeps build scripts and proc macros uninstrumented; the cdylib leaves the runtime to
# the preloaded library.
RUSTFLAGS="-Zsanitizer=address -Cdebuginfo=1" cargo +nightly build --release -p obs-vrm-avatar \
  --lib --target "$triple" --target-dir target/asan
cargo build --release -p vrm-avatar-tools --bin vrm-avatar
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
rm -f "$OUT"/asan.*
# Leaks are not errors here (OBS frees little at exit); C++ allocator pairings in OBS and Qt
# that ASan would flag are not heap damage.
options=detect_leaks=0:alloc_dealloc_mismatch=0:new_delete_type_mismatch=0:detect_odr_violation=0
options+=:abort_on_error=1:verify_asan_link_order=0:log_path=$OUT/asan
status=0
target/release/vrm-avatar soak --module "target/asan/$triple/release/libobs_vrm_avatar.so" \
  --locale locale --models models \
  --input ../shared/testdata/people/video/face_and_thumbs_up.mp4 --vrm "$VRM" \
  --out "$OUT" --minutes "$MINUTES" \
  --env "LD_PRELOAD=$runtime" --env "ASAN_OPTIONS=$options" "$@" || status=$?
if compgen -G "$OUT/asan.*" >/dev/null; then
  echo "AddressSanitizer reported:" >&2
  cat "$OUT"/asan.* >&2
  exit 1
fi
echo "no AddressSanitizer report in $MINUTES minutes" >&2
exit "$status"
