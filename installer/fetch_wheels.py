#!/usr/bin/env python3
"""Fetches the onnxruntime==1.31.1 wheel for a platform from PyPI (with pip, checked against the
sha256 pinned here) and takes out what a package bundles: the ONNX Runtime library, its LICENSE
and ThirdPartyNotices.txt. Also fetches the mediapipe==0.10.14 wheel whose LICENSE covers the
tracking models (its manylinux build on every platform: only that file is read). Runs wherever
Python 3.9+ with pip runs (the Windows and macOS package builds call it).

    fetch_wheels.py --platform windows-x64|macos-arm64|linux-x64 --dest DIR [--cache DIR]

DIR receives the library (onnxruntime.dll, libonnxruntime.1.31.1.dylib or
libonnxruntime.so.1.31.1), onnxruntime-LICENSE.txt, onnxruntime-ThirdPartyNotices.txt, and the two
wheels' paths in wheels.txt (for installer/third_party_notices.py).
"""

import argparse
import glob
import hashlib
import os
import subprocess
import sys
import zipfile

ORT_VERSION = "1.31.1"
MEDIAPIPE_VERSION = "0.10.14"

# platform: (pip --platform tags, wheel file glob, library inside the wheel, sha256 of the wheel)
# onnxruntime 1.31.1 has no x86_64 macOS wheel (the last was 1.23): macOS means Apple Silicon.
PLATFORMS = {
    "windows-x64": (
        ["win_amd64"],
        f"onnxruntime-{ORT_VERSION}-cp311-cp311-win_amd64.whl",
        "onnxruntime/capi/onnxruntime.dll",
        "c3d91b5de31e2fc82d71bd65b2b22bddee8b49057a3a36338e9a868e0ea90c05",
    ),
    "macos-arm64": (
        ["macosx_14_0_arm64"],
        f"onnxruntime-{ORT_VERSION}-cp311-cp311-macosx_14_0_arm64.whl",
        f"onnxruntime/capi/libonnxruntime.{ORT_VERSION}.dylib",
        "60b6b69bfe580eab576cacc5d132a0e9cf2a37fcfd18d46dd191042b1d1ed0d7",
    ),
    "linux-x64": (
        ["manylinux_2_28_x86_64", "manylinux_2_17_x86_64"],
        f"onnxruntime-{ORT_VERSION}-cp311-cp311-manylinux_2_28_x86_64.whl",
        f"onnxruntime/capi/libonnxruntime.so.{ORT_VERSION}",
        "5752bd508126ae7c49894d3b9d2e83f0c3d487319246d04c444b393308d7ad7f",
    ),
}
MEDIAPIPE = (
    ["manylinux_2_17_x86_64", "manylinux2014_x86_64"],
    f"mediapipe-{MEDIAPIPE_VERSION}-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl",
    "a807328339e7356fda0bb14df12fedbf1d33bdf81649c5f8666b0026b1cc30b4",
)


def sha256(path):
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def fetch(requirement, tags, name, digest, cache):
    """The wheel `name` in `cache`, downloaded by pip unless already there; checked by sha256."""
    path = os.path.join(cache, name)
    if not os.path.isfile(path):
        cmd = [sys.executable, "-m", "pip", "download", "--quiet", "--disable-pip-version-check",
               "--no-deps", "--only-binary=:all:", "--implementation", "cp",
               "--python-version", "3.11", "--abi", "cp311", "-d", cache]
        for tag in tags:
            cmd += ["--platform", tag]
        subprocess.run(cmd + [requirement], check=True)
        if not os.path.isfile(path):
            found = ", ".join(os.path.basename(p) for p in glob.glob(os.path.join(cache, "*.whl")))
            sys.exit(f"error: pip did not fetch {name} (found: {found})")
    got = sha256(path)
    if got != digest:
        sys.exit(f"error: {path} has sha256 {got}, expected {digest}")
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--platform", required=True, choices=sorted(PLATFORMS))
    ap.add_argument("--dest", required=True)
    ap.add_argument("--cache", default=os.path.join("out", "wheels"))
    args = ap.parse_args()
    os.makedirs(args.cache, exist_ok=True)
    os.makedirs(args.dest, exist_ok=True)

    tags, name, library, digest = PLATFORMS[args.platform]
    ort = fetch(f"onnxruntime=={ORT_VERSION}", tags, name, digest, args.cache)
    mediapipe = fetch(f"mediapipe=={MEDIAPIPE_VERSION}", *MEDIAPIPE, args.cache)
    with zipfile.ZipFile(ort) as z:
        for member, out in [(library, os.path.basename(library)),
                            ("onnxruntime/LICENSE", "onnxruntime-LICENSE.txt"),
                            ("onnxruntime/ThirdPartyNotices.txt",
                             "onnxruntime-ThirdPartyNotices.txt")]:
            with open(os.path.join(args.dest, out), "wb") as f:
                f.write(z.read(member))
    with open(os.path.join(args.dest, "wheels.txt"), "w") as f:
        f.write(f"{os.path.abspath(ort)}\n{os.path.abspath(mediapipe)}\n")
    print(f"onnxruntime {ORT_VERSION} ({args.platform}): {os.path.basename(library)} -> {args.dest}")


if __name__ == "__main__":
    main()
