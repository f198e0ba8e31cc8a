"""Open the built documentation offline in headless Chromium and check what a reader sees.

    python docs/browser_check.py docs/_build/html

For the page on how the network works and every tutorial, the rendered DOM must
show typeset math (no raw TeX such as ``\\frac``, ``\\[`` or ``\\(`` in the visible
text, and at least one MathJax element where the source has equations) and every
image must have loaded (``naturalWidth > 0``). Pages are opened from ``file://``
with the browser's network features off, as a reader without network would.

Needs Debian's ``chromium`` and ``chromium-driver`` (``.ci/run`` installs them when
missing) and the ``selenium`` package of the ``docs`` extra. Exits 1 with one line
per problem, 0 when every page passes.
"""

from __future__ import annotations

import argparse
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

#: the pages checked, relative to the HTML root, and whether each must show math
PAGES = {
    "network.html": True,
    "examples/soil_toy.html": False,
    "examples/north_america_nee.html": False,
    "examples/dask_cluster.html": False,
}
#: TeX that must never be visible once MathJax has typeset the page
RAW_TEX = re.compile(r"\\frac|\\\[|\\\(|\\theta|\\sum")
#: seconds to wait for MathJax to finish typesetting
TYPESET_TIMEOUT = 30


def browser():
    """Headless Chromium driven by Debian's chromedriver, with no network features."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium:
        options.binary_location = chromium
    for flag in (
        "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={tempfile.mkdtemp(prefix='xrann-docs-chromium-')}", "--window-size=1280,2000",
    ):
        options.add_argument(flag)
    driver_path = shutil.which("chromedriver") or "/usr/bin/chromedriver"
    return webdriver.Chrome(service=Service(driver_path), options=options)


def wait_for_typesetting(driver) -> None:
    """Wait until MathJax (if the page loads it) has typeset every equation."""
    deadline = time.monotonic() + TYPESET_TIMEOUT
    script = (
        "return !window.MathJax || (window.MathJax.startup && window.MathJax.startup.promise "
        "&& document.querySelectorAll('.math').length === document.querySelectorAll('mjx-container').length "
        "|| document.querySelectorAll('.math').length === 0);"
    )
    while time.monotonic() < deadline:
        if driver.execute_script(script):
            return
        time.sleep(0.2)


def check_page(driver, url: str, needs_math: bool) -> list[str]:
    """Problems a reader would see on one page (empty when none)."""
    driver.get(url)
    wait_for_typesetting(driver)
    problems = []
    text = driver.execute_script("return document.body.innerText;")
    for match in RAW_TEX.finditer(text):
        context = text[max(0, match.start() - 30) : match.end() + 30].replace("\n", " ")
        problems.append(f"{url}: raw TeX {match.group()!r} is visible: ...{context}...")
        break
    if needs_math:
        typeset = driver.execute_script("return document.querySelectorAll('mjx-container').length;")
        if typeset == 0:
            problems.append(f"{url}: no equation was typeset (no mjx-container element); is MathJax served offline?")
    broken = driver.execute_script(
        "return Array.from(document.images).filter(i => !(i.complete && i.naturalWidth > 0)).map(i => i.src);"
    )
    problems.extend(f"{url}: image did not load: {src}" for src in broken)
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("html", type=Path, help="the built HTML root, e.g. docs/_build/html")
    args = parser.parse_args(argv)
    root = args.html.resolve()
    driver = browser()
    problems: list[str] = []
    try:
        for page, needs_math in PAGES.items():
            path = root / page
            if not path.exists():
                problems.append(f"{path}: page missing from the build")
                continue
            problems.extend(check_page(driver, path.as_uri(), needs_math))
            print(f"checked {page}", flush=True)
    finally:
        driver.quit()
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"browser check: {len(PAGES)} pages, {len(problems)} problems")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
