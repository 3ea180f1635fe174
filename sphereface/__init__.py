"""SphereFace (A-Softmax) on MNIST: the package behind the book.

Modules are named for what they hold: ``data`` (MNIST from IDX files),
``margins`` (the A-Softmax loss family), ``model`` (backbones),
``train`` (one cached training loop), ``progress`` (progress display),
``metrics`` (angles and accuracy), ``verification`` (pairs, ROC, EER),
``export`` (the frozen graph), ``ascend`` (atc, msame and the accuracy
check), ``benchmark`` (side-by-side timing), ``tables`` (text tables)
and ``sphere`` (hypersphere geometry).  The book's own helpers (run
configurations, results files, figures) are ``book/sphereface_book``:
the package knows nothing of the book and works from any install.
"""

import os

# TensorFlow's C++ start-up log is noise in a notebook; a reader's own
# setting wins.  Effective when the package is imported before TF.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

__version__ = "0.1.0"
