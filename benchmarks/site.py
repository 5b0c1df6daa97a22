"""The static site (`make site`): how long it takes to build, how big it is, and how it feels in
headless Chromium with no network.

Usage: python benchmarks/site.py [RUNS]
Prints the build time and the site's size, then, serving it on 127.0.0.1 with every other
request refused: the time from opening notebook 02 (a fresh browser profile, so nothing cached)
to its first check result, check("02") timed inside the browser's Python (RUNS times, default
5) on the untouched stub and on a solved exercise, every step's check on its reference
solution (time, result, checks that run only in a local install), and how many requests left
the site.
Goals from the issue: a build within 3 minutes, the first check result within 20 s of opening
the page, check("02") within 3 s. The build uses the download cache (~/.cache/cqrs-kata/site);
CQRS_KATA_SITE_CACHE=$(mktemp -d) times a build from nothing.
"""

from __future__ import annotations

import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from cqrs_kata.course.structure import all_steps
from cqrs_kata.dev.site import ROOT, SiteError, build, serve, size_bytes

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support: a checkout's
from tests.support.site_browser import (
    Offline,
    check_result,
    open_notebook,
    run_all_cells,
    run_code,
    save_text,
    timed_check,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

NOTEBOOK = "notebooks/02-split-truth-from-views.ipynb"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
"""As tests/support/browser.py launches it."""


def time_checks(page: Page, runs: int) -> list[float]:
    printed = run_code(page, (
        "import time\nfrom cqrs_kata import check\n"
        f"for _ in range({runs}):\n"
        "    started = time.perf_counter(); check('02')\n"
        "    print(time.perf_counter() - started)\n"))
    try:
        return [float(line) for line in printed.split()]
    except ValueError:
        sys.exit(f"check('02') did not run in the browser:\n{printed}")


def time_step(page: Page, number: str) -> str:
    """``check(number)`` twice in the browser: the first time (which imports the step's checks
    and what they use, e.g. Hypothesis), the second, and the report's line that says how many
    tasks pass."""
    first, _ = timed_check(page, number)
    again, report = timed_check(page, number)
    passing = next((line for line in report.splitlines() if "tasks pass" in line), report[-200:])
    return f"check(\"{number}\") first {first:5.2f} s, again {again:5.2f} s: {passing}"


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    chromium = os.environ.get("CQRS_KATA_CHROMIUM") or shutil.which("chromium")
    if chromium is None:
        sys.exit("no Chromium here (apt-get install chromium, or set CQRS_KATA_CHROMIUM)")
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="cqrs-kata-site-bench-") as scratch:
        started = time.monotonic()
        try:
            site = build(Path(scratch) / "site", Path(scratch) / "work")
        except SiteError as error:
            sys.exit(f"make site failed: {error}")
        print(f"build                      {time.monotonic() - started:6.1f} s   (goal <= 180 s)")
        print(f"site size                  {size_bytes(site) / 1e6:6.1f} MB")

        server = serve(site)
        base = f"http://127.0.0.1:{server.server_address[1]}"
        offline = Offline(base)
        with sync_playwright() as playwright:
            context = playwright.chromium.launch_persistent_context(
                str(Path(scratch) / "profile"), executable_path=chromium, headless=True,
                args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 1600})
            offline.attach(context)
            page = context.new_page()
            opened = time.monotonic()
            open_notebook(page, base, NOTEBOOK)
            kernel = time.monotonic() - opened
            run_all_cells(page)
            check_result(page, 'check("02")')
            first = time.monotonic() - opened
            print(f"page open to kernel idle   {kernel:6.1f} s")
            print(f"page open to first check   {first:6.1f} s   (goal <= 20 s)")
            stub = time_checks(page, runs)
            solution = (ROOT / "solutions" / "step02.py").read_text(encoding="utf-8")
            save_text(page, "exercises/step02.py", solution)
            solved = time_checks(page, runs)
            for what, times in (("stub", stub), ("solved", solved)):
                print(f"check('02') in browser, {what:6} median {statistics.median(times):5.2f} s,"
                      f" slowest {max(times):5.2f} s of {len(times)}   (goal <= 3 s)")
            print("every step's reference solution, checked in the browser:")
            for step in all_steps():
                save_text(page, f"exercises/{step.module}.py",
                          (ROOT / "solutions" / f"{step.module}.py").read_text(encoding="utf-8"))
                print(f"  {time_step(page, step.number)}", flush=True)
            context.close()
        server.shutdown()
        print(f"requests that left the site: {len(offline.outside())} {offline.outside() or ''}")


if __name__ == "__main__":
    main()
