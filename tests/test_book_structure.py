"""Every chapter follows the book's skeleton, checked on the sources."""

import re
from pathlib import Path

import nbformat
import pytest
from sphereface_book import toc

ROOT = Path(__file__).resolve().parent.parent
CHAPTERS = sorted((ROOT / "book").glob("[0-9][0-9]_*.ipynb"))


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


OPENING = re.compile(r"After\s+this\s+chapter\s+you\s+can\s+\S.*"
                     r"\sIt\s+assumes\s+\S", re.DOTALL)


def opening_problems(first_cell):
    """What a chapter's first cell lacks: after the title paragraph and
    before the first section, a paragraph on what the reader can do
    after the chapter and what it assumes."""
    paragraphs = first_cell.split("\n## ")[0].split("\n\n")[1:]
    if not any(OPENING.match(p.strip()) for p in paragraphs):
        return [("no 'After this chapter you can ... It assumes ...' "
                 "paragraph before the first section")]
    return []


@pytest.mark.parametrize("path", CHAPTERS, ids=lambda p: p.stem)
def test_chapter_says_what_it_teaches_and_assumes(path):
    first = nbformat.read(path, as_version=4).cells[0].source
    assert opening_problems(first) == [], path.name


def test_the_opening_check_sees_a_missing_or_misplaced_opening():
    good = ("# 9. Title\n\nWhat we build.\n\n"
            "After this chapter you can do X. It assumes Y.\n\n## Setup\n")
    assert opening_problems(good) == []
    for bad in (good.replace("It assumes", "It needs"),
                good.replace("After this chapter you can", "You can"),
                ("After this chapter you can do X. It assumes Y.\n\n"
                 "What we build.\n\n## Setup\n"),
                ("# 9. Title\n\n## Setup\n\n"
                 "After this chapter you can do X. It assumes Y.\n")):
        assert opening_problems(bad) != [], bad


GLOSSARY = ROOT / "book" / "glossary.md"


def glossary_terms(text):
    """The terms of the page's ``{glossary}`` directive, in order: its
    unindented lines (the definitions are indented)."""
    body = text.split("```{glossary}", 1)[1].split("\n```", 1)[0]
    return [line.strip() for line in body.splitlines()[1:]
            if line.strip() and not line[0].isspace()
            and not line.startswith(":")]


def term_targets(text):
    """The terms named by ``{term}`text <term>``` and ``{term}`term```."""
    targets = []
    for role in re.findall(r"\{term\}`([^`]+)`", text):
        labelled = re.fullmatch(r"(?s).*?<([^<>]+)>\s*", role)
        targets.append(" ".join((labelled.group(1) if labelled
                                 else role).split()))
    return targets


def book_texts():
    """Every markdown cell and markdown page of the book, by name."""
    texts = {}
    for path in sorted((ROOT / "book").glob("*.ipynb")):
        cells = nbformat.read(path, as_version=4).cells
        texts[path.name] = "\n\n".join(
            c.source for c in cells if c.cell_type == "markdown")
    for path in sorted((ROOT / "book").glob("*.md")):
        texts[path.name] = path.read_text()
    return texts


def test_the_glossary_defines_every_term_used_and_uses_every_term():
    terms = glossary_terms(GLOSSARY.read_text())
    assert len(terms) == len(set(terms)) >= 12, terms
    texts = book_texts()
    for name, text in texts.items():
        for target in term_targets(text):
            assert target in terms, f"{name}: {{term}}`{target}` undefined"
    used = {t for name, text in texts.items() if name != GLOSSARY.name
            for t in term_targets(text)}
    assert [t for t in terms if t not in used] == [], "never linked"


def test_the_term_parsers_read_roles_and_definitions():
    page = ("# G\n\n```{glossary}\n:sorted:\nom\n  An offline model,"
            "\n  compiled.\n\nTAR@FAR\n  A rate.\n```\n")
    assert glossary_terms(page) == ["om", "TAR@FAR"]
    assert term_targets("an {term}`om`, {term}`the rate\n<TAR@FAR>` and "
                        "{term}`gears <gear>`") == ["om", "TAR@FAR", "gear"]


def setup_cell(path):
    nb = nbformat.read(path, as_version=4)
    return next(c.source for c in nb.cells if c.cell_type == "code")


QUIET = 'os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")'


def setup_problems(source):
    """What a setup cell gets wrong: TensorFlow quieted only after it is
    imported (the package imports it), the mode or the seed not set."""
    lines = source.splitlines()
    heavy = [i for i, line in enumerate(lines)
             if re.match(r"(import|from) (sphereface|tensorflow|keras)",
                         line)]
    quiet = [i for i, line in enumerate(lines) if line.startswith(QUIET)]
    problems = []
    if not quiet:
        problems.append("TF_CPP_MIN_LOG_LEVEL is not set")
    elif heavy and heavy[0] < quiet[0]:
        problems.append("TF_CPP_MIN_LOG_LEVEL is set after an import")
    if "FAST = sphereface_book.fast_mode()" not in source:
        problems.append("FAST is not read from sphereface_book.fast_mode()")
    if "SEED = 0" not in lines:
        problems.append("SEED = 0 is missing")
    return problems


def test_every_chapter_has_the_same_setup_cell():
    sources = {path.name: setup_cell(path) for path in CHAPTERS}
    first = sources[CHAPTERS[0].name]
    assert [name for name, s in sources.items() if s != first] == []


def test_the_setup_cell_quiets_tensorflow_and_sets_mode_and_seed():
    assert setup_problems(setup_cell(CHAPTERS[0])) == []


def test_the_setup_check_sees_a_bad_cell():
    good = setup_cell(CHAPTERS[0])
    quiet = next(line for line in good.splitlines() if line.startswith(QUIET))
    late = good.replace(quiet + "\n", "") + "\n" + quiet
    assert setup_problems(late) == [
        "TF_CPP_MIN_LOG_LEVEL is set after an import"]
    assert setup_problems("import os\nSEED = 1") == [
        "TF_CPP_MIN_LOG_LEVEL is not set",
        "FAST is not read from sphereface_book.fast_mode()",
        "SEED = 0 is missing"]


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
    sources += [p.read_text() for p in (ROOT / "book").glob("*.md")]
    for text in sources:
        for group in re.findall(r"\{cite[:\w]*\}`([^`]+)`", text):
            for key in group.split(","):
                assert key.strip() in keys, key
