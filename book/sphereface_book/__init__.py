"""The book's own helpers, apart from the library they explain.

``experiments`` (the chapters' run configurations, evaluation records
and results files), ``headline`` (the landing page's table), ``toc``
(the pages in reading order), ``plots`` (the figures) and ``earlier``
(the earlier public version's figures, for chapter 6).  The
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


FAST = "SPHEREFACE_FAST"
WRITE = "SPHEREFACE_WRITE_RESULTS"


def fast_mode(environ=os.environ):
    """True when ``SPHEREFACE_FAST=1``: every cell runs on less data."""
    return environ.get(FAST, "") == "1"


def writes_book_files(environ=os.environ):
    """True when a run rewrites the book's committed files.

    ``book/results/*.json`` and the shipped ``book/models/sphereface.pb``
    change only when asked for, with ``SPHEREFACE_WRITE_RESULTS=1`` (as
    ``benchmarks/book_time.py --mode full --in-place`` sets it), and
    never from fast mode's smaller runs.
    """
    return environ.get(WRITE, "") == "1" and not fast_mode(environ)


def settings_for_tests(environ):
    """Make ``environ`` a test run's: fast unless asked, writing nothing.

    Fast mode is the default (``SPHEREFACE_FAST=0`` asks for full mode);
    a test run never rewrites committed files, so the request to write
    them is dropped.  The root ``conftest.py`` applies this before
    nbval starts the notebooks' kernels.
    """
    environ.setdefault(FAST, "1")
    environ.pop(WRITE, None)
    return environ
