#!/usr/bin/env bash
# Installs what building, running and testing obs-vrm-avatar needs on Debian 12 (as root), and
# nothing twice: apt packages only when one is missing, Rust only when cargo is missing.
set -euo pipefail

# OBS Studio and its headers (bindgen), clang for bindgen, Mesa's Vulkan drivers (lavapipe: wgpu
# on machines without a GPU), Xvfb (OBS without a display) and xdotool (its Tools menu in a test),
# ffmpeg/ffprobe (checks of recordings), make and pkg-config (build helpers), python3-venv and
# python3-pip (scripts/models.sh's converter), dpkg-dev and binutils (installer/build-deb.sh:
# dpkg-shlibdeps, objcopy), gdb (a backtrace when OBS crashes in a test), espeak-ng and sox
# (speech with known vowels and pauses for the lip-sync tests).
PACKAGES=(obs-studio libobs-dev clang libclang-dev mesa-vulkan-drivers libgl1-mesa-dri xvfb xauth xdotool ffmpeg espeak-ng sox
          pkg-config make ca-certificates curl git python3-venv python3-pip dpkg-dev binutils gdb)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Rust: the machine's toolchain if there is one, else rustup's stable (edition 2024 needs >= 1.88;
# Debian 12's own rustc is too old).
if ! command -v cargo >/dev/null && [ -x "$HOME/.cargo/bin/cargo" ]; then
  export PATH="$HOME/.cargo/bin:$PATH"
fi
if ! command -v cargo >/dev/null; then
  echo "setup: installing Rust with rustup"
  curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal --component rustfmt,clippy
  export PATH="$HOME/.cargo/bin:$PATH"
fi
echo "setup: $(cargo --version), $(obs --version 2>/dev/null | head -n1)"
