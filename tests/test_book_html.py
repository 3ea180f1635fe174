"""The rendered book, opened the way a reader opens it: in a browser.

Builds the book with warnings as errors, then loads every page from
``file://`` in headless Chromium over the DevTools protocol and checks
what a reader would see: figures decoded, math typeset by the offline
MathJax, code cells with their outputs, no resource fetched from the
network, every internal link and anchor resolving, and no training log longer
than a screen outside a toggle.  Screenshots land in
``_build/screenshots`` for a person to look at.

Needs ``chromium`` (``.ci/run`` installs it with apt, and sets
``SPHEREFACE_REQUIRE_BROWSER=1`` so that a missing browser fails).
"""

import base64
import itertools
import json
import os
import re
import shutil
import subprocess
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from bs4 import BeautifulSoup
from sphereface_book import toc

ROOT = Path(__file__).resolve().parent.parent
HTML = ROOT / "_build" / "html"
SHOTS = ROOT / "_build" / "screenshots"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu",
         "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--hide-scrollbars", "--window-size=1280,900",
         "--remote-debugging-port=0", "--allow-file-access-from-files"]

# Runs in the page once MathJax has finished; returns what we check.
PAGE_REPORT = """
(async () => {
  if (window.MathJax && MathJax.startup) { await MathJax.startup.promise; }
  const body = document.querySelector("main") || document.body;
  const prose = body.cloneNode(true);
  prose.querySelectorAll("pre, code, .cell_output, mjx-container, script")
       .forEach(e => e.remove());
  const images = [...body.querySelectorAll("img")];
  return JSON.stringify({
    title: document.title,
    h1: [...body.querySelectorAll("h1")].map(h => h.textContent),
    images: images.map(i => ({src: i.getAttribute("src"),
                              width: i.naturalWidth,
                              complete: i.complete})),
    math: body.querySelectorAll("mjx-container").length,
    mathErrors: body.querySelectorAll("mjx-merror").length,
    proseText: prose.textContent,
    codeCells: body.querySelectorAll(".cell .cell_input").length,
    outputs: body.querySelectorAll(".cell .cell_output").length,
    links: [...document.querySelectorAll("a[href]")]
             .map(a => a.getAttribute("href")),
    ids: [...document.querySelectorAll("[id]")].map(e => e.id),
    height: document.documentElement.scrollHeight,
  });
})()
"""


def pages():
    """The book's pages in table-of-contents order (html names)."""
    return [f"{f}.html" for f in toc.pages()]


# A training log is a run of epoch lines ("epoch 3/5: ...") and progress
# lines ("... step 234/468 ..."); more than a screenful of them in one
# cell buries the page, so they belong behind a toggle (the cell's
# ``hide-output`` tag renders its output inside a closed <details>).
LOG_LINE = re.compile(r"^epoch |\bstep \d+/\d+", re.IGNORECASE)
SCREENFUL = 25


def _collapsed(tag):
    """A container a reader must open: a closed <details> or a toggle."""
    return ((tag.name == "details" and not tag.has_attr("open"))
            or "toggle" in (tag.get("class") or []))


def log_floods(html, page):
    """Each code cell of ``html`` showing more than a screenful of
    training log lines in its visible outputs, named by page and cell
    (its number among the page's cells and its first source line)."""
    floods = []
    soup = BeautifulSoup(html, "html.parser")
    for number, cell in enumerate(soup.select("div.cell"), 1):
        shown = [area.get_text() for area in cell.select("div.cell_output")
                 if area.find_parent(_collapsed) is None]
        lines = [line for text in shown
                 for line in re.split(r"[\r\n]+", text)
                 if LOG_LINE.search(line.strip())]
        if len(lines) > SCREENFUL:
            source = cell.select_one("div.cell_input pre")
            first = source.get_text().strip().splitlines()[0] \
                if source else "(input hidden)"
            floods.append(f"{page}, cell {number} ({first}): "
                          f"{len(lines)} lines of training log shown")
    return floods


