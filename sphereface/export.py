"""Freeze a trained network into the ``.pb`` that ATC converts.

The frozen graph has one float32 placeholder ``input_x`` of shape
``[-1, 28, 28, 1]`` (pixels in [0, 1], the scaling of training), an
int32 output ``output`` (the predicted class: argmax of the cosine
logits; ATC handles int32, not int64 outputs) and, optionally, the
L2-normalised ``embedding`` for verification.  Weights are constants and
no variable or function-call node is left.
"""

import collections
import contextlib
from pathlib import Path

import numpy as np
import tensorflow as tf
from tensorflow.python.framework.convert_to_constants import (
    convert_variables_to_constants_v2,
)

INPUT_NAME = "input_x"
OUTPUT_NAME = "output"
EMBEDDING_NAME = "embedding"

# TensorFlow op types that ATC's TensorFlow parser maps (the toolchain
# fact sheet, read in the parser plugins' source).
ATC_SUPPORTED_OPS = frozenset([
    "Conv2D", "BiasAdd", "Relu", "Maximum", "Mul", "Add", "AddV2",
    "MatMul", "Reshape", "Mean", "Sum", "Rsqrt", "RealDiv", "ArgMax",
    "Identity", "Placeholder", "Const", "Pad", "MaxPool", "FusedBatchNorm",
    "FusedBatchNormV2", "FusedBatchNormV3", "Square", "Sqrt", "Softmax",
    "Cast", "Shape", "StridedSlice", "Pack", "ExpandDims", "Squeeze",
    "Transpose", "ConcatV2", "Exp", "Log", "Sub", "Neg", "Acos", "Cos",
    "Pow", "Floor", "Sign", "Relu6", "AvgPool", "DepthwiseConv2dNative",
    "StopGradient", "NoOp", "Snapshot", "PlaceholderWithDefault",
])
# What must never be left in a frozen graph.
_NOT_FROZEN = frozenset({"VarHandleOp", "ReadVariableOp", "VariableV2",
                         "StatefulPartitionedCall", "PartitionedCall"})


def frozen_graph_def(backbone, head, embedding=False):
    """The frozen ``tf.compat.v1.GraphDef`` of image -> class (-> emb)."""
    spec = tf.TensorSpec([None, 28, 28, 1], tf.float32, name=INPUT_NAME)

    @tf.function(input_signature=[spec])
    def serve(input_x):
        features = backbone(input_x, training=False)
        classes = tf.argmax(head(features), axis=1, output_type=tf.int32)
        outputs = {OUTPUT_NAME: tf.identity(classes, name=OUTPUT_NAME)}
        if embedding:
            unit = tf.math.l2_normalize(features, axis=1, epsilon=1e-12)
            outputs[EMBEDDING_NAME] = tf.identity(unit, name=EMBEDDING_NAME)
        return outputs

    frozen = convert_variables_to_constants_v2(serve.get_concrete_function())
    graph_def = constant_reshapes(frozen.graph.as_graph_def())
    left = {n.op for n in graph_def.node} & _NOT_FROZEN
    if left:
        raise RuntimeError(f"freezing left {sorted(left)} in the graph")
    return graph_def


def constant_reshapes(graph_def):
    """A copy whose every ``Reshape`` takes a constant shape ``[-1, ...]``.

    Keras flattens with ``Shape -> StridedSlice -> Pack -> Reshape``,
    computing the batch size at run time.  ATC probably folds that per
    gear, but a constant ``reshape(x, (-1, 3136))`` leaves no shape
    arithmetic in the graph to doubt.  The computed shape is replaced by
    the static one TensorFlow infers (all but the first dimension must
    be known) and the nodes that only fed it are dropped.
    """
    with tf.Graph().as_default() as graph:
        tf.compat.v1.import_graph_def(graph_def, name="")
    result = tf.compat.v1.GraphDef()
    result.CopyFrom(graph_def)
    nodes = {node.name: node for node in result.node}
    consumers = collections.Counter(
        name.split(":")[0].lstrip("^") for node in result.node
        for name in node.input)
    for node in result.node:
        if node.op != "Reshape":
            continue
        source = nodes[node.input[1].split(":")[0]]
        if source.op == "Const":
            continue
        if consumers[source.name] != 1:
            raise ValueError(f"{source.name}: the shape of {node.name} "
                             "feeds other nodes too; cannot fold it")
        shape = graph.get_operation_by_name(node.name).outputs[0].shape
        if shape.rank is None or None in shape.as_list()[1:]:
            raise ValueError(f"{node.name}: output shape {shape} is not "
                             "static beyond the batch dimension")
        dtype = tf.dtypes.as_dtype(node.attr["Tshape"].type)
        name = source.name
        source.Clear()
        source.name, source.op = name, "Const"
        source.attr["dtype"].type = dtype.as_datatype_enum
        source.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(
            [-1, *shape.as_list()[1:]], dtype))
    keep = _ancestors(nodes, [name for name in (OUTPUT_NAME, EMBEDDING_NAME)
                              if name in nodes])
    kept = [node for node in result.node if node.name in keep]
    del result.node[:]
    result.node.extend(kept)
    return result


