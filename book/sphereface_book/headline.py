"""The landing page's headline results, read from ``book/results``.

Every figure on the landing page comes from a results file that a
chapter's full run (or ``benchmarks/run.py``) wrote; the page glues
these values into its table, next to links to where they are measured,
so nothing there is typed in by hand.
"""

import json

import numpy as np

from sphereface_book import RESULTS_DIR


def _load(name, folder):
    path = folder / f"{name}.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _find(records, **fields):
    return [r for r in records or []
            if all(r.get(k) == v for k, v in fields.items())]


def _pct(value):
    return f"{100 * value:.2f}%"


def _seeds(records):
    values = [r["test_accuracy"] for r in records]
    if len(values) < 2:
        raise IndexError("a spread needs two seeds")
    return (f"{100 * np.mean(values):.2f} ± "
            f"{100 * np.std(values, ddof=1):.2f}% ({len(values)} seeds)")


def _same_everywhere(records):
    if not records:
        raise IndexError("no records")
    values = {round(r["accuracy"], 6) for r in records}
    if len(values) != 1:
        return "differs between batch sizes"
    return f"{_pct(values.pop())} at every batch size"


def values(folder=RESULTS_DIR):
    """Each headline's value as text, None where not yet measured.

    Keys: ``asoftmax_64`` (3-seed mean ± std), ``softmax_64``,
    ``asoftmax_2d``, ``fisher``, ``inter_p5``, ``unseen_eer``,
    ``pb_gears``, ``fp16``, ``time_to_99``, ``overhead``.
    """
    acc, ang, ver, dep, bench = (_load(name, folder) for name in (
        "accuracy", "angles", "verification", "deployment", "benchmarks"))
    a4 = {"head": "a-softmax", "m": 4}
    soft = {"head": "softmax"}
    makers = {
        "asoftmax_64": lambda: _seeds(_find(
            acc, **a4, embedding_dim=64, schedule="scaled")),
        "softmax_64": lambda: _pct(_find(
            acc, **soft, embedding_dim=64)[0]["test_accuracy"]),
        "asoftmax_2d": lambda: _pct(_find(
            acc, **a4, embedding_dim=2)[0]["test_accuracy"]),
        "fisher": lambda: "{:.4f} vs {:.4f}".format(
            *(_find(ang, **h, embedding_dim=64)[0]["fisher"]
              for h in (a4, soft))),
        "inter_p5": lambda: "{:.1f}° vs {:.1f}°".format(
            *(_find(ang, **h, embedding_dim=64)[0]["inter_p5_deg"]
              for h in (a4, soft))),
        "unseen_eer": lambda: "{} vs {}".format(
            *(_pct(_find(ver, **h, split="unseen")[0]["eer"])
              for h in (a4, soft))),
        "pb_gears": lambda: _same_everywhere(  # every gear, any route
            [r for r in dep or [] if r.get("gear") is not None]),
        "fp16": lambda: _pct(_find(
            dep, precision="float16 estimate")[0]["accuracy"]),
        "time_to_99": lambda: f"{bench['time_to_99_s']:.0f} s on "
                              f"{bench['machine']['cores']} CPU cores",
        "overhead": lambda: f"{bench['asoftmax_overhead_ratio']:.2f}",
    }
    return {key: _measured(make) for key, make in makers.items()}


def _measured(make):
    """``make()``, or None when its results file or record is missing."""
    try:
        return make()
    except (IndexError, TypeError):  # no record / no file (None)
        return None
