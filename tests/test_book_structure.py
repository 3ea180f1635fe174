"""Every chapter follows the book's skeleton, checked on the sources."""

import re
from pathlib import Path

import nbformat
import pytest
from sphereface_book import toc

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))
SETUP = (ROOT / "book" / "01_hypersphere.ipynb")


def markdown(nb):
    return [c.source for c in nb.cells if c.cell_type == "markdown"]


def sections(nb):
    return [line[3:].strip() for text in markdown(nb)
            for line in text.splitlines() if line.startswith("## ")]


def test_every_chapter_is_in_the_table_of_contents():
    assert [f"book/{p.stem}" for p in CHAPTERS] == [
        f for f in toc.pages() if re.match(r"book/\d\d_", f)]


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_skeleton(path):
    nb = nbformat.read(path, as_version=4)
    number = int(path.name[:2])
    first = nb.cells[0]
    assert first.cell_type == "markdown"
    title, _, rest = first.source.partition("\n")
    assert re.fullmatch(rf"# {number}\. \S.*", title), title
    # a paragraph on what the reader will build, before any section
    intro = rest.split("\n## ")[0].strip()
    assert len(intro.split()) >= 40, f"{path.name}: opening too short"
    names = sections(nb)
    assert names[0] == "Setup", names
    assert names[-2:] == ["Summary", "Exercises"], names
    exercises = markdown(nb)[-1].split("## Exercises", 1)[1]
    count = len(re.findall(r"^\d+\. ", exercises, re.MULTILINE))
    assert 2 <= count <= 3, f"{path.name}: {count} exercises"


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_same_setup_cell(path):
    setup = nbformat.read(SETUP, as_version=4)
    expected = next(c.source for c in setup.cells if c.cell_type == "code")
    nb = nbformat.read(path, as_version=4)
    first_code = next(c for c in nb.cells if c.cell_type == "code")
    assert first_code.source == expected


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_referenced_equations_are_labelled(path):
    text = "\n".join(markdown(nbformat.read(path, as_version=4)))
    labels = set(re.findall(r"\$\$\s*\(([\w-]+)\)", text))
    for ref in re.findall(r"\{eq\}`([^`]+)`", text):
        assert ref in labels, f"{path.name}: {{eq}}`{ref}` has no label"


def test_citations_are_in_the_bibliography():
    bib = (ROOT / "book" / "references.bib").read_text()
    keys = set(re.findall(r"@\w+\{([^,]+),", bib))
    sources = [c.source for p in CHAPTERS
               for c in nbformat.read(p, as_version=4).cells]
    sources += [c.source for p in (ROOT / "book").glob("[a-z]*.ipynb")
                for c in nbformat.read(p, as_version=4).cells]
    for text in sources:
        for group in re.findall(r"\{cite[:\w]*\}`([^`]+)`", text):
            for key in group.split(","):
                assert key.strip() in keys, key