def _ancestors(nodes, names):
    """The names of ``names`` and every node they depend on."""
    found, stack = set(), list(names)
    while stack:
        name = stack.pop()
        if name not in found:
            found.add(name)
            stack.extend(i.split(":")[0].lstrip("^")
                         for i in nodes[name].input)
    return found


def freeze_pb(trained, path, embedding=False, overwrite=False):
    """Write the frozen graph of ``trained`` to ``path`` (binary ``.pb``).

    Refuses to replace an existing file unless ``overwrite=True``.
    Maps are serialised in sorted order, so the same network always
    gives the same bytes (a rerun does not churn the shipped file).
    """
    path = Path(path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"{path}: already exists; not overwriting "
                              "(pass overwrite=True to replace it)")
    graph_def = frozen_graph_def(trained.backbone, trained.head, embedding)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(graph_def.SerializeToString(deterministic=True))
    return path


def read_pb(path):
    """Parse a binary ``.pb``; a clear error if it is not a GraphDef."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file")
    graph_def = tf.compat.v1.GraphDef()
    try:
        graph_def.ParseFromString(path.read_bytes())
    except Exception as exc:  # protobuf's DecodeError
        raise ValueError(f"{path}: not a binary TensorFlow GraphDef "
                         f"({exc})") from exc
    if not graph_def.node:
        raise ValueError(f"{path}: a GraphDef with no nodes")
    return graph_def


def _shape(node):
    if "shape" not in node.attr:
        return None
    dims = node.attr["shape"].shape.dim
    return [d.size for d in dims]


def describe_pb(path):
    """Inputs, named outputs and op-type counts of a frozen graph.

    Returns ``{"inputs": [(name, dtype, shape)], "outputs": [(name,
    dtype)], "ops": {op: count}, "nodes": n}``; ops sorted by name.
    """
    graph_def = read_pb(path)
    inputs = [(n.name, tf.dtypes.as_dtype(n.attr["dtype"].type).name,
               _shape(n)) for n in graph_def.node if n.op == "Placeholder"]
    outputs = []
    with tf.Graph().as_default() as graph:
        tf.compat.v1.import_graph_def(graph_def, name="")
        for name in (OUTPUT_NAME, EMBEDDING_NAME):
            try:
                tensor = graph.get_tensor_by_name(name + ":0")
            except KeyError:
                continue
            outputs.append((name, tensor.dtype.name,
                            tensor.shape.as_list()))
    ops = collections.Counter(n.op for n in graph_def.node)
    return {"inputs": inputs, "outputs": outputs,
            "ops": dict(sorted(ops.items())), "nodes": len(graph_def.node)}


def check_ops_for_atc(path):
    """Op types in the graph that ATC's TensorFlow parser does not map.

    An empty list means every op is on the supported list; the final
    word is ``atc --mode=3`` (pre-check) on a machine with CANN.
    """
    return sorted(set(describe_pb(path)["ops"]) - ATC_SUPPORTED_OPS)


@contextlib.contextmanager
def pb_session(path, outputs=(OUTPUT_NAME,), fp16=False):
    """A function ``batch -> [one array per output]`` over a frozen graph.

    The graph is imported and its ``tf.compat.v1`` session opened once,
    so calling the function many times (a benchmark, a loop over
    batches) pays only for the run.  Feeds ``input_x:0``, fetches
    ``<name>:0``; ``fp16=True`` runs it in half precision.
    """
    graph_def, dtype = read_pb(path), np.float32
    if fp16:
        graph_def, dtype = to_fp16(graph_def), np.float16
    graph = tf.Graph()
    with graph.as_default():  # only while importing: callers stay eager
        tf.compat.v1.import_graph_def(graph_def, name="")
    fetches = [graph.get_tensor_by_name(f"{n}:0") for n in outputs]
    feed = graph.get_tensor_by_name(f"{INPUT_NAME}:0")
    # not ``with Session``: that would make its graph the default too
    session = tf.compat.v1.Session(graph=graph)
    try:
        yield lambda batch: session.run(
            fetches, {feed: np.asarray(batch, dtype)})
    finally:
        session.close()


def run_pb(path, images, batch_size=None, outputs=(OUTPUT_NAME,),
           fp16=False):
    """Run a frozen graph on the CPU through ``tf.compat.v1``.

    Returns one array per name in ``outputs``, concatenated over
    batches of ``batch_size`` (all images at once if None).
    """
    images = np.asarray(images, np.float32)
    batch_size = batch_size or len(images)
    with pb_session(path, outputs, fp16) as run:
        results = [run(images[start:start + batch_size])
                   for start in range(0, len(images), batch_size)]
    return [np.concatenate(parts) for parts in zip(*results)]


def to_fp16(graph_def):
    """A copy of a frozen graph with every float32 made float16.

    Constants are rounded to float16 and each op's float type attribute
    switched, so the whole network runs in half precision: a CPU
    estimate of what ``atc --precision_mode=force_fp16`` does.
    """
    half = tf.compat.v1.GraphDef()
    half.CopyFrom(graph_def)
    float32, float16 = tf.float32.as_datatype_enum, tf.float16.as_datatype_enum
    for node in half.node:
        for key in ("T", "dtype", "SrcT", "DstT"):
            if key in node.attr and node.attr[key].type == float32:
                node.attr[key].type = float16
        if node.op == "Const" and node.attr["dtype"].type == float16:
            value = tf.make_ndarray(node.attr["value"].tensor)
            node.attr["value"].tensor.CopyFrom(tf.make_tensor_proto(
                value.astype(np.float16)))
    return half


def write_onnx(pb_path, onnx_path, opset=13, overwrite=False):
    """Convert the frozen ``.pb`` to ONNX (for ``atc --framework=5``).

    Inputs and outputs keep the graph's tensor names (``input_x:0``,
    ``output:0`` and, if present, ``embedding:0``).
    """
    import logging

    import tf2onnx

    onnx_path = Path(onnx_path)
    if onnx_path.exists() and not overwrite:
        raise FileExistsError(f"{onnx_path}: already exists; not "
                              "overwriting (pass overwrite=True)")
    graph_def = read_pb(pb_path)
    names = {n.name for n in graph_def.node}
    outputs = [f"{n}:0" for n in (OUTPUT_NAME, EMBEDDING_NAME) if n in names]
    tf_logger = tf.get_logger()
    level = tf_logger.level
    tf_logger.setLevel(logging.ERROR)  # tf2onnx's v1-API deprecation notes
    logging.getLogger("tf2onnx").setLevel(logging.ERROR)
    try:
        model_proto, _ = tf2onnx.convert.from_graph_def(
            graph_def, input_names=[f"{INPUT_NAME}:0"], output_names=outputs,
            opset=opset)
    finally:
        tf_logger.setLevel(level)
    onnx_path.write_bytes(model_proto.SerializeToString())
    return onnx_path


def onnx_session(onnx_path, outputs=(OUTPUT_NAME,)):
    """A function ``batch -> [arrays]`` over an onnxruntime session."""
    import onnxruntime

    session = onnxruntime.InferenceSession(
        str(onnx_path), providers=["CPUExecutionProvider"])
    names = [f"{n}:0" for n in outputs]
    return lambda batch: session.run(
        names, {f"{INPUT_NAME}:0": np.asarray(batch, np.float32)})


def run_onnx(onnx_path, images, outputs=(OUTPUT_NAME,)):
    """Run an ONNX export with onnxruntime on the CPU."""
    return onnx_session(onnx_path, outputs)(images)
