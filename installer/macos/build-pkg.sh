#!/usr/bin/env bash
# Builds out/packages/obs-vrm-avatar-<version>-macos-arm64.pkg: the obs-vrm-avatar.plugin bundle,
# installed for the current user into ~/Library/Application Support/obs-studio/plugins/, where
# OBS Studio 30+ looks by itself:
#   obs-vrm-avatar.plugin/Contents/Info.plist                        (version from Cargo.toml)
#   obs-vrm-avatar.plugin/Contents/MacOS/obs-vrm-avatar              the module
#   obs-vrm-avatar.plugin/Contents/Frameworks/libonnxruntime.1.31.1.dylib
#   obs-vrm-avatar.plugin/Contents/Resources/{locale,models}         OBS's data folder for the module
#   obs-vrm-avatar.plugin/Contents/Resources/THIRD-PARTY-NOTICES.txt
# The module loads ONNX Runtime by its full path (Resources/../Frameworks), so no install_name
# changes are needed. Apple Silicon only: onnxruntime 1.31.1 has no x86_64 macOS wheel.
#
# Not run on the project's Linux machine; written to be reviewed and run on macOS 14+ (arm64) with
# Xcode's command line tools, Rust (rustup), python3 with pip, and models/ made by
# scripts/models.sh on Linux (copy that folder into the checkout first).
# Signing: MACOS_SIGN_IDENTITY="Developer ID Application: ..." signs the code (ad hoc otherwise),
# MACOS_INSTALLER_IDENTITY="Developer ID Installer: ..." signs the pkg; notarize the result with
# `xcrun notarytool submit --wait` and `xcrun stapler staple`.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
cd "$ROOT"
NAME=obs-vrm-avatar
VERSION="$(cargo pkgid | sed 's/.*[#@]//')"
OUT="$ROOT/out/packages"
WORK="$ROOT/out/macos"
# The payload holds the path below the home folder (the distribution allows only the
# current user's home, so "/" is installed as ~/).
BUNDLE="$WORK/root/Library/Application Support/obs-studio/plugins/$NAME.plugin"
rm -rf "$WORK"
mkdir -p "$OUT" "$BUNDLE/Contents/MacOS" "$BUNDLE/Contents/Frameworks" \
  "$BUNDLE/Contents/Resources/locale" "$BUNDLE/Contents/Resources/models"

# build.rs links the module with -undefined dynamic_lookup: libobs comes from the OBS process.
VRM_AVATAR_CHECKED_IN_BINDINGS=1 cargo build --release --locked -p obs-vrm-avatar --lib --target aarch64-apple-darwin
python3 installer/fetch_wheels.py --platform macos-arm64 --dest "$WORK/ort" --cache "$ROOT/out/wheels"

sed "s/@VERSION@/$VERSION/g" installer/macos/Info.plist.in >"$BUNDLE/Contents/Info.plist"
plutil -lint "$BUNDLE/Contents/Info.plist"
cp "${CARGO_TARGET_DIR:-target}/aarch64-apple-darwin/release/libobs_vrm_avatar.dylib" "$BUNDLE/Contents/MacOS/$NAME"
cp "$WORK/ort/libonnxruntime.1.31.1.dylib" "$BUNDLE/Contents/Frameworks/"
cp locale/*.ini "$BUNDLE/Contents/Resources/locale/"
# Exactly the models scripts/models.sh listed (its Linux library is left out).
while read -r _ file; do
  case "$file" in *.onnx) cp "models/$file" "$BUNDLE/Contents/Resources/models/" ;; esac
done <models/SHA256SUMS
python3 installer/third_party_notices.py --target aarch64-apple-darwin \
  --ort-wheel "$(sed -n 1p "$WORK/ort/wheels.txt")" --mediapipe-wheel "$(sed -n 2p "$WORK/ort/wheels.txt")" \
  --out "$BUNDLE/Contents/Resources/THIRD-PARTY-NOTICES.txt"

# Sign inside out: the library, then the bundle (hardened runtime for notarization).
IDENTITY="${MACOS_SIGN_IDENTITY:--}"
codesign --force --options runtime --timestamp=none --sign "$IDENTITY" \
  "$BUNDLE/Contents/Frameworks/libonnxruntime.1.31.1.dylib"
codesign --force --options runtime --timestamp=none --sign "$IDENTITY" "$BUNDLE"
codesign --verify --strict --verbose=2 "$BUNDLE"

pkgbuild --root "$WORK/root" --install-location / \
  --identifier io.github.obs-vrm-avatar --version "$VERSION" "$WORK/obs-vrm-avatar-component.pkg"
sed "s/@VERSION@/$VERSION/g" installer/macos/distribution.xml.in >"$WORK/distribution.xml"
PKG="$OUT/$NAME-$VERSION-macos-arm64.pkg"
# (macOS's bash 3.2 treats an empty "${array[@]}" as unset under set -u: no arrays here.)
if [ -n "${MACOS_INSTALLER_IDENTITY:-}" ]; then
  set -- --sign "$MACOS_INSTALLER_IDENTITY"
else
  set --
fi
productbuild --distribution "$WORK/distribution.xml" --package-path "$WORK" "$@" "$PKG"
echo "pkg: $PKG"
