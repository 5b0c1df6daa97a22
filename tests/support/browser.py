"""JupyterLab in headless Chromium, for the tests that click through the course in a browser.

``lab`` starts JupyterLab on a free local port, serving a pristine copy of the course root (as
``make lab`` serves the checkout) with every course notebook, saved outputs and widget state
removed, so what a test sees is what this run's kernel made. Without Chromium (or Playwright)
the tests skip and say why; in CI (CI=true) that is a failure, since .ci/run installs Chromium.
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
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import nbformat
import pytest

from cqrs_kata.course.paths import ROOT_ENV, STATE_ENV
from cqrs_kata.course.tracked import course_files
from cqrs_kata.dev import pristine_course

if TYPE_CHECKING:  # imported for real inside the tests, which skip when it is missing
    from playwright.sync_api import BrowserContext, Page

ROOT = Path(__file__).resolve().parents[2]
ARTIFACTS = ROOT / "test-artifacts"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking"]
SERVER_START_SECONDS = 30.0
UI_TIMEOUT_MS = 30_000
# JupyterLab renders only the cells near the viewport unless told otherwise; a test that looks
# for a link far down a notebook needs them all on the page.
LAB_SETTINGS = {"@jupyterlab/notebook-extension/tracker.jupyterlab-settings":
                {"windowingMode": "none"}}


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
    state: Path
    """The learner's state folder the server's kernels use (hint levels)."""


def _get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=2) as response:
            status: int = response.status
            return status
    except (urllib.error.URLError, OSError):
        return 0


def make_lab_arguments() -> list[str]:
    """What `make lab` passes to `jupyter lab` (from the Makefile), so the tests serve the course
    exactly as a learner gets it: from the same folder, opening the same notebook."""
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = re.search(r"^lab:.*\n(?:#.*\n)*\t(.*)$", makefile, flags=re.M)
    first = re.search(r"^FIRST_NOTEBOOK := (.*)$", makefile, flags=re.M)
    assert recipe and first, "the Makefile has no `lab` target or FIRST_NOTEBOOK"
    words = recipe.group(1).split()
    assert "lab" in words, f"`make lab` does not run `jupyter lab`: {recipe.group(1)}"
    return [w.replace("$(FIRST_NOTEBOOK)", first.group(1).strip())
            for w in words[words.index("lab") + 1:] if w != "$(LAB_FLAGS)"]


@pytest.fixture
def lab(chromium: str, tmp_path: Path) -> Iterator[Lab]:
    """A JupyterLab server on a free port, serving a pristine course root with its notebooks."""
    course = pristine_course(tmp_path / "course")
    (course / "notebooks").mkdir()
    # Private copies (the browser may save them), without saved outputs or widget state, so
    # what a test finds is what this run's kernel made, not a saved picture of it.
    committed = course_files(ROOT)
    for name in committed.notebooks():  # as committed, whatever a learner did to them
        notebook = committed.notebook(name)
        for cell in notebook.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        notebook.metadata.pop("widgets", None)
        nbformat.write(notebook, course / name)  # type: ignore[no-untyped-call]
    settings = tmp_path / "jupyter-settings"
    for name, values in LAB_SETTINGS.items():
        extension, _, file = name.rpartition("/")
        (settings / extension).mkdir(parents=True, exist_ok=True)
        (settings / extension / file).write_text(json.dumps(values))
    port, token = _free_port(), secrets.token_hex(16)
    env = dict(os.environ)
    env.update({
        ROOT_ENV: str(course), STATE_ENV: str(course / "state"),
        "JUPYTER_CONFIG_DIR": str(tmp_path / "jupyter-config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "jupyter-runtime"),
        "JUPYTERLAB_WORKSPACES_DIR": str(tmp_path / "jupyter-workspaces"),
        "JUPYTERLAB_SETTINGS_DIR": str(settings),
    })
    log = tmp_path / "jupyter.log"
    command = [sys.executable, "-m", "jupyterlab", *make_lab_arguments(), "--no-browser",
               f"--port={port}", "--ServerApp.ip=127.0.0.1", "--ServerApp.port_retries=0",
               "--allow-root", f"--IdentityProvider.token={token}", "--LabApp.news_url=",
               "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate"]
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
        yield Lab(url, token, log, course / "state")
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




@pytest.fixture
def browser(chromium: str, tmp_path: Path) -> Iterator[BrowserContext]:
    """Headless system Chromium (Playwright cannot download its own browser here)."""
    from playwright.sync_api import expect, sync_playwright

    # Assertions wait as long as actions do: with the other tests running beside it (pytest-xdist)
    # a kernel may take longer than expect()'s own 5 s to answer a click.
    expect.set_options(timeout=UI_TIMEOUT_MS)
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"), executable_path=chromium, headless=True,
            args=CHROMIUM_ARGS, viewport={"width": 1280, "height": 1600})
        context.set_default_timeout(UI_TIMEOUT_MS)
        try:
            yield context
        finally:
            context.close()


MERMAID_FENCE = re.compile(r"^```mermaid[ \t]*$", flags=re.M)
SHOWN_NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden)"
"""The notebook on screen (a page restored with other tabs open holds theirs too, hidden)."""
DRAWN = (f"{SHOWN_NOTEBOOK} .jp-RenderedMermaid:not(.jp-mod-warning) figure "
         "img[src^='data:image/svg+xml']")
"""A Mermaid block JupyterLab drew: an SVG, as the image its renderer makes of it."""
BROKEN = f"{SHOWN_NOTEBOOK} .jp-RenderedMermaid.jp-mod-warning"
"""A Mermaid block JupyterLab could not draw: its source and the parser's error instead."""


def mermaid_blocks(notebook: nbformat.NotebookNode) -> int:
    """How many Mermaid diagrams ``notebook``'s markdown cells hold."""
    return sum(len(MERMAID_FENCE.findall(cell.source)) for cell in notebook.cells
               if cell.cell_type == "markdown")


def assert_diagrams_drawn(page: Page, wanted: int, notebook: str,
                          timeout_ms: float = UI_TIMEOUT_MS) -> None:
    """Wait until ``notebook`` (its file name) is the tab on screen and shows ``wanted`` Mermaid
    diagrams drawn as SVG; fail with the parser's message if one could not be drawn (JupyterLab
    renders them a moment after the markdown, loading Mermaid the first time)."""
    from playwright.sync_api import TimeoutError as PlaywrightTimeout

    assert wanted >= 1, f"{notebook} has no diagram (a ```mermaid block in a markdown cell)"
    page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab.lm-mod-current",
                 has_text=notebook).wait_for(timeout=timeout_ms)
    try:
        page.wait_for_function(
            "([drawn, broken, wanted]) => document.querySelectorAll(broken).length > 0"
            " || document.querySelectorAll(drawn).length >= wanted",
            arg=[DRAWN, BROKEN, wanted], timeout=timeout_ms)
    except PlaywrightTimeout:
        page.screenshot(path=str(ARTIFACTS / f"diagrams-failure-{notebook[:2]}.png"))
        pytest.fail(f"{notebook}: {page.locator(DRAWN).count()} of {wanted} diagrams drawn after "
                    f"{timeout_ms / 1000:g} s")
    broken = page.locator(BROKEN).all_inner_texts()
    assert not broken, f"{notebook}: Mermaid could not draw a diagram:\n" + "\n".join(broken)
    drawn = page.locator(DRAWN).count()
    assert drawn == wanted, f"{notebook}: {drawn} diagrams drawn, {wanted} in its markdown"
