"""SphereFace (A-Softmax) on MNIST: the package behind the book.

Modules are named for what they hold: ``data`` (MNIST from IDX files),
``margins`` (the A-Softmax loss family), ``model`` (backbones),
``train`` (one cached training loop), ``progress`` (progress display),
``metrics`` (angles and accuracy), ``verification`` (pairs, ROC, EER),
``experiments`` (the book's runs and results files), ``export`` (the
frozen graph), ``ascend`` (atc, msame and the accuracy check),
``benchmark`` (side-by-side timing), ``toc`` (the book's pages),
``headline`` (the landing page's results), ``sphere`` (hypersphere
geometry) and ``plots`` (figures).
"""

import os
from pathlib import Path

# TensorFlow's C++ start-up log is noise in a notebook; a reader's own
# setting wins.  Effective when the package is imported before TF.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"

# Where the full runs write their tables (book/results/*.json).
RESULTS_DIR = Path(__file__).resolve().parent.parent / "book" / "results"


def fast_mode():
    """True when ``SPHEREFACE_FAST=1``: CI runs every cell on less data."""
    return os.environ.get("SPHEREFACE_FAST", "") == "1"
