"""The book's own helpers, apart from the library they explain.

``experiments`` (the chapters' run configurations, evaluation records
and results files), ``headline`` (the landing page's table), ``toc``
(the pages in reading order) and ``plots`` (the figures).  The
chapters import this package from the book folder; its paths are
those of this checkout's book, so the library (``sphereface``) needs
none and works from any install.
"""

import os
from pathlib import Path

# The book folder of this checkout, and where the full runs write their
# tables (book/results/*.json).
BOOK_DIR = Path(__file__).resolve().parent.parent
RESULTS_DIR = BOOK_DIR / "results"


def fast_mode():
    """True when ``SPHEREFACE_FAST=1``: every cell runs on less data."""
    return os.environ.get("SPHEREFACE_FAST", "") == "1"
