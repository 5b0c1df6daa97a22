"""Driving the built site (``make site``) in headless Chromium, as a learner uses it, offline.

For tests/test_site_browser.py and benchmarks/site.py. Every request that is not to the site's
own server is refused and remembered (``Offline.blocked``), so a site that reaches for the
network fails to work and says where it reached. Files are saved through JupyterLite's
contents (what its editor does), never behind the page's back.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # Playwright is in the dev extra; these helpers are used only where it is
    from playwright.sync_api import BrowserContext, Locator, Page, Request, Route

KERNEL_IDLE = re.compile(r"Python \(Pyodide\) \| Idle")
CHECK_RESULT = re.compile(r"\d+ of \d+ tasks pass")
"""The last line of a check() report, whatever the outcome."""
KERNEL_START_MS = 180_000
"""Pyodide loads ~40 MB and starts in about 15 s; a loaded machine gets plenty more."""


@dataclass
class Offline:
    """Lets a browser context reach ``base`` only; records what else it asked for."""

    base: str
    blocked: list[str] = field(default_factory=list)
    seen: list[str] = field(default_factory=list)
    """Every request the context made that left the site (service workers' included)."""

    def _ours(self, url: str) -> bool:
        return url == self.base or url.startswith(f"{self.base}/")

    def _route(self, route: Route) -> None:
        url = route.request.url
        if self._ours(url) or url.startswith(("data:", "blob:")):
            route.continue_()
        else:
            self.blocked.append(url)
            route.abort()

    def _saw(self, request: Request) -> None:
        if not (self._ours(request.url) or request.url.startswith(("data:", "blob:"))):
            self.seen.append(request.url)

    def attach(self, context: BrowserContext) -> None:
        context.route("**/*", self._route)
        context.on("request", self._saw)

    def outside(self) -> list[str]:
        """Every request that was not to the site, blocked or merely seen."""
        return sorted(set(self.blocked) | set(self.seen))


def open_notebook(page: Page, base: str, notebook: str) -> None:
    """Open ``notebook`` (``notebooks/02-....ipynb``) in the site's lab; wait for its kernel."""
    page.goto(f"{base}/lab/index.html?path={notebook}")
    page.wait_for_function("() => !!window.jupyterapp")
    wait_kernel_idle(page)


def wait_kernel_idle(page: Page) -> None:
    page.get_by_text(KERNEL_IDLE).first.wait_for(timeout=KERNEL_START_MS)


def save_text(page: Page, path: str, text: str) -> None:
    """Save ``text`` as the drive's file ``path`` through the app's contents manager."""
    page.evaluate("""async ([path, text]) => {
        await window.jupyterapp.serviceManager.contents.save(
            path, {type: 'file', format: 'text', content: text});
    }""", [path, text])


def read_text(page: Page, path: str) -> str | None:
    """The drive's file ``path`` as the app's contents manager has it, None if there is none."""
    found: str | None = page.evaluate("""async (path) => {
        try {
            const model = await window.jupyterapp.serviceManager.contents.get(
                path, {content: true, format: 'text'});
            return model.content;
        } catch (error) {
            return null;
        }
    }""", path)
    return found


def run_all_cells(page: Page) -> None:
    """Clear every output (a saved one must not pass for this run's), then Run All."""
    page.evaluate("""async () => {
        await window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs');
        await window.jupyterapp.commands.execute('notebook:run-all-cells');
    }""")


def run_all_and_wait(page: Page) -> bool:
    """Clear every output, Run All, and wait until it is done: True when every cell ran
    without an error (JupyterLab stops at the first cell that raises)."""
    done: bool = page.evaluate("""async () => {
        await window.jupyterapp.commands.execute('notebook:clear-all-cell-outputs');
        return await window.jupyterapp.commands.execute('notebook:run-all-cells');
    }""")
    return done


def error_outputs(page: Page) -> list[str]:
    """The text of every error or stderr output in the open notebook."""
    found: list[str] = page.locator(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'
    ).all_inner_texts()
    return found


def run_code(page: Page, code: str) -> str:
    """Run ``code`` in the open notebook's kernel (no cell); its printed text, or its error."""
    output: str = page.evaluate("""async (code) => {
        const panel = window.jupyterapp.shell.currentWidget;
        const future = panel.sessionContext.session.kernel.requestExecute({code});
        let out = '';
        future.onIOPub = (msg) => {
            if (msg.header.msg_type === 'stream') out += msg.content.text;
            if (msg.header.msg_type === 'error')
                out += `${msg.content.ename}: ${msg.content.evalue}`;
        };
        await future.done;
        return out;
    }""", code)
    return output


def code_cell(page: Page, source: str) -> Locator:
    """The (first) code cell whose input contains ``source``."""
    return page.locator(".jp-CodeCell",
                        has=page.locator(".jp-InputArea", has_text=source)).first


def check_result(page: Page, source: str, timeout_ms: float = KERNEL_START_MS) -> str:
    """The text of the check cell's report once it has one (after ``run_all_cells``)."""
    # The first check in a kernel prints a line (no time limit here) before its report.
    report = code_cell(page, source).locator(".jp-OutputArea-output").filter(
        has_text=CHECK_RESULT).first
    report.wait_for(timeout=timeout_ms)
    return report.inner_text()


def timed_check(page: Page, number: str) -> tuple[float, str]:
    """``check(number)`` run once in the open notebook's kernel (no cell): the seconds it
    took inside the browser's Python, and the report's text."""
    printed = run_code(page, (
        "import time\nfrom cqrs_kata.learner import kata\n"
        f"started = time.perf_counter(); report = kata.check({number!r})\n"
        "print(f'{time.perf_counter() - started:.6f}'); print(report)\n"))
    took, _, report = printed.partition("\n")
    try:
        return float(took), report
    except ValueError:
        raise RuntimeError(f"check({number!r}) did not run in the browser:\n{printed}") from None
