"""Notebook 03's dashboard in a real browser: JupyterLab, headless Chromium, real clicks.

Starts JupyterLab on a free local port against a pristine copy of the course, opens notebook 03,
runs all cells, clicks the dashboard's buttons and checks that the counts and the lag on the page
change. A screenshot goes to test-artifacts/. Without Chromium (or Playwright) the test skips and
says why; in CI (CI=true) that is a failure, since .ci/run installs Chromium.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
import pytest

from cqrs_kata.dev import pristine_course
from cqrs_kata.dev.course_files import course_files
from cqrs_kata.paths import ROOT_ENV, STATE_ENV

if TYPE_CHECKING:  # imported for real inside the test, which skips when it is missing
    from playwright.sync_api import Locator

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = "notebooks/03-eventual-projection.ipynb"
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SERVER_START_SECONDS = 30.0
UI_TIMEOUT_MS = 30_000

pytestmark = pytest.mark.browser


@pytest.fixture
def chromium() -> str:
    """The system Chromium's path, or skip (fail in CI) saying what is missing."""
    found = os.environ.get("CQRS_KATA_CHROMIUM") or shutil.which("chromium") or shutil.which(
        "chromium-browser")
    reason = ""
    if found is None:
        reason = "no Chromium on this machine (apt-get install chromium, or set CQRS_KATA_CHROMIUM)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            reason = "playwright is not installed (make setup installs the dev extra)"
    if reason:
        if os.environ.get("CI") == "true":
            pytest.fail(f"browser test cannot run in CI: {reason}")
        pytest.skip(f"browser test skipped: {reason}")
    assert found is not None
    return found


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@dataclass
class Lab:
    url: str
    token: str
    log: Path


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            status: int = response.status
            return status
    except (urllib.error.URLError, OSError):
        return 0


@pytest.fixture
def lab(chromium: str, tmp_path: Path) -> Iterator[Lab]:
    """A JupyterLab server on a free port, serving a pristine course with notebook 03."""
    course = pristine_course(tmp_path / "course")
    (course / "notebooks").mkdir()
    # A private copy (the browser may save it), without saved outputs or widget state, so the
    # dashboard the test finds is the one this run's kernel made, not a saved picture of one.
    notebook = course_files(ROOT).notebook(NOTEBOOK)  # as committed, whatever a learner did to it
    for cell in notebook.cells:
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    notebook.metadata.pop("widgets", None)
    nbformat.write(notebook, course / NOTEBOOK)  # type: ignore[no-untyped-call]
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    env.update({
        ROOT_ENV: str(course), STATE_ENV: str(course / "state"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "jupyter-workspaces"),
        "JUPYTERLAB_SETTINGS_DIR": str(tmp_path / "jupyter-settings"),
    })
    log = tmp_path / "jupyter.log"
    command = [sys.executable, "-m", "jupyterlab", "--no-browser", f"--port={port}",
               "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0", "--allow-root",
               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={course}",
               "--LabApp.news_url=", "--LabApp.check_for_updates_class="
               "jupyterlab.NeverCheckForUpdate"]
    with log.open("wb") as out:
        server = subprocess.Popen(command, cwd=course, env=env, stdout=out,
                                  stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_SECONDS
        while _get(f"{url}/api/status?token={token}") != 200:
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"JupyterLab did not start:\n{log.read_text(errors='replace')}")
            time.sleep(0.3)
        yield Lab(url, token, log)
    finally:
        _stop(server, url, token)


def _stop(server: subprocess.Popen[bytes], url: str, token: str) -> None:
    """Ask the server to shut down (it stops its kernels), then make sure it has."""
    if server.poll() is None:
        request = urllib.request.Request(f"{url}/api/shutdown?token={token}", method="POST")
        try:
            urllib.request.urlopen(request, timeout=5).close()
        except (urllib.error.URLError, OSError):
            server.send_signal(signal.SIGTERM)
        try:
            server.wait(15)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)  # the group this test started, nothing else
            server.wait(5)


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


def test_dashboard_buttons_change_counts_and_lag(chromium: str, lab: Lab,
                                                 tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    for old in ARTIFACTS.glob("step03-dashboard*.png"):
        old.unlink()  # a screenshot from an earlier run must not pass for this one's
    with sync_playwright() as p:
        browser = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=chromium, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 1600})
        page = browser.new_page()
        page.set_default_timeout(UI_TIMEOUT_MS)
        try:
            page.goto(f"{lab.url}/lab/tree/{NOTEBOOK}?token={lab.token}")
            page.locator(".jp-NotebookPanel .jp-Cell").first.wait_for()
            # Run All is dropped while the kernel is still starting: wait until it is idle.
            page.get_by_text(re.compile(r"\(ipykernel\) \| Idle")).first.wait_for()
            page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
            page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()

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

            # The background thread, driven from the page: a writer makes the lag grow with no
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
        finally:
            browser.close()
