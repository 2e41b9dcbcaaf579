#!/usr/bin/env bash
# Builds models/: MediaPipe's tracking models as ONNX (converted from the TFLite files in the
# mediapipe==0.10.14 wheel, each validated against the TFLite interpreter) and ONNX Runtime's
# libonnxruntime.so.1.31.1 (from the onnxruntime==1.31.1 wheel). Inputs and outputs are checked
# against scripts/models.sha256. Cached: when models/ is complete and unchanged it returns in
# seconds. Needs python3 (3.9-3.11, with venv and pip: scripts/setup.sh installs them) and PyPI.
#
#   scripts/models.sh           build or check models/
#   scripts/models.sh --force   convert and validate everything again
#
# Environment: MODELS_ALLOW_HASH_DRIFT=1 accepts validated outputs whose sha256 differs from the
# list (a deliberate toolchain change); MODELS_TEST_IMAGES overrides the validation photos' folder.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
MODELS="$ROOT/models"
VENV="$MODELS/.venv-convert"
CACHE="$MODELS/.cache"
REQS="$ROOT/scripts/models-requirements.txt"
STAMP="$MODELS/.stamp"

FORCE=0
case "${1:-}" in
  "") ;;
  --force) FORCE=1 ;;
  *) echo "usage: $0 [--force]" >&2; exit 2 ;;
esac

mkdir -p "$MODELS"
# One run at a time (two would write the same files).
exec 9>"$MODELS/.lock"
flock 9

# The stamp names the exact scripts and lists that produced models/; it is written only after a
# build passed every check. Together with SHA256SUMS it makes the second run nearly free.
stamp_now() {
  cat "$ROOT/scripts/models.sh" "$ROOT/scripts/convert_models.py" "$ROOT/scripts/models.sha256" "$REQS" \
    | sha256sum | cut -d' ' -f1
}
if [ "$FORCE" = 0 ] && [ -f "$STAMP" ] && [ -f "$MODELS/SHA256SUMS" ] \
   && [ "$(cat "$STAMP")" = "$(stamp_now)" ] \
   && (cd "$MODELS" && sha256sum --quiet --status -c SHA256SUMS); then
  echo "models: up to date ($(wc -l <"$MODELS/SHA256SUMS") files match models/SHA256SUMS)"
  exit 0
fi
rm -f "$STAMP"

# Python environment for the conversion, reinstalled only when the pinned list changes.
python3 -c 'import sys; sys.exit(not ((3, 9) <= sys.version_info[:2] <= (3, 11)))' || {
  echo "models: python3 must be 3.9-3.11 (tensorflow-cpu 2.15), found $(python3 --version)" >&2; exit 1; }
REQS_HASH="$(sha256sum "$REQS" | cut -d' ' -f1)"
if [ ! -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c pass 2>/dev/null \
   || [ "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$REQS_HASH" ]; then
  echo "models: creating $VENV"
  rm -rf "$VENV"
  python3 -m venv "$VENV"
  nice -n 19 "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps -r "$REQS"
  "$VENV/bin/pip" check --disable-pip-version-check >/dev/null
  echo "$REQS_HASH" >"$VENV/.requirements.sha256"
fi

# The two wheels, for their files only (they are never installed from here).
mkdir -p "$CACHE"
fetch_wheel() {  # fetch_wheel NAME VERSION
  if ! compgen -G "$CACHE/$1-$2-cp311-cp311-manylinux*_x86_64.whl" >/dev/null; then
    echo "models: downloading $1==$2"
    "$VENV/bin/pip" download --quiet --disable-pip-version-check --no-deps --only-binary=:all: \
      --implementation cp --python-version 3.11 --abi cp311 \
      --platform manylinux_2_28_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
      -d "$CACHE" "$1==$2"
  fi
}
fetch_wheel mediapipe 0.10.14
fetch_wheel onnxruntime 1.31.1

args=(build --models "$MODELS" --cache "$CACHE")
[ "$FORCE" = 1 ] && args+=(--force)
nice -n 19 "$VENV/bin/python" "$ROOT/scripts/convert_models.py" "${args[@]}"

stamp_now >"$STAMP"
echo "models: done; $(wc -l <"$MODELS/SHA256SUMS") files in $MODELS listed in SHA256SUMS"
