"""A training run's log, shown where the reader is looking.

In a terminal: each line printed, and Keras's progress bar while an
epoch runs (lines only when the output goes to a file).  In a Jupyter kernel: the whole run in one output, its
finished lines followed by a step line updated in place (at most once
a second), so a reader running a cell sees every step move while the
saved notebook keeps one block per run, not a box per epoch.
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


def _step_text(title, done, total, values):
    shown = "".join(f", {k.replace('_', ' ')} {v:.4f}"
                    for k, v in values.items())
    return f"{title}: step {done}/{total}{shown}"


class _NotebookLog:
    """One notebook output: the run's lines, then the current step."""

    def __init__(self):
        from IPython.display import Pretty, display

        self._pretty, self._lines, self._step = Pretty, [], None
        self._handle = display(Pretty(""), display_id=True)
        self._shown = time.monotonic()

    def _show(self):
        step = [self._step] if self._step else []
        self._handle.update(self._pretty("\n".join(self._lines + step)))
        self._shown = time.monotonic()

    def start(self, total, title):
        self._total, self._title = total, title
        self._step = _step_text(title, 0, total, {})
        self._show()

    def update(self, done, **values):
        self._step = _step_text(self._title, done, self._total, values)
        if time.monotonic() - self._shown >= 1.0:
            self._show()

    def line(self, text):
        self._lines.append(text)
        self._step = None
        self._show()


class _PrintedLog:
    """Lines printed; with ``bar``, Keras's bar for an epoch's steps."""

    def __init__(self, bar):
        self._with_bar = bar

    def start(self, total, title):
        self._total, self._bar = total, None

    def update(self, done, **values):
        if not self._with_bar:
            return
        if self._bar is None:  # values are shown as given, not averaged
            import keras

            self._bar = keras.utils.Progbar(self._total,
                                            stateful_metrics=list(values))
        self._bar.update(done, list(values.items()))

    def line(self, text):
        print(text, flush=True)


class _Silent:
    def start(self, total, title):
        pass

    def update(self, done, **values):
        pass

    def line(self, text):
        pass


def run_log(show=True):
    """A log for one run: ``line(text)``, ``start(total, title)`` of a
    stretch of steps, ``update(done, **values)`` as they go.

    ``show``: True picks the notebook output, or printed lines with a
    bar in a terminal (without it when the output goes to a file);
    ``"bar"`` forces lines and bar; False shows nothing.
    """
    if not show:
        return _Silent()
    if show is True and not sys.stdout.isatty() and in_notebook():
        return _NotebookLog()
    return _PrintedLog(bar=show == "bar" or sys.stdout.isatty())
