"""Both directions, for every step: the reference passes, a fresh stub fails every task."""

from __future__ import annotations

from pathlib import Path

import pytest

from cqrs_kata.course.structure import Step, all_steps
from cqrs_kata.course.stubs import write_stubs
from cqrs_kata.course.tracked import course_files
from cqrs_kata.runner.run import run_step

STEPS = [pytest.param(s, id=f"step{s.number}") for s in all_steps()]


@pytest.fixture(scope="module")
def pristine(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("pristine")
    write_stubs(folder)
    return folder


@pytest.mark.parametrize("step", STEPS)
def test_reference_passes_every_task(step: Step) -> None:
    result = run_step(step, "solutions")
    assert result.load_error is None, result.load_error
    failing = {t.task.number: t.first_problem for t in result.tasks if t.state != "passing"}
    assert not failing, failing


@pytest.mark.parametrize("step", STEPS)
def test_pristine_stub_fails_every_task_as_not_written(step: Step, pristine: Path) -> None:
    result = run_step(step, pristine)
    assert result.load_error is None, f"the stub does not even import: {result.load_error}"
    for task in result.tasks:
        assert task.results, f"task {task.task.number} has no checks"
        for r in task.results:
            assert r.outcome == "todo", (
                f"task {task.task.number}, {r.check.name}: a pristine stub should fail with "
                f"NotImplementedError, got {r.outcome}: {r.message}"
            )
        assert task.state == "not started"


@pytest.mark.parametrize("step", STEPS)
def test_every_task_has_checks_hints_and_code_to_write(step: Step) -> None:
    for task in step.tasks:
        assert step.checks_for(task.number), f"task {task.number} has no checks"
        assert len(task.hints) >= 2, f"task {task.number} needs hints from gentle to explicit"
        assert task.builds, f"task {task.number} names nothing for the learner to write"


@pytest.mark.parametrize("step", STEPS)
def test_every_step_has_a_notebook(step: Step) -> None:
    """Among the course's notebooks, whatever a learner renamed or deleted in the folder."""
    notebooks = course_files(Path(__file__).resolve().parent.parent).notebooks()
    assert [n for n in notebooks if Path(n).name.startswith(f"{step.number}-")], (
        f"step {step.number} has no notebooks/{step.number}-*.ipynb"
    )


def test_a_run_of_chosen_tasks_runs_and_reports_only_those(pristine: Path) -> None:
    step = next(s for s in all_steps() if s.number == "02")
    result = run_step(step, pristine, {2})
    assert [t.task.number for t in result.tasks] == [2]
    assert result.tasks[0].results and result.tasks[0].state == "not started"
    with pytest.raises(ValueError, match="not \\[9\\]"):
        run_step(step, pristine, {9})


@pytest.mark.parametrize("step", STEPS)
def test_every_check_says_what_it_checks_in_one_line(step: Step) -> None:
    """The report shows the first line of a check's docstring: a second one would be lost."""
    for check in step.checks:
        doc = (check.function.__doc__ or "").strip()
        assert doc and "\n" not in doc, f"{check.name}: its docstring must be one line: {doc!r}"
