"""The built documentation in a real browser: every page loads without a console error, and the
search finds ``fit_many``.

Needs the built site (``python -m sphinx -W -b html docs docs/_build/html``), the ``playwright``
package and a Chromium binary (Debian's ``chromium`` package at ``/usr/bin/chromium``, or the path
in ``LOWRANK_CHROMIUM``; playwright's own browser download is not used). Skips, saying which is
missing, otherwise. The site is served by ``python -m http.server`` on a free port.
"""
import os
import pathlib
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

SITE = pathlib.Path(__file__).resolve().parents[2] / "docs" / "_build" / "html"
BROWSER_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def _chromium():
    path = os.environ.get("LOWRANK_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    return path if os.path.isfile(path) and os.access(path, os.X_OK) else None


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _pages(site):
    """Every HTML page of the built site, as paths relative to it (sources and downloads excluded)."""
    skip = ("_sources", "_static", "_downloads", "_images", "_modules")
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html")
                  if not p.relative_to(site).parts[0] in skip)


@pytest.fixture(scope="module")
def server():
    if not (SITE / "index.html").exists():
        pytest.skip(f"no built site at {SITE}: build it with python -m sphinx -W -b html docs docs/_build/html")
    port = _free_port()
    proc = subprocess.Popen([sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1",
                             "--directory", str(SITE)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        for _ in range(100):
            try:
                urllib.request.urlopen(url, timeout=1).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            pytest.fail("python -m http.server did not answer")
        yield url
    finally:
        proc.terminate()
        proc.wait(10)


@pytest.fixture(scope="module")
def browser():
    pw = pytest.importorskip("playwright.sync_api", reason="needs the playwright package (pip install playwright)")
    exe = _chromium()
    if exe is None:
        pytest.skip("no Chromium binary (apt-get install chromium, or set LOWRANK_CHROMIUM)")
    with tempfile.TemporaryDirectory() as profile, pw.sync_playwright() as p:
        # a fresh profile (--user-data-dir), which playwright takes as the persistent context's folder
        context = p.chromium.launch_persistent_context(profile, executable_path=exe, args=BROWSER_ARGS)
        try:
            yield context
        finally:
            context.close()


def _load(browser, url):
    """Open ``url``; returns the page and the console errors and failed requests it produced."""
    page = browser.new_page()
    errors = []
    page.on("console", lambda m: errors.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(f"page error: {e}"))
    page.on("requestfailed", lambda r: errors.append(f"request failed: {r.url}"))
    page.on("response", lambda r: errors.append(f"HTTP {r.status}: {r.url}") if r.status >= 400 else None)
    page.goto(url, wait_until="load")
    page.wait_for_load_state("networkidle")
    return page, errors


def test_every_page_loads_without_a_console_error(server, browser):
    pages = _pages(SITE)
    assert "index.html" in pages and "search.html" in pages
    assert any(p.startswith("api/generated/") for p in pages), "the API reference has no pages"
    assert any(p.startswith("auto_examples/plot_") for p in pages), "the gallery has no examples"
    bad = {}
    for rel in pages:
        page, errors = _load(browser, server + rel)
        page.close()
        if errors:
            bad[rel] = errors
    assert bad == {}, f"{len(bad)} of {len(pages)} pages had errors: {bad}"


def test_the_search_finds_fit_many(server, browser):
    page, errors = _load(browser, server + "search.html?q=fit_many")
    page.wait_for_selector("#search-results li", timeout=30000)
    links = page.eval_on_selector_all("#search-results li a", "els => els.map(e => e.getAttribute('href'))")
    page.close()
    assert errors == []
    assert any("lowrank.fit_many" in (h or "") for h in links), links
