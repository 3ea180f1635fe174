"""The rendered book, opened the way a reader opens it: in a browser.

Builds the book with warnings as errors, then loads every page from
``file://`` in headless Chromium over the DevTools protocol and checks
what a reader would see: figures decoded, math typeset by the offline
MathJax, code cells with their outputs, no resource fetched from the
network, every internal link and anchor resolving.  Screenshots land in
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
