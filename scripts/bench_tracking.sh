#!/usr/bin/env bash
# Side by side, in one run: our tracker (`vrm-avatar bench --input`) and MediaPipe 0.10.14's own
# Holistic (scripts/peer_holistic.sh), on the same video resized to the same size, alternating
# ROUNDS times so that a busy moment of the machine hits both. Prints a Markdown table (the
# README's) and writes the raw JSON to out/bench_tracking.json.
#
#   scripts/bench_tracking.sh [VIDEO] [ROUNDS]
# Default: ../shared/testdata/people/video/face_and_thumbs_up.mp4 at 640x360, 3 rounds.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VIDEO="${1:-$ROOT/../shared/testdata/people/video/face_and_thumbs_up.mp4}"
ROUNDS="${2:-3}"
cd "$ROOT"
bash scripts/models.sh >&2
cargo build --release -p vrm-avatar-tools --bin vrm-avatar >&2
mkdir -p out
RAW=out/bench_tracking.json
echo "[" > "$RAW"
for round in $(seq 1 "$ROUNDS"); do
  echo "bench_tracking: round $round of $ROUNDS" >&2
  ours=$(target/release/vrm-avatar bench --no-render --input "$VIDEO" --input-size 640x360 --json)
  peer=$(bash scripts/peer_holistic.sh "$VIDEO" --width 640 --height 360 --json)
  [ "$round" = 1 ] || echo "," >> "$RAW"
  printf '{"round": %s, "ours": %s, "peer": %s}\n' "$round" "$ours" "$peer" >> "$RAW"
done
echo "]" >> "$RAW"

python3 - "$RAW" <<'PY'
import json, statistics, sys
runs = json.load(open(sys.argv[1]))
def med(xs): return statistics.median(xs)
ours = lambda r: r["ours"]["tracking"]
face = lambda r: r["ours"]["tracking_face_only"]
peer = lambda r: r["peer"]
print(f"Tracking, {runs[0]['peer']['input'].split('/')[-1]} at {runs[0]['peer']['width']}x{runs[0]['peer']['height']}, "
      f"{runs[0]['peer']['frames']} frames, median of {len(runs)} alternating rounds; "
      f"machine: {runs[0]['peer']['machine']['cpu']}, {runs[0]['peer']['machine']['nproc']} cores\n")
print("| | fps | mean ms | p50 ms | p95 ms | cores busy | CPU ms / frame | found (pose/face/left/right) |")
print("|---|---:|---:|---:|---:|---:|---:|---|")
def line(name, get, found):
    fps = med([get(r)["fps"] for r in runs])
    m = {k: med([get(r)["ms"][k] for r in runs]) for k in ("mean", "p50", "p95")}
    cores = med([get(r)["cores_busy"] for r in runs])
    cpu = med([get(r)["cores_busy"] * 1000.0 / get(r)["fps"] for r in runs])
    f = found(get(runs[-1]))
    print(f"| {name} | {fps:.1f} | {m['mean']:.1f} | {m['p50']:.1f} | {m['p95']:.1f} | {cores:.2f} | {cpu:.1f} | {f} |")
    return fps, cpu
fnd = lambda t: "/".join(str(t["found"][k]) for k in ("pose", "face", "left_hand", "right_hand"))
p_fps, p_cpu = line("MediaPipe 0.10.14 Holistic (peer)", peer, fnd)
o_fps, o_cpu = line("obs-vrm-avatar, pose + face + iris + hands, 2 threads", ours, fnd)
line("obs-vrm-avatar, face + iris only", face, fnd)
print(f"\nRatio ours / peer: {o_fps / p_fps:.2f}x the frames per second, {o_cpu / p_cpu:.2f}x the CPU time per frame.")
PY
