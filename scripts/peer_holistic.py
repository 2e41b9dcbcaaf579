#!/usr/bin/env python3
"""Peer side of the tracking benchmark: MediaPipe 0.10.14's own Python Holistic on a video.

Usage: peer_holistic.py INPUT_VIDEO [--width 640 --height 360] [--max-frames N] [--json]
                        [--landmarks-out FILE.json]
--width 0 --height 0 keeps the video's own size. Run it through scripts/peer_holistic.sh (venv).

Timing covers only Holistic.process(): every frame is decoded, resized and converted to RGB first,
then processed back to back with no pacing. "cores_busy" is the process CPU time (all threads)
over the wall time of that loop.
"""
import argparse
import json
import os
import statistics
import sys
import time

import cv2
import mediapipe as mp

PEER = "mediapipe 0.10.14 holistic (model_complexity=1, smooth_landmarks, refine_face_landmarks)"

# Handedness. CONTRACTS.md's "left_hand" is the subject's own anatomical left hand in an unmirrored
# image, and MediaPipe Holistic's left_hand_landmarks is exactly that, so no swap is made:
# - Holistic does not use the Hands solution's handedness classifier (the one documented as
#   assuming a mirrored selfie image). Its graph HandLandmarksLeftAndRightCpu
#   (mediapipe/modules/holistic_landmark/hand_landmarks_left_and_right_cpu.pbtxt) looks for the
#   left hand around pose landmarks 15/17/19 (LEFT_WRIST/PINKY/INDEX), the right around 16/18/20.
# - BlazePose's LEFT_* points are the subject's anatomical left. Checked on testdata pose_1.mp4
#   (subject facing the camera, arms out): LEFT_SHOULDER (11) is right of RIGHT_SHOULDER (12) in the
#   image in 119/119 frames with a face, and so is the face mesh's left-eye corner 263 vs. 33;
#   the left_hand wrist lies nearer pose 15 than 16 in 85/85 frames, the right_hand's nearer 16 in
#   73/74, and on a drawn frame left_hand sits on the hand at the image's right, the subject's left.
# - Caveat: when the left hand is out of frame, Holistic may still put a "left hand" on the right
#   hand (face_and_thumbs_up.mp4: all 101 left_hand frames lie on the right hand, a mean 15 px
#   from right_hand).


def parse_args():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("input")
    p.add_argument("--width", type=int, default=640)
    p.add_argument("--height", type=int, default=360)
    p.add_argument("--max-frames", type=int, default=0, help="0 = all frames")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--landmarks-out", help="write CONTRACTS.md Landmarks JSON here")
    return p.parse_args()


def decode(path, width, height, max_frames):
    """All frames as RGB arrays at width x height (0 x 0: native size), and the video's fps."""
    cap = cv2.VideoCapture(path)
    if not cap.isOpened():
        sys.exit(f"peer_holistic: cannot open {path}")
    fps = cap.get(cv2.CAP_PROP_FPS) or 30.0
    frames = []
    while not max_frames or len(frames) < max_frames:
        ok, bgr = cap.read()
        if not ok:
            break
        if width and height and (bgr.shape[1], bgr.shape[0]) != (width, height):
            bgr = cv2.resize(bgr, (width, height), interpolation=cv2.INTER_AREA)
        frames.append(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))
    cap.release()
    if not frames:
        sys.exit(f"peer_holistic: no frames decoded from {path}")
    return frames, fps


def machine():
    cpu = "unknown"
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return {"cpu": cpu, "nproc": len(os.sched_getaffinity(0)), "loadavg": list(os.getloadavg())}


def pts(landmarks, with_visibility=False):
    """A landmark list as [[x, y, z(, visibility)], ...], or None when the part was not found."""
    if landmarks is None:
        return None
    r = lambda v: round(v, 6)  # keeps the file small; far below the trackers' precision
    if with_visibility:
        return [[r(l.x), r(l.y), r(l.z), r(l.visibility)] for l in landmarks.landmark]
    return [[r(l.x), r(l.y), r(l.z)] for l in landmarks.landmark]


def main():
    a = parse_args()
    frames, video_fps = decode(a.input, a.width, a.height, a.max_frames)
    height, width = frames[0].shape[:2]
    load_before = machine()

    holistic = mp.solutions.holistic.Holistic(
        static_image_mode=False, model_complexity=1, smooth_landmarks=True,
        refine_face_landmarks=True)
    ms, results = [], []
    cpu0, wall0 = time.process_time(), time.perf_counter()
    for rgb in frames:
        t = time.perf_counter()
        res = holistic.process(rgb)
        ms.append((time.perf_counter() - t) * 1000.0)
        # process() reuses nothing between calls, so keeping the result objects is safe; they are
        # turned into JSON after the timed loop.
        results.append(res)
    wall = time.perf_counter() - wall0
    cpu = time.process_time() - cpu0
    holistic.close()

    q = statistics.quantiles(ms, n=100, method="inclusive") if len(ms) > 1 else ms * 99
    found = {k: sum(getattr(r, f"{k}_landmarks") is not None for r in results)
             for k in ("pose", "face", "left_hand", "right_hand")}
    summary = {
        "peer": PEER, "input": a.input, "width": width, "height": height,
        "frames": len(ms), "fps": round(len(ms) / wall, 2),
        "ms": {"mean": round(statistics.fmean(ms), 2), "p50": round(statistics.median(ms), 2),
               "p95": round(q[94], 2)},
        "cores_busy": round(cpu / wall, 2), "found": found, "machine": load_before,
    }

    if a.landmarks_out:
        out = {"source": a.input, "width": width, "height": height, "frames": []}
        for i, r in enumerate(results):
            pose = None
            if r.pose_landmarks is not None:
                pose = {"image": pts(r.pose_landmarks, True),
                        "world": pts(r.pose_world_landmarks, True)}
            out["frames"].append({
                "index": i, "t_ms": round(i * 1000.0 / video_fps, 3), "pose": pose,
                "face": pts(r.face_landmarks),
                # Holistic's left/right already name the subject's anatomical hands (see top).
                "left_hand": pts(r.left_hand_landmarks),
                "right_hand": pts(r.right_hand_landmarks),
            })
        os.makedirs(os.path.dirname(os.path.abspath(a.landmarks_out)), exist_ok=True)
        with open(a.landmarks_out, "w") as f:
            json.dump(out, f, separators=(",", ":"))

    if a.json:
        print(json.dumps(summary))
    else:
        print(f"peer     {PEER}")
        print(f"input    {a.input} at {width}x{height}, {len(ms)} frames")
        print(f"speed    {summary['fps']} fps, ms/frame mean {summary['ms']['mean']} "
              f"p50 {summary['ms']['p50']} p95 {summary['ms']['p95']}")
        print(f"cpu      {summary['cores_busy']} cores busy ({load_before['cpu']}, "
              f"{load_before['nproc']} cpus, load {load_before['loadavg'][0]:.2f})")
        print("found    " + ", ".join(f"{k} {v}/{len(ms)}" for k, v in found.items()))


if __name__ == "__main__":
    main()
