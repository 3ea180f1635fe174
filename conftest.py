"""pytest set-up for the whole checkout (unit tests and notebooks).

A test run is fast unless asked (``SPHEREFACE_FAST=0 pytest --nbval``
runs the notebooks in full mode) and never rewrites the book's committed
results or model: :func:`sphereface_book.settings_for_tests`, applied
here, before nbval starts the notebooks' kernels.  The book's helpers
(``book/sphereface_book``) are imported by the notebooks from the book
folder; the tests and benchmarks find them through this path entry.
"""

import os
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "book"))

import sphereface_book

sphereface_book.settings_for_tests(os.environ)
