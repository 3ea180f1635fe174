"""pytest set-up for the whole checkout (unit tests and notebooks).

The book's helpers (``book/sphereface_book``) are imported by the
notebooks from the book folder; the tests and benchmarks find them
through this path entry.
"""

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent / "book"))
