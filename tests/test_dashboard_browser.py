"""Notebook 03's dashboard in a real browser: JupyterLab, headless Chromium, real clicks.

Opens notebook 03 in JupyterLab (served as `make lab` serves it), runs all cells, clicks the
dashboard's buttons and moves its sliders, and checks that the counts and the lag on the page
change. Screenshots go to test-artifacts/.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

import pytest

from tests.support.browser import ARTIFACTS, Lab

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext, Locator, Page

NOTEBOOK = "notebooks/03-eventual-projection.ipynb"

pytestmark = pytest.mark.browser


def _set_slider(slider: Locator, value: int) -> None:
    """Type into an IntSlider's editable readout, as a learner can."""
    from playwright.sync_api import expect

    readout = slider.locator(".widget-readout")
    readout.click()
    readout.fill(str(value))
    readout.press("Enter")
    expect(readout).to_have_text(str(value))


def _wait_until(condition: Callable[[], bool], what: str, seconds: float = 20.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"waited {seconds:g} s for {what} on the page")
        time.sleep(0.2)


def run_all_cells(page: Page, lab: Lab, notebook: str) -> None:
    page.goto(f"{lab.url}/lab/tree/{notebook}?token={lab.token}")
    page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for()
    # Run All is dropped while the kernel is still starting: wait until it is idle.
    page.get_by_text(re.compile(r"\(ipykernel\) \| Idle")).first.wait_for()
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()


def test_dashboard_buttons_change_counts_and_lag(browser: BrowserContext, lab: Lab) -> None:
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob("step03-dashboard*.png"):
        old.unlink()  # a screenshot from an earlier run must not pass for this one's
    page = browser.new_page()
    try:
        run_all_cells(page, lab, NOTEBOOK)
        board = page.locator(".cqrs-dashboard")
        board.wait_for(state="visible")
        status = board.locator(".cqrs-dashboard-status")
        written, queued = status.locator(".cqrs-written"), status.locator(".cqrs-queued")
        lag = status.locator(".cqrs-lag-events")
        acme_ok = status.locator('tr[data-key="acme/ok"]')
        expect(written).to_have_text("3")
        expect(queued).to_have_text("0")
        expect(acme_ok.locator(".cqrs-view")).to_have_text("1")
        expect(status.locator("tr.cqrs-stale")).to_have_count(0)

        record = board.locator(".cqrs-record")
        for clicks in range(1, 4):  # the dashboard starts on acme / ok
            record.click()
            expect(written).to_have_text(str(3 + clicks))
        expect(queued).to_have_text("3")
        expect(lag).to_have_text("3")
        expect(acme_ok.locator(".cqrs-truth")).to_have_text("4")
        expect(acme_ok.locator(".cqrs-view")).to_have_text("1")
        expect(acme_ok).to_have_class("cqrs-row cqrs-stale")
        board.screenshot(path=str(ARTIFACTS / "step03-dashboard-backlog.png"))

        board.locator(".cqrs-drain-one").click()
        expect(lag).to_have_text("2")
        expect(acme_ok.locator(".cqrs-view")).to_have_text("2")

        board.locator(".cqrs-drain-all").click()
        expect(lag).to_have_text("0")
        expect(acme_ok.locator(".cqrs-view")).to_have_text("4")
        expect(status.locator("tr.cqrs-stale")).to_have_count(0)

        # The background task, driven from the page: a writer makes the lag grow with no
        # click at all, then a projector alone brings it back to zero.
        _set_slider(board.locator(".cqrs-writer-rate"), 100)
        _wait_until(lambda: int(lag.inner_text()) >= 10, "the lag to grow past 10")
        board.screenshot(path=str(ARTIFACTS / "step03-dashboard-lagging.png"))
        _set_slider(board.locator(".cqrs-writer-rate"), 0)
        _set_slider(board.locator(".cqrs-projector-rate"), 200)
        expect(lag).to_have_text("0")
        expect(status.locator("tr.cqrs-stale")).to_have_count(0)
        assert int(written.inner_text()) >= 16
        board.screenshot(path=str(ARTIFACTS / "step03-dashboard.png"))
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "step03-dashboard-failure.png"), full_page=True)
        server_log = lab.log.read_text(errors="replace")[-4000:]
        print(f"JupyterLab log (tail):\n{server_log}")
        print("page text:", json.dumps(page.locator("body").inner_text()[-3000:]))
        raise
