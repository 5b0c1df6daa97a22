"""Hints are handed out only when the learner asks: a notebook run never moves them on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from cqrs_kata.learner import cli, kata, notebook
from cqrs_kata.learner.hints import HintPanel


@pytest.fixture(autouse=True)
def learner_mode(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(notebook.VERIFY_ENV, raising=False)


def cli_hint(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert cli.main(["hint", *args]) == 0
    return capsys.readouterr().out


def test_running_a_hint_cell_again_and_again_hands_out_nothing(course: Path) -> None:
    first = notebook.hint("03")
    for _ in range(3):  # Run All, nbconvert, a re-run: each runs the cell again
        again = notebook.hint("03")
        assert repr(again) == repr(first)
    assert isinstance(first, HintPanel)
    assert "(no hint shown yet" in repr(first) and "hint 1 of 3:" not in repr(first)
    assert "Click “Show hint 1 of 3” below" in repr(first)
    assert kata.hints_seen() == {}


def test_the_button_shows_the_next_level_and_the_cli_agrees(
        course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    panel = notebook.hint("02", 4)
    assert isinstance(panel, HintPanel)
    panel.button.click()
    assert "hint 1 of 3:" in repr(panel) and "hint 2 of 3:" not in repr(panel)
    assert panel.button.description == "Show hint 2 of 3"
    assert "hint 1 of 3:" in repr(notebook.hint("02", 4)), "a new cell shows what was seen"
    assert "hint 2 of 3:" in cli_hint(capsys, "02", "4")  # the terminal asks for the next
    panel.button.click()
    assert panel.button.disabled and "That was the last hint" in repr(panel)
    assert kata.hints_seen() == {"02.4": 3}


def test_when_every_task_passes_hint_says_so_and_names_the_next_step(
        course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (course / "exercises" / "step02.py").write_text(
        (course / "solutions" / "step02.py").read_text())
    out = cli_hint(capsys, "02")
    assert out.startswith("Every task of step 02 passes: no hint needed. Next: step 03,")
    assert "`cqrs-kata check 03`" in out
    assert "no hint needed" in repr(notebook.hint("02"))
    assert kata.hints_seen() == {}
    assert "hint 1 of 3" in cli_hint(capsys, "02", "2"), "asking for a task by number still works"


@pytest.mark.parametrize("damage", ["{not json", "[1, 2]", '{"02.1": "two", "02.2": [1]}',
                                    '{"02.1": -4, "02.2": true}', ""])
def test_a_damaged_hint_file_counts_as_nothing_seen(
        course: Path, capsys: pytest.CaptureFixture[str], damage: str,
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    state = tmp_path / "damaged-state"
    state.mkdir()
    (state / "hints.json").write_text(damage)
    monkeypatch.setenv("CQRS_KATA_STATE", str(state))
    assert "hint 1 of 3" in cli_hint(capsys, "02", "1")
    assert "(no hint shown yet" in repr(notebook.hint("02", 2))
    assert json.loads((state / "hints.json").read_text())["02.1"] == 1


def test_code_in_a_hint_shows_as_code_in_a_notebook_and_with_backticks_in_a_terminal() -> None:
    from cqrs_kata.course.structure import all_steps
    from cqrs_kata.runner.report import hint_html, hint_lines

    step, task = next((s, t) for s in all_steps() for t in s.tasks if "`" in t.hints[0])
    html = hint_html(step, task.number, 1, in_notebook=True)
    assert "`" not in html and "<code>" in html, html
    assert "`" in "\n".join(hint_lines(step, task.number, 1)), "the terminal keeps the backticks"
