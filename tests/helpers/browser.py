"""Open the project's HTML pages in headless Chromium, as a person does, and report what the browser shows.

Only Debian's ``chromium`` binary is needed (no driver, no Python package): the page is copied beside itself
(so its relative links resolve exactly as when it is opened) with a small script appended that scrolls to every
image, waits for it, and writes what it found into the DOM; ``--dump-dom`` prints that DOM. An image counts as
loaded when the browser decoded it (``complete`` and ``naturalWidth > 0``): a missing or corrupt file fails.

Used by ``tests/test_browser_pages.py`` and, on the demo's output, by ``make browser-check``:
``python -m tests.helpers.browser PAGE.html ... [--screenshots FOLDER [--height PIXELS]]``.
"""

from __future__ import annotations

import argparse
import html
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
FLAGS = (
    "--headless",
    "--no-sandbox",  # CI runs as root, where Chromium's sandbox cannot start
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--hide-scrollbars",
    "--virtual-time-budget=20000",  # run the page (and its image loads) to completion before answering
)
RESULT_ID = "rbc-browser-check"
CHECK_SCRIPT = (
    """
<script>
(async () => {
  const images = [...document.images];
  for (const image of images) {
    image.scrollIntoView();  // as a reader scrolling down: lazy images load when they come into view
    if (!image.complete) await new Promise(done => { image.onload = done; image.onerror = done; });
  }
  const result = {
    images: images.map(i => ({src: i.getAttribute('src'), loaded: i.complete && i.naturalWidth > 0,
                              width: i.naturalWidth, height: i.naturalHeight})),
    text: document.body.innerText,
    scripts: document.scripts.length - 1,
    iframes: document.querySelectorAll('iframe').length,
    title: document.title,
  };
  const out = document.createElement('pre');
  out.id = '"""
    + RESULT_ID
    + """';
  out.textContent = JSON.stringify(result);
  document.body.appendChild(out);
})();
</script>
"""
)


def find_chromium() -> str | None:
    """The Chromium binary on PATH (``$CHROMIUM`` first), or None."""
    for name in (os.environ.get("CHROMIUM"), *CHROMIUM_NAMES):
        if name and (found := shutil.which(name)):
            return found
    return None


def _run(chromium: str, args: list[str]) -> subprocess.CompletedProcess:
    with tempfile.TemporaryDirectory(prefix="rbc-chromium-") as profile:  # a fresh profile every time
        command = [chromium, *FLAGS, f"--user-data-dir={profile}", *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=180, check=False)


def inspect_page(page: Path, chromium: str) -> dict:
    """What the browser shows of ``page``: every image (src, loaded, size), the visible text, scripts, iframes."""
    page = Path(page).resolve()
    probe = page.with_name(f".{page.stem}.browser-check.html")
    probe.write_text(page.read_text(encoding="utf-8") + CHECK_SCRIPT, encoding="utf-8")
    try:
        done = _run(chromium, ["--dump-dom", probe.as_uri()])
    finally:
        probe.unlink(missing_ok=True)
    found = re.search(rf'<pre id="{RESULT_ID}">(.*?)</pre>', done.stdout, flags=re.DOTALL)
    if found is None:
        raise RuntimeError(f"Chromium gave no result for {page} (exit {done.returncode}): {done.stderr[-2000:]}")
    return json.loads(html.unescape(found.group(1)))


def problems(result: dict) -> list[str]:
    """What a person would see wrong: broken images, a page without images where one is expected is not judged."""
    broken = [f"image not loaded: {image['src']}" for image in result["images"] if not image["loaded"]]
    scripts = [f"{result['scripts']} script elements (the reports hold none)"] if result["scripts"] else []
    frames = [f"{result['iframes']} iframes (the reports hold none)"] if result["iframes"] else []
    return broken + scripts + frames


def screenshot(page: Path, out: Path, width: int = 1280, height: int = 1400, colours: int = 64) -> Path:
    """A PNG of the page's first screen, as a browser window of ``width`` x ``height`` shows it.

    Stored with a palette of ``colours`` (about a quarter of the bytes of Chromium's PNG; text, outlines and the
    legend colours stay as they are), since these pictures are committed to the docs.
    """
    from PIL import Image

    chromium = find_chromium()
    if chromium is None:
        raise RuntimeError("no Chromium binary found (apt-get install chromium)")
    out = Path(out).resolve()
    out.parent.mkdir(parents=True, exist_ok=True)
    _run(chromium, [f"--window-size={width},{height}", f"--screenshot={out}", Path(page).resolve().as_uri()])
    if not out.is_file():
        raise RuntimeError(f"Chromium wrote no screenshot of {page}")
    with Image.open(out) as shot:
        small = shot.convert("RGB").quantize(colours, method=Image.Quantize.FASTOCTREE, dither=Image.Dither.NONE)
    small.save(out, optimize=True)
    return out


def main(argv: list[str] | None = None) -> int:
    """Check pages; exit 1 naming each broken image, 2 when there is no Chromium."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("pages", nargs="+", type=Path)
    parser.add_argument("--screenshots", type=Path, help="write <folder>/<page name>.png (index.html: its folder's)")
    parser.add_argument("--height", type=int, default=1400, help="screenshot height in pixels (width 1280)")
    args = parser.parse_args(argv)
    chromium = find_chromium()
    if chromium is None:
        print("no Chromium binary found: apt-get install chromium", file=sys.stderr)
        return 2
    failed = False
    for page in args.pages:
        result = inspect_page(page, chromium)
        found = problems(result)
        failed |= bool(found)
        loaded = sum(image["loaded"] for image in result["images"])
        print(f"{page}: {loaded}/{len(result['images'])} images loaded" + "".join(f"\n  {p}" for p in found))
        if args.screenshots:
            name = page.resolve().parent.name if page.stem == "index" else page.stem
            screenshot(page, args.screenshots / f"{name}.png", height=args.height)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
