# Shared by the Linux package scripts (sourced): the version (Cargo.toml is its only home), the
# build outputs, the models and ONNX Runtime from scripts/models.sh, and the data folder every
# package installs (locale/, models/ with the ONNX files and the ONNX Runtime library).
#
# Options the scripts take: --out DIR (default out/packages), --no-build (use the release build
# already in $CARGO_TARGET_DIR or target/, e.g. from a test that cargo itself runs).

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
OUT="$ROOT/out/packages"
BUILD=1
while (($#)); do
  case "$1" in
    --out) OUT="$(mkdir -p "$2" && cd "$2" && pwd)"; shift 2 ;;
    --no-build) BUILD=0; shift ;;
    *) echo "usage: $0 [--out DIR] [--no-build]" >&2; exit 2 ;;
  esac
done

NAME=obs-vrm-avatar
VERSION="$(cd "$ROOT" && cargo pkgid | sed 's/.*[#@]//')"
RELEASE="${CARGO_TARGET_DIR:-$ROOT/target}/release"
MODELS="$ROOT/models"
ORT_LIB=libonnxruntime.so.1.31.1

die() { echo "error: $*" >&2; exit 2; }

# Builds the module and the command line (unless --no-build) and checks they are there.
build_release() {
  if [ "$BUILD" = 1 ]; then
    (cd "$ROOT" && cargo build --release --locked -p obs-vrm-avatar -p vrm-avatar-tools --lib --bin vrm-avatar)
  fi
  for f in "$RELEASE/libobs_vrm_avatar.so" "$RELEASE/vrm-avatar"; do
    [ -f "$f" ] || die "$f is missing: build with 'cargo build --release' (or drop --no-build)"
  done
}

# The models, the library and the wheels they came from, checked against models/SHA256SUMS.
check_models() {
  [ -f "$MODELS/SHA256SUMS" ] || die "$MODELS has no SHA256SUMS: run scripts/models.sh"
  (cd "$MODELS" && sha256sum --quiet --strict -c SHA256SUMS) || die "$MODELS does not match SHA256SUMS: run scripts/models.sh"
  [ -f "$MODELS/$ORT_LIB" ] || die "$MODELS/$ORT_LIB is missing: run scripts/models.sh"
  ORT_WHEEL="$(compgen -G "$MODELS/.cache/onnxruntime-1.31.1-*manylinux*_x86_64.whl" | head -n1)" \
    || die "the onnxruntime wheel is not in $MODELS/.cache: run scripts/models.sh"
  MEDIAPIPE_WHEEL="$(compgen -G "$MODELS/.cache/mediapipe-*-manylinux*_x86_64.whl" | head -n1)" \
    || die "the mediapipe wheel is not in $MODELS/.cache: run scripts/models.sh"
}

# stage_data DIR: the plugin's data folder (OBS's obs_get_module_data_path).
stage_data() {
  install -d "$1/locale" "$1/models"
  install -m644 "$ROOT"/locale/*.ini "$1/locale/"
  # Exactly the files scripts/models.sh made and listed: the ONNX models and the library.
  while read -r _ file; do install -m644 "$MODELS/$file" "$1/models/"; done <"$MODELS/SHA256SUMS"
}

# stage_docs DIR: the licence notices every package ships.
stage_docs() {
  install -d "$1"
  python3 "$ROOT/installer/third_party_notices.py" --target x86_64-unknown-linux-gnu \
    --ort-wheel "$ORT_WHEEL" --mediapipe-wheel "$MEDIAPIPE_WHEEL" --out "$1/THIRD-PARTY-NOTICES.txt"
  cat >"$1/copyright" <<EOF
$NAME $VERSION
Copyright: the obs-vrm-avatar authors
License: MIT OR Apache-2.0

It bundles ONNX Runtime 1.31.1 (MIT, Microsoft) and MediaPipe's tracking models (Apache-2.0,
The MediaPipe Authors), and is built from the Rust crates listed, with their licences, in
THIRD-PARTY-NOTICES.txt next to this file.
EOF
}

# strip_debug FILE: drops debug info from a staged binary (panic messages keep their text).
strip_debug() { objcopy --strip-debug "$1"; }
