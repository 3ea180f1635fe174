"""The frozen graph holds no shape arithmetic, and atc's pre-check
(``--mode=3``, against the fake CANN box) accepts it."""

import os
import shlex
import subprocess
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from sphereface import export
from sphereface.model import build_backbone, build_head
from sphereface.train import TrainConfig, Trained

ROOT = Path(__file__).resolve().parents[1]
FAKE_CANN = ROOT.parent / "shared" / "tools" / "fake-cann"
SHAPE_OPS = {"Shape", "StridedSlice", "Pack"}


@pytest.fixture(scope="module")
def pb(tmp_path_factory):
    keras.utils.set_random_seed(0)
    config = TrainConfig(embedding_dim=4)
    backbone = build_backbone("small", 4)
    head = build_head(config)
    head.build((None, 4))
    net = Trained(config, backbone, head, history={})
    path = tmp_path_factory.mktemp("pb") / "sphereface.pb"
    return export.freeze_pb(net, path, embedding=True)


def _shape_consts(graph_def):
    nodes = {node.name: node for node in graph_def.node}
    shapes = {}
    for node in graph_def.node:
        if node.op == "Reshape":
            source = nodes[node.input[1].split(":")[0]]
            assert source.op == "Const", (node.name, source.op)
            shapes[node.name] = tf.make_ndarray(
                source.attr["value"].tensor).tolist()
    return shapes


def test_flatten_is_a_constant_reshape(pb):
    graph_def = export.read_pb(pb)
    assert not {node.op for node in graph_def.node} & SHAPE_OPS
    flatten = [shape for name, shape in _shape_consts(graph_def).items()
               if "flatten" in name]
    assert flatten == [[-1, 7 * 7 * 64]]


def test_computed_batch_size_becomes_a_constant():
    """Keras (3.15) flattens like this; constant_reshapes folds it."""
    spec = tf.TensorSpec([None, 7, 7, 64], tf.float32, name="x")

    def flatten(x):
        shape = tf.stack([tf.shape(x)[0], 7 * 7 * 64])
        return tf.identity(tf.reshape(x, shape), name="output")

    graph = tf.function(flatten, input_signature=[spec]
                        ).get_concrete_function()
    graph_def = graph.graph.as_graph_def()
    assert SHAPE_OPS <= {node.op for node in graph_def.node}
    folded = export.constant_reshapes(graph_def)
    assert not {node.op for node in folded.node} & SHAPE_OPS
    assert list(_shape_consts(folded).values()) == [[-1, 3136]]
    images = np.random.default_rng(0).random((3, 7, 7, 64), np.float32)
    for batch in (images, images[:1]):
        with tf.Graph().as_default() as g:
            tf.compat.v1.import_graph_def(folded, name="")
            with tf.compat.v1.Session(graph=g) as session:
                out = session.run("output:0", {"x:0": batch})
        np.testing.assert_array_equal(out, batch.reshape(len(batch), -1))


def test_unknown_inner_shape_is_an_error():
    spec = tf.TensorSpec([None, None], tf.float32, name="x")
    graph = tf.function(
        lambda x: tf.identity(tf.reshape(x, [-1, tf.shape(x)[1]]),
                              name="output"),
        input_signature=[spec]).get_concrete_function()
    with pytest.raises(ValueError, match="not static"):
        export.constant_reshapes(graph.graph.as_graph_def())


def _fake_atc(tmp_path, *flags):
    if not (FAKE_CANN / "install.sh").is_file():
        pytest.skip(f"{FAKE_CANN}: the fake CANN box is not here")
    box = tmp_path / "box"
    subprocess.run(["bash", str(FAKE_CANN / "install.sh"), str(box)],
                   check=True, capture_output=True)
    set_env = box / "Ascend" / "ascend-toolkit" / "set_env.sh"
    command = (f"source {shlex.quote(str(set_env))} && "
               + shlex.join(["atc", *flags]))
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env,
                          capture_output=True, text=True, check=False)


@pytest.mark.parametrize("model", ["fresh", "shipped"])
def test_atc_precheck_passes(pb, tmp_path, model):
    path = pb if model == "fresh" else ROOT / "book/models/sphereface.pb"
    result = _fake_atc(
        tmp_path, "--mode=3", f"--model={path}", "--framework=3",
        "--soc_version=Ascend310", "--input_shape=input_x:-1,28,28,1",
        "--out_nodes=output:0", "--dynamic_batch_size=1,4,8,16,32")
    assert "ATC run success" in result.stdout, result.stdout + result.stderr
    assert (tmp_path / "check_result.json").is_file()
    if model == "shipped":
        graph_def = export.read_pb(path)
        assert not {node.op for node in graph_def.node} & SHAPE_OPS
