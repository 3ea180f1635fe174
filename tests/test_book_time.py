"""``benchmarks/book_time.py`` names each run and counts its networks."""

import importlib.util
import json
import os
from pathlib import Path

import nbformat
import pytest

ROOT = Path(__file__).resolve().parent.parent


def load_script():
    spec = importlib.util.spec_from_file_location(
        "book_time", ROOT / "benchmarks" / "book_time.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_first_run_and_rerun_are_recorded_apart(tmp_path, monkeypatch):
    # A one-cell "book" that trains one network: it adds a cache entry
    # unless the entry is there already.
    page = tmp_path / "page.ipynb"
    source = ("import os, pathlib\n"
              "pathlib.Path(os.environ['SPHEREFACE_CACHE'], 'net')"
              ".mkdir(parents=True, exist_ok=True)")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(source)])
    nbformat.write(nb, page)
    script = load_script()
    monkeypatch.setattr(script, "notebooks", lambda: [page])
    out = tmp_path / "benchmarks.json"
    out.write_text(json.dumps({"quick": False}))
    cache = tmp_path / "cache"
    # main() sets these for its kernels; restore them after the test
    for name in ("SPHEREFACE_CACHE", "SPHEREFACE_FAST",
                 "SPHEREFACE_WRITE_RESULTS"):
        monkeypatch.setenv(name, "unset by the test")
    args = ["--mode", "fast", "--cache", str(cache), "--out", str(out)]

    script.main(args)
    assert os.environ["SPHEREFACE_WRITE_RESULTS"] == "0"  # not --in-place
    script.main(args + ["--note", "the test suite ran beside it"])

    record = json.loads(out.read_text())
    assert record["quick"] is False  # the rest of the file is kept
    runs = record["book_run_seconds"]
    assert set(runs) == {"fast, first run", "fast, cached"}
    assert runs["fast, first run"]["networks_trained"] == 1
    assert runs["fast, cached"]["networks_trained"] == 0
    assert set(runs["fast, cached"]["notebooks_s"]) == {"page"}
    assert runs["fast, cached"]["note"] == "the test suite ran beside it"
    assert "note" not in runs["fast, first run"]
    assert nbformat.read(page, as_version=4) == nb  # not --in-place


def test_only_runs_the_named_pages_and_records_nothing(tmp_path, monkeypatch,
                                                         capsys):
    pages = []
    for name in ("one", "two"):
        page = tmp_path / f"{name}.ipynb"
        # a flush sends each line as its own output, as a long cell does
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(
            f"print('{name}', flush=True)\nprint('again')")])
        nbformat.write(nb, page)
        pages.append(page)
    script = load_script()
    monkeypatch.setattr(script, "notebooks", lambda: pages)
    for name in ("SPHEREFACE_CACHE", "SPHEREFACE_FAST",
                 "SPHEREFACE_WRITE_RESULTS"):
        monkeypatch.setenv(name, "unset by the test")
    out = tmp_path / "benchmarks.json"
    args = ["--mode", "fast", "--cache", str(tmp_path / "cache"),
            "--out", str(out), "--in-place"]

    script.main(args + ["--only", "two"])

    assert not out.exists()  # a part of the book records no time
    assert nbformat.read(pages[0], as_version=4).cells[0].outputs == []
    outputs = nbformat.read(pages[1], as_version=4).cells[0].outputs
    assert [o.text for o in outputs] == ["two\nagain\n"]  # one block
    with pytest.raises(SystemExit):
        script.main(args + ["--only", "three"])
    assert "not a notebook of the book: three" in capsys.readouterr().err


def test_merge_streams_joins_neighbours_only():
    new = nbformat.v4
    cell = new.new_code_cell("")
    cell.outputs = [
        new.new_output("stream", name="stdout", text="a\n"),
        new.new_output("stream", name="stdout", text="b\n"),
        new.new_output("stream", name="stderr", text="warn\n"),
        new.new_output("display_data", data={"text/plain": "fig"}),
        new.new_output("stream", name="stdout", text="c\n")]
    nb = new.new_notebook(cells=[cell, new.new_markdown_cell("text")])

    merged = load_script().merge_streams(nb).cells[0].outputs

    assert [o.output_type for o in merged] == [
        "stream", "stream", "display_data", "stream"]
    assert [o.get("text") for o in merged] == ["a\nb\n", "warn\n", None,
                                               "c\n"]
