import keras
import numpy as np
import pytest
import tensorflow as tf

from sphereface import export
from sphereface.ascend import accuracy, convert_to_bin, run_pb_like_msame
from sphereface.model import build_backbone, build_head
from sphereface.train import TrainConfig, Trained


@pytest.fixture(scope="module")
def net():
    keras.utils.set_random_seed(0)  # an untrained but repeatable network
    config = TrainConfig(embedding_dim=6)
    backbone = build_backbone("small", 6)
    head = build_head(config)
    head.build((None, 6))
    return Trained(config, backbone, head, history={})


@pytest.fixture(scope="module")
def pb(net, tmp_path_factory):
    path = tmp_path_factory.mktemp("pb") / "sphereface.pb"
    return export.freeze_pb(net, path, embedding=True)


@pytest.fixture(scope="module")
def images():
    return np.random.default_rng(0).random((37, 28, 28, 1), np.float32)


def test_graph_interface(pb):
    info = export.describe_pb(pb)
    assert info["inputs"] == [("input_x", "float32", [-1, 28, 28, 1])]
    assert info["outputs"] == [("output", "int32", [None]),
                               ("embedding", "float32", [None, 6])]
    assert not set(info["ops"]) & {"VarHandleOp", "ReadVariableOp",
                                   "StatefulPartitionedCall",
                                   "PartitionedCall"}


def test_pb_bytes_are_canonical(pb):
    """Maps are written sorted, so a network always gives the same bytes
    (rerunning chapter 5 leaves the shipped ``.pb`` unchanged)."""
    graph_def = export.read_pb(pb)
    assert graph_def.SerializeToString(deterministic=True) == pb.read_bytes()


# Op types ATC's TensorFlow parser maps, copied from the toolchain fact
# sheet (docs/ascend-toolchain.md, "TensorFlow op support verdict"):
# the expectation the module's own list is checked against.
ATC_MAPPED = {
    "Conv2D", "BiasAdd", "Relu", "Maximum", "Mul", "Add", "AddV2",
    "MatMul", "Reshape", "Mean", "Sum", "Rsqrt", "RealDiv", "ArgMax",
    "Identity", "Placeholder", "Const", "Pad", "MaxPool", "FusedBatchNorm",
    "FusedBatchNormV2", "FusedBatchNormV3", "Square", "Sqrt", "Softmax",
    "Cast", "Shape", "StridedSlice", "Pack", "ExpandDims", "Squeeze",
    "Transpose", "ConcatV2", "Exp", "Log", "Sub", "Neg", "Acos", "Cos",
    "Pow", "Floor", "Sign", "Relu6", "AvgPool", "DepthwiseConv2dNative",
    "StopGradient", "NoOp", "Snapshot", "PlaceholderWithDefault"}


def test_graph_holds_the_networks_ops_all_mapped_by_atc(pb):
    ops = [node.op for node in export.read_pb(pb).node]
    count = {op: ops.count(op) for op in set(ops)}
    # five convolutions, two poolings; dense, embedding and cosine head
    assert (count["Conv2D"], count["MaxPool"], count["MatMul"]) == (5, 2, 3)
    assert count["Placeholder"] == count["ArgMax"] == 1
    # the head's and the embedding's l2-normalisation
    assert count["Rsqrt"] == 2
    assert set(ops) <= ATC_MAPPED, set(ops) - ATC_MAPPED
    assert export.check_ops_for_atc(pb) == []


def test_atc_check_names_an_op_atc_cannot_map(pb, tmp_path):
    graph_def = export.read_pb(pb)
    [node] = [n for n in graph_def.node if n.name == "embedding"]
    node.op = "Erf"  # float in, float out; absent from the parser
    odd = tmp_path / "odd.pb"
    odd.write_bytes(graph_def.SerializeToString())
    assert export.check_ops_for_atc(odd) == ["Erf"]


def test_freezing_twice_gives_the_same_bytes(net, pb, tmp_path):
    again = export.freeze_pb(net, tmp_path / "again.pb", embedding=True)
    assert again.read_bytes() == pb.read_bytes()


