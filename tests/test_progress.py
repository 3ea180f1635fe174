import IPython.display

from sphereface import progress


class Handle:
    def __init__(self):
        self.shown = []

    def update(self, obj):
        self.shown.append(obj.data)


def notebook(monkeypatch):
    """A fake notebook: returns the handle its one output updates."""
    handle, created = Handle(), []

    def display(obj, display_id=False):
        assert display_id is True
        created.append(obj.data)
        return handle

    monkeypatch.setattr(IPython.display, "display", display)
    monkeypatch.setattr(progress, "in_notebook", lambda: True)
    monkeypatch.setattr(progress.sys.stdout, "isatty", lambda: False,
                        raising=False)
    return handle, created


def test_notebook_run_is_one_output_updated_in_place(monkeypatch):
    handle, created = notebook(monkeypatch)
    log = progress.run_log()
    log.line("net: 2 epochs")
    log.start(3, "epoch 1/2")
    log.update(1, mean_loss=0.5)  # within a second: not shown
    log.update(2, mean_loss=0.4)
    log.line("epoch 1/2: mean loss 0.3000")  # replaces the step line
    log.start(3, "epoch 2/2")
    assert created == [""]  # one output for the whole run
    assert handle.shown == [
        "net: 2 epochs", "net: 2 epochs\nepoch 1/2: step 0/3",
        "net: 2 epochs\nepoch 1/2: mean loss 0.3000",
        "net: 2 epochs\nepoch 1/2: mean loss 0.3000\nepoch 2/2: step 0/3"]


def test_notebook_step_line_shown_after_a_second(monkeypatch):
    handle, _ = notebook(monkeypatch)
    clock = iter([0.0, 0.0, 0.5, 1.6, 1.6])
    monkeypatch.setattr(progress.time, "monotonic", lambda: next(clock))
    log = progress.run_log()
    log.start(3, "epoch 1/1")
    log.update(1, mean_loss=0.5)  # 0.5 s after the last: not shown
    log.update(2, mean_loss=0.25)  # 1.6 s: shown
    assert handle.shown[-1] == "epoch 1/1: step 2/3, mean loss 0.2500"
    assert len(handle.shown) == 2


def test_outside_a_notebook(capsys):
    assert not progress.in_notebook()
    silent = progress.run_log(show=False)
    silent.line("x")
    silent.update(3)
    assert capsys.readouterr().out == ""
    printed = progress.run_log()  # output to a file: lines, no bar
    printed.line("epoch 1/1: done")
    printed.start(3, "epoch 1/1")
    printed.update(3, mean_loss=0.1)
    assert capsys.readouterr().out == "epoch 1/1: done\n"
    bar = progress.run_log(show="bar")
    bar.start(3, "epoch 1/1")
    bar.update(3, mean_loss=0.1)
    assert "3/3" in capsys.readouterr().out
