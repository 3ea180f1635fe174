"""Progress of a long loop, shown where the reader is looking.

In a terminal: Keras's progress bar.  In a Jupyter kernel: one line
updated in place (at most once a second), so a reader running a cell
sees every step move while the saved notebook keeps only its last
state, not thousands of lines.
"""

import sys
import time


def in_notebook():
    """True inside a Jupyter (IPython) kernel."""
    try:
        from IPython import get_ipython
    except ImportError:
        return False
    shell = get_ipython()
    return shell is not None and hasattr(shell, "kernel")


class _Line:
    """A text line in the notebook output, replaced as work goes on."""

    def __init__(self, total, title):
        from IPython.display import Pretty, display

        self._pretty, self._total, self._title = Pretty, total, title
        self._handle = display(Pretty(self._text(0, {})), display_id=True)
        self._shown = time.monotonic()

    def _text(self, done, values):
        shown = "".join(f", {k} {v:.4f}" for k, v in values.items())
        return f"{self._title}: step {done}/{self._total}{shown}"

    def update(self, done, **values):
        now = time.monotonic()
        if now - self._shown >= 1.0 or done == self._total:
            self._handle.update(self._pretty(self._text(done, values)))
            self._shown = now


class _Bar:
    def __init__(self, total, title):
        import keras

        self._bar = keras.utils.Progbar(total)

    def update(self, done, **values):
        self._bar.update(done, list(values.items()))


class _Silent:
    def update(self, done, **values):
        pass


def progress(total, title, show=True):
    """A progress display for ``total`` steps: ``update(done, **values)``.

    ``show``: True picks the notebook line or, in a terminal, the bar;
    ``"bar"`` forces the bar; False shows nothing.
    """
    if show == "bar" or (show is True and sys.stdout.isatty()):
        return _Bar(total, title)
    if show is True and in_notebook():
        return _Line(total, title)
    return _Silent()
