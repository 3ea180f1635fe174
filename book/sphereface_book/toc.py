"""The book's pages in reading order, from the root ``_toc.yml``.

The book build, the browser test and the run-time benchmark all walk
the same list, so a page added to the table of contents is built,
checked and timed without another list to keep in step.
"""

from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent.parent  # the checkout


def pages(root=ROOT):
    """Page paths without suffix (``book/03_training``), landing first."""
    toc = yaml.safe_load((Path(root) / "_toc.yml").read_text())
    files = [toc["root"]] + [c["file"] for c in toc.get("chapters", [])]
    for part in toc.get("parts", []):
        files += [c["file"] for c in part["chapters"]]
    return files
