#!/usr/bin/env bash
# Builds out/packages/obs-vrm-avatar_<version>_amd64.deb (dpkg-deb) for Debian and Ubuntu:
#   /usr/lib/x86_64-linux-gnu/obs-plugins/obs-vrm-avatar.so      the OBS module
#   /usr/share/obs/obs-plugins/obs-vrm-avatar/locale/*.ini        its strings
#   /usr/share/obs/obs-plugins/obs-vrm-avatar/models/             tracking models + ONNX Runtime
#   /usr/bin/vrm-avatar                                           the command line (track, render, ...)
#   /usr/share/doc/obs-vrm-avatar/{copyright,THIRD-PARTY-NOTICES.txt}
# OBS finds the module and its data folder there by itself; the module finds the models and
# ONNX Runtime in its data folder. Needs: cargo, dpkg-dev, binutils, python3, scripts/models.sh.
# $DEBFULLNAME and $DEBEMAIL (Debian's usual variables) name the maintainer.
#
#   installer/build-deb.sh [--out DIR] [--no-build]
set -euo pipefail
source "$(dirname "$0")/common.sh"

build_release
check_models
ARCH=amd64
MULTIARCH=x86_64-linux-gnu
DEB="$OUT/${NAME}_${VERSION}_${ARCH}.deb"
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
# debian/<package>/ is where dpkg-shlibdeps expects a package tree.
PKG="$STAGE/debian/$NAME"
DATA="$PKG/usr/share/obs/obs-plugins/$NAME"

install -d "$PKG/DEBIAN"
install -D -m644 "$RELEASE/libobs_vrm_avatar.so" "$PKG/usr/lib/$MULTIARCH/obs-plugins/$NAME.so"
install -D -m755 "$RELEASE/vrm-avatar" "$PKG/usr/bin/vrm-avatar"
strip_debug "$PKG/usr/lib/$MULTIARCH/obs-plugins/$NAME.so"
strip_debug "$PKG/usr/bin/vrm-avatar"
stage_data "$DATA"
stage_docs "$PKG/usr/share/doc/$NAME"

# Shared-library dependencies as Debian computes them (libobs0, libc6, libstdc++6 for ONNX
# Runtime, ...), plus OBS itself.
printf 'Source: %s\n\nPackage: %s\nArchitecture: %s\n' "$NAME" "$NAME" "$ARCH" >"$STAGE/debian/control"
SHLIBS="$(cd "$STAGE" && dpkg-shlibdeps -O --warnings=0 \
  -e"${PKG#"$STAGE"/}/usr/lib/$MULTIARCH/obs-plugins/$NAME.so" -e"${PKG#"$STAGE"/}/usr/bin/vrm-avatar" \
  -e"${PKG#"$STAGE"/}/usr/share/obs/obs-plugins/$NAME/models/$ORT_LIB" | sed -n 's/^shlibs:Depends=//p')"

cat >"$PKG/DEBIAN/control" <<CONTROL
Package: $NAME
Version: $VERSION
Architecture: $ARCH
Maintainer: ${DEBFULLNAME:-obs-vrm-avatar developers} <${DEBEMAIL:-maintainer@invalid}>
Section: video
Priority: optional
Depends: obs-studio (>= 29), $SHLIBS
Recommends: mesa-vulkan-drivers
Installed-Size: $(du -sk --exclude=DEBIAN "$PKG" | cut -f1)
Description: VRM avatar source for OBS Studio, driven by your webcam
 Adds the "VRM Avatar" video source to OBS Studio: it tracks the streamer with
 MediaPipe's models on ONNX Runtime (both bundled), poses their VRM avatar and
 renders it straight into the source, with alpha. Also installs the vrm-avatar
 command line (inspect, render, track, bench).
CONTROL
(cd "$PKG" && find usr -type f -print0 | sort -z | xargs -0 md5sum) >"$PKG/DEBIAN/md5sums"

mkdir -p "$OUT"
# $DEB_COMPRESSION: xz (smallest, the default) or gzip (several times faster; the tests use it).
dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-xz}" --build "$PKG" "$DEB" >/dev/null
echo "deb: $DEB ($(du -h "$DEB" | cut -f1))"
