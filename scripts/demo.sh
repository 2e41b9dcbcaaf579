#!/usr/bin/env bash
# The README's main command: sets everything up (idempotent), builds the plugin and starts OBS
# with a scene holding the VRM Avatar source. With no display it runs OBS under Xvfb, writes
# out/demo/scene.png, out/demo/source.png and a 10-second out/demo/recording.mp4, and quits.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
source scripts/env.sh
# The tracking models and ONNX Runtime (converted once, then cached in models/).
bash scripts/models.sh
cargo build --release
exec target/release/vrm-avatar demo --out out/demo "$@"
