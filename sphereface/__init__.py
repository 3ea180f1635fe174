"""SphereFace (A-Softmax) on MNIST: the package behind the book.

Modules are named for what they hold: ``data`` (MNIST from IDX files),
``margins`` (the A-Softmax loss family), ``model`` (backbones),
``train`` (one cached training loop), ``metrics`` (angles and
accuracy), ``experiments`` (the book's runs and results files),
``export`` (the frozen graph), ``ascend`` (atc, msame and the accuracy
check), ``sphere`` (hypersphere geometry) and ``plots`` (the figures).
"""

import os

__version__ = "0.1.0"


def fast_mode():
    """True when ``SPHEREFACE_FAST=1``: CI runs every cell on less data."""
    return os.environ.get("SPHEREFACE_FAST", "") == "1"