def test_pb_matches_keras_exactly(net, pb, images):
    classes, embedding = export.run_pb(pb, images, 8,
                                       ("output", "embedding"))
    emb, logits = net.embed(images)
    np.testing.assert_array_equal(classes, logits.argmax(1))
    unit = emb / np.linalg.norm(emb, axis=1, keepdims=True)
    np.testing.assert_allclose(embedding, unit, atol=1e-5)
    assert classes.dtype == np.int32


def test_freeze_refuses_to_overwrite(net, pb):
    with pytest.raises(FileExistsError, match="not overwriting"):
        export.freeze_pb(net, pb)


def test_read_pb_bad_files(tmp_path):
    junk = tmp_path / "junk.pb"
    junk.write_bytes(b"\xff\xfe not a protobuf \x00\x01")
    with pytest.raises(ValueError, match="junk.pb"):
        export.read_pb(junk)
    with pytest.raises(FileNotFoundError, match="missing.pb"):
        export.read_pb(tmp_path / "missing.pb")


@pytest.mark.parametrize("batch_size", [1, 8, 32])
def test_cpu_stand_in_writes_msame_layout(net, pb, images, tmp_path,
                                          batch_size):
    labels = net.embed(images)[1].argmax(1)
    labels[:3] = (labels[:3] + 1) % 10  # three known misses
    convert_to_bin(images, labels, tmp_path / "bin", batch_size)
    run = run_pb_like_msame(pb, tmp_path / "bin" / f"image_{batch_size}",
                            tmp_path / "out", batch_size)
    files = -(-37 // batch_size)
    names = sorted(p.name for p in run.iterdir())
    assert len(names) == files
    assert f"{files}_image_output_0.txt" in names
    text = (run / "1_image_output_0.txt").read_text()
    assert text.endswith(" ") and "\n" not in text
    assert len(text.split()) == batch_size
    result = accuracy(tmp_path / "bin" / f"label_{batch_size}", run)
    assert (result.correct, result.total) == (34, 37)
    assert [e[0] for e in result.errors] == [0, 1, 2]


def test_cpu_stand_in_rejects_wrong_batch_size(pb, images, tmp_path):
    convert_to_bin(images[:8], np.zeros(8), tmp_path / "bin", 4)
    with pytest.raises(ValueError, match="1_image.bin: 12544 bytes, but "
                                         "batch size 8 needs 25088"):
        run_pb_like_msame(pb, tmp_path / "bin" / "image_4",
                          tmp_path / "out", 8)


def test_freeze_overwrites_only_when_asked(net, tmp_path):
    path = export.freeze_pb(net, tmp_path / "a.pb")
    assert export.freeze_pb(net, path, overwrite=True) == path


def test_onnx_route_gives_the_same_predictions(pb, images, tmp_path):
    onnx_path = export.write_onnx(pb, tmp_path / "sphereface.onnx")
    classes, embedding = export.run_onnx(onnx_path, images,
                                         ("output", "embedding"))
    ref_classes, ref_embedding = export.run_pb(pb, images, None,
                                               ("output", "embedding"))
    np.testing.assert_array_equal(classes, ref_classes)
    np.testing.assert_allclose(embedding, ref_embedding, atol=1e-5)
    with pytest.raises(FileExistsError):
        export.write_onnx(pb, onnx_path)


def test_fp16_graph_runs_in_half_precision(pb, images):
    half = export.to_fp16(export.read_pb(pb))
    floats = {n.attr["dtype"].type for n in half.node if n.op == "Const"}
    assert 1 not in floats  # DT_FLOAT is gone, DT_HALF (19) is there
    classes, embedding = export.run_pb(pb, images, 8,
                                       ("output", "embedding"), fp16=True)
    ref, ref_embedding = export.run_pb(pb, images, 8,
                                       ("output", "embedding"))
    assert embedding.dtype == np.float16 and classes.dtype == np.int32
    np.testing.assert_allclose(embedding, ref_embedding, atol=0.02)
    assert np.mean(classes == ref) > 0.8


def test_pb_session_runs_many_batches_and_leaves_eager_on(pb, images):
    with export.pb_session(pb) as run:
        first = run(images[:4])[0]
        assert tf.executing_eagerly()  # Keras calls still work beside it
        again = np.concatenate([run(images[i:i + 2])[0] for i in (0, 2)])
    np.testing.assert_array_equal(first, again)
    assert first.dtype == np.int32
