#!/usr/bin/env bash
# Runs scripts/peer_holistic.py (MediaPipe 0.10.14 Holistic, the peer of the tracking benchmark) in
# its own venv at models/.venv-peer, made once and reused while the pins below stay the same.
# Usage: scripts/peer_holistic.sh INPUT_VIDEO [--width W --height H] [--max-frames N] [--json]
#                                 [--landmarks-out FILE.json]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$ROOT/models/.venv-peer"

# Installed with --no-deps so that nothing unpinned comes in. Left out on purpose, though mediapipe
# lists them: jax/jaxlib (not used by the legacy solutions), sounddevice (audio), and
# opencv-contrib-python (the GUI build, which needs libGL and fights the headless build over the
# same cv2/ folder). matplotlib and its deps are needed: mediapipe.solutions imports it on load.
PINS=(
  mediapipe==0.10.14 numpy==1.26.4 protobuf==4.25.9 absl-py==2.5.1 attrs==26.1.0
  flatbuffers==25.12.19 opencv-python-headless==4.11.0.86
  matplotlib==3.11.2 contourpy==1.3.3 cycler==0.12.1 fonttools==4.68.0 kiwisolver==1.5.1
  packaging==26.3 pillow==13.0.0 pyparsing==3.3.3 python-dateutil==4.0.0 tzdata==2026.6
)
STAMP="$VENV/.pins"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "${PINS[*]}" ]; then
  echo "peer_holistic: making $VENV" >&2
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  nice -n 19 "$VENV/bin/pip" install -q --disable-pip-version-check --no-deps "${PINS[@]}" >&2
  "$VENV/bin/python" -c "import mediapipe, cv2" # fail here, not mid-run, if an import is missing
  echo "${PINS[*]}" > "$STAMP"
fi

exec "$VENV/bin/python" "$ROOT/scripts/peer_holistic.py" "$@"
