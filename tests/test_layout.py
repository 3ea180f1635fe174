"""The library knows nothing of the book, so it works from any install.

A path into the checkout (``book/results``, ``_toc.yml``) resolved from
the package's own location is wrong once the package is installed
(``pip install .``): such paths belong to the book's helpers.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODULES = sorted((ROOT / "sphereface").rglob("*.py"))
BOOK_NAMES = {"book", "results", "models", "_toc.yml", "sphereface_book"}


def names_used(path):
    """Imported module names and string constants of a source file."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module.split(".")[0])
        elif isinstance(node, ast.Constant) and isinstance(node.value, str):
            found |= set(node.value.replace("\\", "/").split("/"))
    return found


@pytest.mark.parametrize("path", MODULES,
                         ids=lambda p: str(p.relative_to(ROOT)))
def test_library_has_no_path_into_the_book(path):
    assert not names_used(path) & BOOK_NAMES


def test_the_check_sees_a_book_path(tmp_path):
    source = tmp_path / "m.py"
    source.write_text('from pathlib import Path\n'
                      'R = Path(__file__).parent.parent / "book/results"\n')
    assert names_used(source) & BOOK_NAMES == {"book", "results"}


def test_book_helpers_resolve_the_checkouts_book():
    import sphereface_book
    from sphereface_book import toc

    assert sphereface_book.RESULTS_DIR == ROOT / "book" / "results"
    assert toc.ROOT == ROOT
