"""The project installs where the Ascend tools run: x86_64 and aarch64,
Python 3.9 and later.

``uv pip compile --python-platform`` resolves ``requirements.txt`` for a
machine other than this one (it needs the package index; without a
network the resolution tests skip).  ``vermin`` checks the package's
syntax and library calls against Python 3.9; the annotation check below
covers what vermin does not: ``X | None`` in a dataclass field or a
signature is evaluated when the module is imported, and fails on 3.9.
"""

import ast
import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
REQUIREMENTS = ROOT / "requirements.txt"
PACKAGE = ROOT / "sphereface"
PLATFORMS = {"x86_64-manylinux_2_28": "tensorflow-cpu",
             "aarch64-manylinux_2_28": "tensorflow"}
# uv's words when it cannot reach the index (not a resolution failure).
OFFLINE = ("Failed to fetch", "error sending request", "dns error",
           "Could not connect", "Network is unreachable")


def _uv():
    if importlib.util.find_spec("uv") is None:
        pytest.skip("uv is not installed (pip install -r requirements.txt)")
    return [sys.executable, "-m", "uv"]


def resolve(requirements, platform, python):
    """``{name: version}`` that uv resolves for ``platform``/``python``."""
    result = subprocess.run(
        _uv() + ["pip", "compile", str(requirements), "--quiet",
                       "--no-header", "--no-annotate",
                       "--python-platform", platform,
                       "--python-version", python],
        capture_output=True, text=True, timeout=300, check=False)
    if result.returncode != 0:
        if any(word in result.stderr for word in OFFLINE):
            pytest.skip("the package index is not reachable")
        raise AssertionError(f"{requirements} does not resolve for "
                             f"{platform}, Python {python}:\n"
                             f"{result.stderr}")
    pins = {}
    for line in result.stdout.splitlines():
        name, sep, version = line.strip().partition("==")
        if sep:
            pins[name.lower()] = version.split(";")[0].strip()
    return pins


def _version(text):
    return tuple(int(part) for part in text.split(".")[:2])


@pytest.mark.parametrize("python", ["3.9", "3.11"])
@pytest.mark.parametrize("platform", sorted(PLATFORMS))
@pytest.mark.parametrize("source", ["requirements.txt", "pyproject.toml"])
def test_requirements_resolve(source, platform, python):
    pins = resolve(ROOT / source, platform, python)
    wanted = PLATFORMS[platform]
    other = ({"tensorflow", "tensorflow-cpu"} - {wanted}).pop()
    assert wanted in pins, f"no {wanted} for {platform}: {sorted(pins)}"
    assert other not in pins, f"{other} on {platform}"
    assert "numpy" in pins
    # TensorFlow 2.19 and later crash at import with protobuf 3.20.
    if _version(pins[wanted]) >= (2, 19):
        assert _version(pins["protobuf"]) >= (4, 0), pins["protobuf"]


def test_unmarked_tensorflow_cpu_fails_on_aarch64(tmp_path):
    """The resolution test can fail: tensorflow-cpu has no aarch64 wheel."""
    plain = tmp_path / "requirements.txt"
    plain.write_text("tensorflow-cpu>=2.16,<2.22\n")
    with pytest.raises(AssertionError, match="does not resolve"):
        resolve(plain, "aarch64-manylinux_2_28", "3.11")


def test_pyproject_supports_python_39():
    text = (ROOT / "pyproject.toml").read_text()
    assert 'requires-python = ">=3.9"' in text


def test_vermin_python_39():
    vermin = shutil.which("vermin")
    if vermin is None:
        pytest.skip("vermin is not installed (pip install -r requirements.txt)")
    result = subprocess.run(
        [vermin, "-t=3.9-", "--no-tips", "--violations",
         "--eval-annotations", str(PACKAGE)],
        capture_output=True, text=True, timeout=300, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def _runtime_unions(path):
    """Line numbers of ``X | Y`` annotations evaluated at import time."""
    tree = ast.parse(path.read_text(), str(path))
    if any(isinstance(node, ast.ImportFrom) and node.module == "__future__"
           and any(a.name == "annotations" for a in node.names)
           for node in tree.body):
        return []
    annotations = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.AnnAssign, ast.arg)):
            annotations.append(node.annotation)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            annotations.append(node.returns)
    return sorted(
        inner.lineno for annotation in annotations if annotation is not None
        for inner in ast.walk(annotation)
        if isinstance(inner, ast.BinOp) and isinstance(inner.op, ast.BitOr))


def test_annotation_check_finds_a_union(tmp_path):
    module = tmp_path / "m.py"
    module.write_text("import dataclasses\n\n@dataclasses.dataclass\n"
                      "class A:\n    x: int | None = None\n")
    assert _runtime_unions(module) == [5]
    module.write_text("from __future__ import annotations\n"
                      + module.read_text())
    assert _runtime_unions(module) == []


@pytest.mark.parametrize(
    "path", sorted(PACKAGE.rglob("*.py")),
    ids=lambda p: str(p.relative_to(ROOT)))
def test_no_runtime_union_annotations(path):
    assert _runtime_unions(path) == [], (
        f"{path}: 'X | Y' annotations fail on Python 3.9; use "
        "typing.Optional or 'from __future__ import annotations'")
