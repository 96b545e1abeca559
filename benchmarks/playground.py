"""How soon the playground shows its first reasoning line, in a real browser, and its screenshots.

Starts ``ponder serve``, drives Debian's Chromium with playwright, submits ``--runs`` drawn Game of 24
puzzles at each ``--efforts`` level and reads the page's own clock: seconds from the click on Think to
the first reasoning delta on screen, and to the answer. With ``--screenshots DIR``, writes the
playground and the explorer (a best-first tree) as PNGs for the README.

    python benchmarks/playground.py --runs 20 --screenshots docs/images
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def serve(port: int) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "ponder.cli", "serve", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    for _ in range(400):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=1).read()
            return proc
        except OSError:
            time.sleep(0.25)
    proc.kill()
    raise SystemExit("ponder serve did not come up")


def one(page, url: str, effort: str, seed: int) -> tuple[float, float]:
    """(seconds to the first reasoning delta, seconds to the answer) of one drawn puzzle."""
    page.goto(url)
    page.wait_for_selector("#task option", state="attached")
    page.select_option("#task", label="game24")
    drawn = json.loads(urllib.request.urlopen(f"{url}problems/random?task=game24&seed={seed}").read())
    page.fill("#problem", drawn["text"])
    page.select_option("#effort", effort)
    page.click("#submit")
    page.wait_for_selector("#explorer:not([hidden])", timeout=300_000)
    first = float(page.get_attribute("#thinking", "data-first"))
    total = float(page.inner_text("#stats").split(" s")[0].rsplit(" ", 1)[-1])
    return first, total


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=20)
    ap.add_argument("--efforts", default="low,high")
    ap.add_argument("--port", type=int, default=8765)
    ap.add_argument("--screenshots", metavar="DIR")
    args = ap.parse_args()
    from playwright.sync_api import sync_playwright

    url = f"http://127.0.0.1:{args.port}/"
    proc = serve(args.port)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=FLAGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            one(page, url, "low", 0)  # warm: the first request loads what the server loads lazily
            print(f"{'effort':<8} {'runs':>4}  {'first reasoning, s: median':>27} {'p90':>6} {'max':>6}  "
                  f"{'answer, s: median':>18}")
            for effort in args.efforts.split(","):
                got = [one(page, url, effort, seed) for seed in range(1, args.runs + 1)]
                firsts = sorted(f for f, _ in got)
                p90 = firsts[min(len(firsts) - 1, int(0.9 * len(firsts)))]
                print(f"{effort:<8} {len(got):>4}  {statistics.median(firsts):>27.3f} {p90:>6.3f} {max(firsts):>6.3f}  "
                      f"{statistics.median(t for _, t in got):>18.2f}")
            if args.screenshots:
                out = Path(args.screenshots)
                out.mkdir(parents=True, exist_ok=True)
                page.goto(url)
                page.wait_for_selector("#task option", state="attached")
                page.fill("#problem", "Game of 24: 4 7 8 8")
                page.select_option("#effort", "high")
                page.click("#submit")
                page.wait_for_selector("#explorer:not([hidden])")
                page.screenshot(path=str(out / "playground.png"), clip={"x": 0, "y": 0, "width": 1280, "height": 528})
                page.locator("#explorer").screenshot(path=str(out / "explorer.png"))
                print(f"screenshots: {out / 'playground.png'}, {out / 'explorer.png'}")
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    main()
