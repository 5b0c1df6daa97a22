"""Every course notebook draws its diagrams, and every link from it to an exercise opens that
file in JupyterLab's editor.

JupyterLab serves the course root (as `make lab` does); each notebook is opened in headless
Chromium, each link to `../exercises/stepNN.py` is clicked, and the editor tab that opens must
show the exercise's code. (When JupyterLab served only notebooks/, these links answered 404.)
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from cqrs_kata.course.tracked import course_files
from tests.support.browser import (
    ARTIFACTS,
    DRAWN,
    ROOT,
    SHOWN_NOTEBOOK,
    Lab,
    assert_diagrams_drawn,
    mermaid_blocks,
)

if TYPE_CHECKING:
    from playwright.sync_api import BrowserContext

pytestmark = pytest.mark.browser

COURSE = course_files(ROOT)
EXERCISE_LINK = re.compile(r"\]\((\.\./exercises/(step\d\d)\.py)\)")


def exercise_links() -> list[tuple[str, str, str]]:
    """(notebook, link target, step module) for every markdown link to an exercise."""
    found = []
    for name in COURSE.notebooks():
        for cell in COURSE.notebook(name).cells:
            if cell.cell_type == "markdown":
                found += [(Path(name).name, target, module)
                          for target, module in EXERCISE_LINK.findall(cell.source)]
    return sorted(set(found))


def test_every_step_notebook_links_to_its_exercise() -> None:
    linked = {(notebook[:2], module) for notebook, _, module in exercise_links()}
    for name in COURSE.notebooks():
        step = Path(name).name[:2]
        assert (step, f"step{step}") in linked, f"{name} has no link to its exercise"
        assert COURSE.text(f"exercises/step{step}.py") is not None


def test_each_notebook_draws_its_diagrams_and_its_links_open_the_exercise(
        browser: BrowserContext, lab: Lab) -> None:
    """Each course notebook, opened as a learner opens it: every Mermaid diagram in it drawn
    (an SVG, no parser error), a screenshot of the whole notebook, and each of its links to an
    exercise clicked."""
    from playwright.sync_api import expect

    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page()
    by_notebook: dict[str, set[str]] = {Path(name).name: set() for name in COURSE.notebooks()}
    for notebook, _, module in exercise_links():
        by_notebook[notebook].add(module)
    try:
        for notebook, modules in sorted(by_notebook.items()):
            page.goto(f"{lab.url}/lab/tree/notebooks/{notebook}?token={lab.token}")
            assert_diagrams_drawn(page, mermaid_blocks(COURSE.notebook(f"notebooks/{notebook}")),
                                  notebook)
            shown = Path(notebook).stem
            page.screenshot(path=str(ARTIFACTS / f"lab-{shown}.png"))
            for n, diagram in enumerate(page.locator(DRAWN).all(), start=1):
                diagram.screenshot(path=str(ARTIFACTS / f"lab-{shown}-diagram-{n}.png"))
            for module in sorted(modules):
                # The notebook opened last is the one shown; one opened before (step 05 has two
                # that link to one exercise) may still be in a tab behind it.
                link = page.locator(f"{SHOWN_NOTEBOOK} .jp-RenderedMarkdown "
                                    f"a[href*='/files/exercises/{module}.py']")
                link.first.click()
                tab = page.locator(".lm-DockPanel-tabBar .lm-TabBar-tab",
                                   has_text=f"{module}.py")
                expect(tab).to_have_count(1)
                # The editor on screen: a tab opened before (step 04's) is in the page, hidden.
                editor = page.locator(".jp-MainAreaWidget:not(.lm-mod-hidden) .jp-FileEditor "
                                      ".cm-content")
                # The stub's header, in its first lines: CodeMirror renders only the lines on
                # screen, and step 05's first `raise NotImplementedError(` is far below them.
                expect(editor).to_contain_text(f"Step {module[4:]} exercise")
                expect(editor).to_contain_text("this copy is yours to edit")
                page.screenshot(path=str(ARTIFACTS / f"link-{module}.png"))
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "links-failure.png"), full_page=True)
        print("page text:", json.dumps(page.locator("body").inner_text()[-2000:]))
        print(f"JupyterLab log (tail):\n{lab.log.read_text(errors='replace')[-3000:]}")
        raise


def test_the_exercise_paths_in_links_exist() -> None:
    assert exercise_links(), "the notebooks link to no exercise at all"
    for notebook, target, _ in exercise_links():
        exercise = (Path("notebooks") / target).as_posix().replace("notebooks/../", "")
        assert COURSE.text(exercise) is not None, (notebook, target)


def test_a_hint_cell_shows_a_hint_only_when_its_button_is_clicked(
        browser: BrowserContext, lab: Lab) -> None:
    """Run All hands out no hint; the button shows one level, and the kata remembers it."""
    from playwright.sync_api import expect

    page = browser.new_page()
    try:
        page.goto(f"{lab.url}/lab/tree/notebooks/00-how-the-kata-works.ipynb?token={lab.token}")
        page.get_by_text(re.compile(r"\(ipykernel\) \| Idle")).first.wait_for()
        page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
        page.locator(".lm-Menu-itemLabel", has_text=re.compile(r"^Run All Cells$")).click()
        panel = page.locator(".cqrs-hints")
        panel.wait_for(state="visible")
        button = panel.locator(".cqrs-next-hint")
        expect(button).to_have_text("Show hint 1 of 3")
        expect(panel).not_to_contain_text("Walk through the statuses")
        hints = lab.state / "hints.json"
        assert not hints.exists() or '"00.1": 1' not in hints.read_text()
        button.click()
        expect(panel).to_contain_text("Walk through the statuses")
        expect(button).to_have_text("Show hint 2 of 3")
        assert '"00.1": 1' in hints.read_text()
        page.screenshot(path=str(ARTIFACTS / "hint-button.png"))
    except Exception:
        page.screenshot(path=str(ARTIFACTS / "hint-failure.png"), full_page=True)
        raise
