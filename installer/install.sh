#!/bin/sh
# Installs obs-vrm-avatar into your own OBS (no root needed), from the folder this script is in:
#   ~/.config/obs-studio/plugins/obs-vrm-avatar/bin/64bit/obs-vrm-avatar.so
#   ~/.config/obs-studio/plugins/obs-vrm-avatar/data/{locale,models}
#   ~/.config/obs-studio/plugins/obs-vrm-avatar/THIRD-PARTY-NOTICES.txt
# ($XDG_CONFIG_HOME replaces ~/.config when set.) Restart OBS afterwards.
#
#   ./install.sh               install (or update) the plugin
#   ./install.sh --uninstall   remove it again
set -eu
HERE="$(cd "$(dirname "$0")" && pwd)"
CONFIG="${XDG_CONFIG_HOME:-${HOME:?HOME is not set}/.config}"
DEST="$CONFIG/obs-studio/plugins/obs-vrm-avatar"

case "${1:-}" in
  "")
    # Stage next to the destination, then swap it in, so a failed copy leaves the old install.
    NEW="$DEST.new.$$"
    rm -rf "$NEW"
    mkdir -p "$NEW"
    cp -R "$HERE/plugin/." "$NEW/"
    rm -rf "$DEST"
    mv "$NEW" "$DEST"
    echo "installed into $DEST (restart OBS to load it)"
    ;;
  --uninstall)
    if [ -d "$DEST" ]; then
      rm -rf "$DEST"
      echo "removed $DEST"
    else
      echo "nothing to remove: $DEST does not exist"
    fi
    # Leave no empty plugins folder behind that this script made.
    rmdir "$CONFIG/obs-studio/plugins" 2>/dev/null || true
    ;;
  *)
    echo "usage: $0 [--uninstall]" >&2
    exit 2
    ;;
esac
