import IPython.display

from sphereface import progress


class Handle:
    def __init__(self):
        self.shown = []

    def update(self, obj):
        self.shown.append(obj.data)


def test_notebook_line_updates_in_place_at_most_once_a_second(monkeypatch):
    handle = Handle()
    first = []

    def display(obj, display_id=False):
        assert display_id is True
        first.append(obj.data)
        return handle

    monkeypatch.setattr(IPython.display, "display", display)
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    monkeypatch.setattr(progress.sys.stdout, "isatty", lambda: False,
                        raising=False)
    line = progress.progress(3, "epoch 1/2")
    assert first == ["epoch 1/2: step 0/3"]
    line.update(1, loss=0.5)  # within a second: not shown
    line.update(3, loss=0.25)  # the last step is always shown
    assert handle.shown == ["epoch 1/2: step 3/3, loss 0.2500"]


def test_outside_a_notebook(capsys):
    assert not progress.in_notebook()
    progress.progress(3, "x", show=False).update(3)
    assert capsys.readouterr().out == ""
    assert isinstance(progress.progress(3, "x", show="bar"), progress._Bar)
