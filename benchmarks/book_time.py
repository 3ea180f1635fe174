"""Wall time of the whole book run, full or fast (CI) mode.

    python benchmarks/book_time.py --mode fast
    python benchmarks/book_time.py --mode full --in-place
    python benchmarks/book_time.py --mode full --in-place --only 04_features \
        --cache ~/.cache/sphereface

Executes every notebook of the table of contents in order, in the book
folder, with a fresh training cache (a first run: every network is
trained) or the one ``--cache`` names, and records the seconds per
notebook and in all, and how many networks the run trained (the cache
entries it added), under ``book_run_seconds`` in
``book/results/benchmarks.json``: one record per mode and kind of run,
``"full, first run"`` (the cache was empty) or ``"full, cached"``.
Without
``--in-place`` the executed notebooks are not saved; with it their new
outputs replace the committed ones, and in full mode the chapters also
rewrite ``book/results`` and the shipped model
(``SPHEREFACE_WRITE_RESULTS=1``): how the book's committed outputs are
produced.  Otherwise the chapters write none of the book's files.
``--only`` runs the named pages alone (in the book's order) and records
no time: a part of the book is not the book's run; give it the cache
that holds the networks of the chapters before them, or they are
trained again.  Saved notebooks show each cell's consecutive printed
lines as one block, as Jupyter shows them.
"""

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "book"))  # the book's helpers: sphereface_book
from sphereface_book import toc


def notebooks():
    return [ROOT / f"{f}.ipynb" for f in toc.pages()
            if (ROOT / f"{f}.ipynb").is_file()]


def merge_streams(nb):
    """Join each cell's consecutive stdout (or stderr) outputs into one.

    A cell that prints, then shows a figure or a progress display, then
    prints again keeps the outputs apart; only neighbours are joined.
    """
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        merged = []
        for out in cell.outputs:
            last = merged[-1] if merged else None
            if (out.output_type == "stream" and last is not None
                    and last.output_type == "stream"
                    and last.name == out.name):
                last.text += out.text
            else:
                merged.append(out)
        cell.outputs = merged
    return nb


def _entries(cache):
    """Names in the training cache: one per trained network."""
    return {p.name for p in cache.iterdir()} if cache.is_dir() else set()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--mode", choices=("full", "fast"), required=True)
    parser.add_argument("--in-place", action="store_true",
                        help="save the executed notebooks over the book's")
    parser.add_argument("--cache", type=Path,
                        help="training cache (default: a fresh temp dir)")
    parser.add_argument("--out", type=Path,
                        default=ROOT / "book" / "results" / "benchmarks.json")
    parser.add_argument("--note", default="",
                        help="what else ran on the machine meanwhile, kept "
                        "with the record")
    parser.add_argument("--only", nargs="+", metavar="PAGE",
                        help="run these pages only (file names without "
                        ".ipynb); no time is recorded")
    args = parser.parse_args(argv)
    pages = notebooks()
    if args.only:
        unknown = set(args.only) - {p.stem for p in pages}
        if unknown:
            parser.error(f"not a notebook of the book: "
                         f"{', '.join(sorted(unknown))}")
        pages = [p for p in pages if p.stem in args.only]
    from sphereface import benchmark

    cache = args.cache or Path(tempfile.mkdtemp(prefix="sphereface-cache-"))
    os.environ["SPHEREFACE_CACHE"] = str(cache)
    os.environ["SPHEREFACE_FAST"] = "1" if args.mode == "fast" else "0"
    os.environ["SPHEREFACE_WRITE_RESULTS"] = "1" if args.in_place else "0"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    before = _entries(cache)
    seconds = {}
    start_all = time.perf_counter()
    for path in pages:
        nb = nbformat.read(path, as_version=4)
        start = time.perf_counter()
        NotebookClient(nb, timeout=7200, kernel_name="python3",
                       record_timing=False,
                       resources={"metadata": {"path": str(path.parent)}}
                       ).execute()
        seconds[path.stem] = time.perf_counter() - start
        print(f"{path.stem}: {seconds[path.stem]:.0f} s", flush=True)
        if args.in_place:
            nbformat.write(merge_streams(nb), path)
    total = time.perf_counter() - start_all
    trained = len(_entries(cache) - before)
    name = f"{args.mode}, {'cached' if before else 'first run'}"
    print(f"total: {total:.0f} s ({name}, {trained} networks trained)")
    if args.only:
        return
    record = json.loads(args.out.read_text()) if args.out.is_file() else {}
    record.setdefault("book_run_seconds", {})[name] = {
        "total_s": total, "notebooks_s": seconds,
        "networks_trained": trained, "machine": benchmark.machine(),
        **({"note": args.note} if args.note else {})}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=1) + "\n")


if __name__ == "__main__":
    main()
