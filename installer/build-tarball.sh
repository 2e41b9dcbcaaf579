#!/usr/bin/env bash
# Builds out/packages/obs-vrm-avatar-<version>-linux-x86_64.tar.gz, for installing into your own
# OBS without root: unpack it and run ./install.sh (./install.sh --uninstall removes it). It holds
# OBS's per-user layout, the same as `make install`:
#   plugin/bin/64bit/obs-vrm-avatar.so
#   plugin/data/{locale,models}          strings, tracking models + ONNX Runtime
#   plugin/THIRD-PARTY-NOTICES.txt, plugin/COPYRIGHT
#   install.sh, vrm-avatar (the command line; it finds the models in plugin/data/models via
#   $VRM_AVATAR_MODELS or --models)
#
#   installer/build-tarball.sh [--out DIR] [--no-build]
set -euo pipefail
source "$(dirname "$0")/common.sh"

build_release
check_models
BASE="$NAME-$VERSION-linux-x86_64"
TARBALL="$OUT/$BASE.tar.gz"
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
TOP="$STAGE/$BASE"

install -D -m755 "$RELEASE/libobs_vrm_avatar.so" "$TOP/plugin/bin/64bit/$NAME.so"
install -D -m755 "$RELEASE/vrm-avatar" "$TOP/vrm-avatar"
strip_debug "$TOP/plugin/bin/64bit/$NAME.so"
strip_debug "$TOP/vrm-avatar"
stage_data "$TOP/plugin/data"
stage_docs "$TOP/plugin"
mv "$TOP/plugin/copyright" "$TOP/plugin/COPYRIGHT"
install -m755 "$ROOT/installer/install.sh" "$TOP/install.sh"

mkdir -p "$OUT"
tar -C "$STAGE" --owner=0 --group=0 --sort=name -czf "$TARBALL" "$BASE"
echo "tarball: $TARBALL ($(du -h "$TARBALL" | cut -f1))"