class Browser:
    """Just enough of the DevTools protocol: navigate, evaluate, shoot."""

    def __init__(self, executable):
        import websocket

        self.profile = tempfile.mkdtemp(prefix="chromium-")
        self.process = subprocess.Popen(
            [executable, *FLAGS, f"--user-data-dir={self.profile}",
             "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        port_file = Path(self.profile) / "DevToolsActivePort"
        for _ in range(300):
            if port_file.is_file() and port_file.read_text().strip():
                break
            time.sleep(0.1)
        port = port_file.read_text().split()[0]
        targets = json.load(urllib.request.urlopen(
            f"http://127.0.0.1:{port}/json/list"))
        page = next(t for t in targets if t["type"] == "page")
        self.socket = websocket.create_connection(
            page["webSocketDebuggerUrl"], timeout=60)
        self.ids = itertools.count(1)
        self.requests = []  # every URL the page asked for
        self.call("Page.enable")
        self.call("Network.enable")

    def call(self, method, **params):
        ident = next(self.ids)
        self.socket.send(json.dumps({"id": ident, "method": method,
                                     "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == ident:
                if "error" in message:
                    raise RuntimeError(f"{method}: {message['error']}")
                return message["result"]
            if message.get("method") == "Network.requestWillBeSent":
                self.requests.append(message["params"]["request"]["url"])

    def open(self, url):
        self.requests.clear()
        self.call("Page.navigate", url=url)
        deadline = time.time() + 60
        while time.time() < deadline:
            state = self.evaluate("document.readyState")
            if state == "complete":
                return
            time.sleep(0.1)
        raise TimeoutError(url)

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression,
                           awaitPromise=True, returnByValue=True)
        if "exceptionDetails" in result:
            raise RuntimeError(result["exceptionDetails"])
        return result["result"].get("value")

    def screenshot(self, path, height):
        self.call("Emulation.setDeviceMetricsOverride", width=1280,
                  height=min(int(height), 12000), deviceScaleFactor=1,
                  mobile=False)
        data = self.call("Page.captureScreenshot", format="png")["data"]
        path.write_bytes(base64.b64decode(data))
        self.call("Emulation.clearDeviceMetricsOverride")

    def close(self):
        self.socket.close()
        self.process.terminate()
        self.process.wait(timeout=30)
        shutil.rmtree(self.profile, ignore_errors=True)


@pytest.fixture(scope="module")
def browser():
    executable = shutil.which("chromium") or shutil.which("chromium-browser")
    if executable is None:
        if os.environ.get("SPHEREFACE_REQUIRE_BROWSER") == "1":
            pytest.fail("chromium is not installed (apt install chromium)")
        pytest.skip("chromium is not installed")
    built = subprocess.run(
        ["jupyter-book", "build", "--all", "-W", "-n", "--keep-going",
         str(ROOT)], check=False, capture_output=True, text=True)
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    SHOTS.mkdir(parents=True, exist_ok=True)
    browser = Browser(executable)
    yield browser
    browser.close()


@pytest.fixture(scope="module")
def reports(browser):
    """Each page's report, visited once in table-of-contents order."""
    found = {}
    for name in pages():
        path = HTML / name
        assert path.is_file(), f"{name} was not built"
        browser.open(path.as_uri())
        report = json.loads(browser.evaluate(PAGE_REPORT))
        report["requests"] = list(browser.requests)
        shot = SHOTS / f"{Path(name).stem}.png"
        browser.screenshot(shot, report["height"])
        assert shot.stat().st_size > 10_000, f"{shot.name}: blank?"
        found[name] = report
    return found


def test_pages_load_offline_with_their_figures(reports):
    for name, report in reports.items():
        assert report["h1"], f"{name}: no heading"
        assert len(report["requests"]) > 3, name  # events were seen
        network = [r for r in report["requests"]
                   if not r.startswith(("file:", "data:"))]
        assert not network, f"{name} fetched {network}"
        for image in report["images"]:
            assert image["complete"] and image["width"] > 0, (name, image)
            source = HTML / Path(name).parent / image["src"]
            if not image["src"].startswith("data:"):
                assert source.stat().st_size > 0, source


def test_chapters_show_code_outputs_and_figures(reports):
    for name, report in reports.items():
        if not Path(name).stem[:2].isdigit():
            continue
        assert report["codeCells"] >= 3, name
        assert report["outputs"] >= 2, name


def test_math_is_typeset(reports):
    typeset = {n: r["math"] for n, r in reports.items()}
    assert typeset["book/02_a_softmax.html"] > 20, typeset
    for name, report in reports.items():
        assert report["mathErrors"] == 0, name
        text = report["proseText"]
        for raw in ("$$", "\\(", "\\[", "\\frac", "\\theta"):
            assert raw not in text, f"{name}: raw {raw!r} in the text"
        assert not re.search(r"\$[^$\s][^$]*\$", text), name


def test_internal_links_resolve(reports):
    ids = {name: set(r["ids"]) for name, r in reports.items()}
    for name, report in reports.items():
        here = (HTML / name).parent
        for href in report["links"]:
            parts = urllib.parse.urlsplit(href)
            if parts.scheme or href.startswith(("mailto:", "javascript:")):
                continue
            target = (here / urllib.parse.unquote(parts.path)).resolve() \
                if parts.path else HTML / name
            if target.is_dir():
                target = target / "index.html"
            assert target.exists(), f"{name}: broken link {href}"
            key = target.relative_to(HTML.resolve()).as_posix() \
                if target.is_relative_to(HTML.resolve()) else None
            if parts.fragment and key in ids:
                assert parts.fragment in ids[key], f"{name}: {href}"


def test_no_page_shows_a_screenful_of_training_log(browser):
    floods = [flood for name in pages()
              for flood in log_floods((HTML / name).read_text(), name)]
    assert floods == []


def _cell(outputs, source="trained = train(config, mnist)", hidden=False):
    """A code cell as Jupyter Book renders it: one box per stream."""
    boxes = "".join(
        '<div class="output stream highlight-myst-ansi notranslate">'
        f'<div class="highlight"><pre><span></span>{text}</pre></div></div>'
        for text in outputs)
    out = f'<div class="cell_output docutils container">{boxes}</div>'
    if hidden:
        out = ('<details class="admonition hide below-input">'
               '<summary aria-label="Toggle hidden content">'
               '<p class="collapsed admonition-title">Show code cell output'
               f'</p></summary>{out}</details>')
    tag = " tag_hide-output" if hidden else ""
    return (f'<div class="cell{tag} docutils container">'
            '<div class="cell_input docutils container">'
            '<div class="highlight">'
            f'<pre><span></span>{source}\n</pre></div></div>{out}</div>')


def _epochs(count):
    return [line for k in range(1, count + 1) for line in (
        f"epoch {k}/{count}: step 468/468, loss 0.1\n",
        f"epoch {k}/{count}: loss 0.2, train 98.00%, test 99.00%\n")]


def test_the_log_check_names_the_page_and_the_cell():
    page = ("<main>" + _cell(["accuracy 99.63%\n"], source="print(acc)")
            + _cell(_epochs(13)) + "</main>")
    assert log_floods(page, "book/03_training.html") == [
        ("book/03_training.html, cell 2 (trained = train(config, mnist)): "
         "26 lines of training log shown")]


def test_the_log_check_counts_one_box_or_many_and_in_place_lines():
    one_box = _cell(["".join(_epochs(13))])
    in_place = _cell(["step 1/468\rstep 2/468\r" * 13])
    keras = _cell([f"Epoch {k}/30\n" for k in range(1, 31)])
    for cell in (one_box, in_place, keras):
        assert len(log_floods(cell, "p.html")) == 1, cell


def test_the_log_check_passes_toggled_short_and_other_outputs():
    hidden = _cell(_epochs(40), hidden=True)
    short = _cell(_epochs(12))  # 24 lines: within a screenful
    table = _cell(["head  accuracy\n" + "softmax 99.5%\n" * 60])
    opened = _cell(_epochs(40), hidden=True).replace(
        "<details class", "<details open class")
    assert log_floods(hidden + short + table, "p.html") == []
    assert len(log_floods(opened, "p.html")) == 1
