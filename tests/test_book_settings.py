"""A test run is fast unless asked and never rewrites the book's files."""

import os
from pathlib import Path

import pytest
import sphereface_book
from sphereface_book import experiments

BOOK = Path(__file__).resolve().parent.parent / "book"
FAST, WRITE = sphereface_book.FAST, sphereface_book.WRITE


def book_files():
    """Every file of the book folder with its size and change time."""
    return {path: (path.stat().st_size, path.stat().st_mtime_ns)
            for path in BOOK.rglob("*")
            if path.is_file() and "__pycache__" not in path.parts}


def use(monkeypatch, environ):
    for name in (FAST, WRITE):
        if name in environ:
            monkeypatch.setenv(name, environ[name])
        else:
            monkeypatch.delenv(name, raising=False)


def test_this_session_runs_with_the_test_settings():
    # the root conftest.py, before any notebook kernel starts
    assert os.environ.get(FAST) in ("0", "1")
    assert WRITE not in os.environ


@pytest.mark.parametrize("asked, fast", [
    ({}, True), ({FAST: "1"}, True), ({FAST: "0"}, False),
    ({FAST: "0", WRITE: "1"}, False), ({WRITE: "1"}, True)])
def test_a_test_run_writes_nothing_into_the_book(asked, fast, tmp_path,
                                                 monkeypatch):
    environ = sphereface_book.settings_for_tests(dict(asked))
    assert sphereface_book.fast_mode(environ) is fast
    assert not sphereface_book.writes_book_files(environ)
    use(monkeypatch, environ)
    monkeypatch.setattr(experiments, "RESULTS_DIR", tmp_path)
    before = book_files()
    assert experiments.save_results([{"head": "x"}], "accuracy") is None
    assert experiments.mode_settings() == experiments.mode_settings(fast)
    assert book_files() == before
    assert not list(tmp_path.iterdir())


def test_results_are_written_when_asked_in_full_mode(tmp_path, monkeypatch):
    monkeypatch.setattr(experiments, "RESULTS_DIR", tmp_path)
    use(monkeypatch, {FAST: "1", WRITE: "1"})  # fast numbers: never
    assert experiments.save_results([{"head": "x"}], "accuracy") is None
    use(monkeypatch, {FAST: "0", WRITE: "1"})
    path = experiments.save_results([{"head": "x"}], "accuracy")
    assert path == tmp_path / "accuracy.json" and path.is_file()
