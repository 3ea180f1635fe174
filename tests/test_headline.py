import json

from sphereface_book import headline


def write(folder, name, records):
    (folder / f"{name}.json").write_text(json.dumps(records))


def test_rows_from_results_files(tmp_path):
    write(tmp_path, "accuracy", [
        {"head": "a-softmax", "m": 4, "embedding_dim": 64,
         "schedule": "scaled", "test_accuracy": a} for a in (0.99, 0.994)
    ] + [{"head": "softmax", "m": None, "embedding_dim": 64,
          "schedule": None, "test_accuracy": 0.995},
         {"head": "a-softmax", "m": 4, "embedding_dim": 2,
          "schedule": "scaled", "test_accuracy": 0.9903}])
    write(tmp_path, "angles", [
        {"head": "a-softmax", "m": 4, "embedding_dim": 64, "fisher": 0.01,
         "inter_p5_deg": 89.04},
        {"head": "softmax", "m": None, "embedding_dim": 64, "fisher": 0.07,
         "inter_p5_deg": 67.0}])
    write(tmp_path, "deployment", [
        {"gear": g, "precision": "float32", "accuracy": 0.9949}
        for g in (1, 32)] + [{"gear": None, "precision": "float16 estimate",
                              "accuracy": 0.995}])
    assert headline.values(tmp_path) == {
        "asoftmax_64": "99.20 ± 0.28% (2 seeds)",
        "softmax_64": "99.50%", "asoftmax_2d": "99.03%",
        "fisher": "0.0100 vs 0.0700", "inter_p5": "89.0° vs 67.0°",
        "unseen_eer": None,  # no verification.json
        "pb_gears": "99.49% at every batch size", "fp16": "99.50%",
        "time_to_99": None, "overhead": None}  # no benchmarks.json


def test_gears_that_disagree_are_said(tmp_path):
    write(tmp_path, "deployment", [
        {"gear": 1, "precision": "float32", "accuracy": 0.99},
        {"gear": 4, "precision": "float32", "accuracy": 0.98}])
    found = headline.values(tmp_path)
    assert found["pb_gears"] == "differs between batch sizes"
    assert found["fp16"] is None
