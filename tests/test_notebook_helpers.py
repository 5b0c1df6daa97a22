"""check(), hint() and progress() as a notebook calls them: they never raise on a learner's
mistake, and (in verify mode) they refuse to hide a broken reference."""

from __future__ import annotations

from pathlib import Path

import pytest

from cqrs_kata.course.structure import all_steps, get_step
from cqrs_kata.course.stubs import reference_for
from cqrs_kata.learner import notebook


@pytest.fixture
def learner_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(notebook.VERIFY_ENV, raising=False)


@pytest.mark.usefixtures("learner_mode")
def test_check_shows_a_syntax_error_without_raising(course: Path) -> None:
    (course / "exercises" / "step02.py").write_text("class Broken\n")
    report = notebook.check("02")
    assert not report.ok
    assert "exercises/step02.py, line 1: expected ':'" in repr(report)
    assert "exercises/step02.py, line 1" in report._repr_html_()


@pytest.mark.usefixtures("learner_mode")
def test_unknown_step_and_task_are_reports_not_exceptions(course: Path) -> None:
    assert repr(notebook.check("99")).startswith("✗ there is no step '99'")
    assert repr(notebook.hint("02", 12)).startswith("✗ step 02 has no task 12")


@pytest.mark.usefixtures("learner_mode")
def test_progress_lists_every_step(course: Path) -> None:
    text = repr(notebook.progress())
    total = sum(len(s.tasks) for s in all_steps())  # grows as steps are added
    assert "step 00" in text and "step 02" in text and f"0 of {total} tasks pass." in text


def test_verify_mode_raises_on_a_broken_reference(course: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(notebook.VERIFY_ENV, "1")
    assert "0 of 5 tasks pass" in repr(notebook.check("02"))  # a sound reference: no raise
    solution = course / "solutions" / "step02.py"
    solution.write_text(solution.read_text().replace("return list(self.data)", "return self.data"))
    with pytest.raises(notebook.BrokenReference, match="task 1"):
        notebook.check("02")


@pytest.mark.usefixtures("learner_mode")
def test_the_file_commands_work_from_a_cell(course: Path) -> None:
    """A browser kernel has no terminal: catchup, reset, saved and restore are cells too, and
    a mistake in their argument is a report, not an exception."""
    exercise = course / "exercises" / "step02.py"
    mine = exercise.read_text() + "\n# my notes\n"
    exercise.write_text(mine)
    assert "exercises/step02.py" in repr(notebook.catchup("03"))
    assert exercise.read_text() == reference_for(get_step("02"))
    listing = repr(notebook.saved())
    assert "step02" in listing, listing
    assert "exercises/step02.py" in repr(notebook.reset("02"))
    assert "my notes" not in exercise.read_text()
    notebook.restore(1)
    assert exercise.read_text() == mine
    assert repr(notebook.restore("nonsense")).startswith("✗")
    assert repr(notebook.catchup("99")).startswith("✗ there is no step '99'")


def test_a_browser_hint_does_not_send_the_learner_to_a_terminal() -> None:
    from cqrs_kata import platform
    from cqrs_kata.course.structure import get_step
    from cqrs_kata.runner.report import hint_lines

    step = get_step("02")
    here = hint_lines(step, 1, 1, in_notebook=True)[-1]
    assert "in a terminal" in here or platform.here().browser
    with platform.pretend(platform.BROWSER):
        there = hint_lines(step, 1, 1, in_notebook=True)[-1]
    assert "terminal" not in there and "Show hint 2" in there
    last = hint_lines(step, 1, len(step.task(1).hints), in_notebook=True)[-1]
    assert '`catchup("03")` in a cell' in last
    final = all_steps()[-1]
    assert "catchup" not in hint_lines(final, 1, len(final.task(1).hints))[-1]


@pytest.mark.usefixtures("learner_mode")
def test_in_a_browser_the_file_commands_point_to_cells_not_a_terminal(course: Path) -> None:
    from cqrs_kata import platform

    exercise = course / "exercises" / "step02.py"
    exercise.write_text(exercise.read_text() + "\n# mine\n")
    with platform.pretend(platform.BROWSER):
        caught_up = repr(notebook.catchup("03"))
        listing = repr(notebook.saved())
    assert "terminal" not in caught_up and "run its check cell." in caught_up, caught_up
    assert "`restore(N)` in a cell" in listing and "cqrs-kata" not in listing, listing


def test_a_hint_panel_before_any_hint_keeps_its_lines_apart() -> None:
    """Before the first click the HTML says no hint is shown yet, on lines of its own (it
    once ran the title into the next sentence and dropped that line)."""
    from cqrs_kata.course.structure import get_step
    from cqrs_kata.runner.report import hint_html

    html = hint_html(get_step("02"), 1, 0, in_notebook=True)
    assert "</b><br>(no hint shown yet: try the check&#x27;s message first)<br><i>" in html, html
