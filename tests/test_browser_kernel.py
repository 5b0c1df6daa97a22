"""The kata in a browser kernel (Pyodide, JupyterLite), pretended in CPython.

There a thread or a process cannot start and nothing can enforce a time limit. Every check
either runs or is reported as running only in a local install, with the reason; the notebooks'
helpers that need a process, PostgreSQL or matplotlib say so in a sentence and the rest of the
notebook runs.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import subprocess
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NoReturn

import nbformat
import pytest

from cqrs_kata import platform
from cqrs_kata.course import files
from cqrs_kata.course.structure import Check, Step, Task, all_steps, get_step
from cqrs_kata.course.stubs import stub_for
from cqrs_kata.course.tracked import course_files
from cqrs_kata.db import postgres
from cqrs_kata.learner import notebook
from cqrs_kata.runner.report import NO_TIME_LIMIT, progress_report, step_report
from cqrs_kata.runner.run import CheckResult, StepResult, TaskResult, run_step
from cqrs_kata.steps.step01 import read_latency
from cqrs_kata.steps.step05 import demo
from cqrs_kata.steps.step06 import alternatives

# make quick leaves these out: every step and notebook with threads, processes and PostgreSQL
# pretended away.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent

LOCAL_ONLY = {
    "03": {"record_waits_for_the_lock", "drain_waits_for_the_lock",
           "wait_for_wakes_up_when_a_projector_drains",
           "wait_for_keeps_waiting_until_its_position", "wait_for_takes_any_long_timeout",
           "the_timeout_bounds_the_whole_wait", "rebuild_wakes_the_readers_waiting"},
    "05": {"killed_for_real_and_restarted"},
}
"""The checks a browser kernel cannot run, by step: each starts a thread or a process."""

THREADS = "starts threads, which a browser kernel cannot"
PROCESSES = "starts processes, which a browser kernel cannot"


def _no_thread(self: threading.Thread, *args: Any, **kwargs: Any) -> NoReturn:
    raise RuntimeError("can't start new thread")  # what Pyodide says


def _no_process(*args: Any, **kwargs: Any) -> NoReturn:
    raise OSError(138, "emscripten does not support processes.")  # what Pyodide says


@pytest.fixture
def browser_kernel(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The kata sees a browser kernel, and starting a thread or a process fails as there."""
    monkeypatch.setattr(threading.Thread, "start", _no_thread)
    monkeypatch.setattr(subprocess, "Popen", _no_process)
    monkeypatch.setattr(notebook, "_warned", False)
    with platform.pretend(platform.BROWSER):
        yield


def local_names(result: StepResult) -> set[str]:
    return {r.check.name for r in result.local_only}


@pytest.mark.parametrize("step", [s.number for s in all_steps()])
def test_every_check_passes_or_runs_only_in_a_local_install(browser_kernel: None,
                                                            step: str) -> None:
    result = run_step(get_step(step), "solutions")
    outcomes = {(r.check.name, r.outcome, r.message) for t in result.tasks for r in t.results}
    assert {(n, o) for n, o, _ in outcomes if o not in ("pass", "local")} == set()
    assert local_names(result) == LOCAL_ONLY.get(step, set())
    for r in result.local_only:
        assert r.message == platform.reason(r.check.needs)
    assert result.ok and not result.time_limit


@pytest.mark.parametrize("step", sorted(LOCAL_ONLY))
def test_what_is_declared_local_only_is_what_fails_without_its_needs(
        browser_kernel: None, monkeypatch: pytest.MonkeyPatch, step: str) -> None:
    """Not one check more or less: with their needs forgotten, exactly those checks error."""
    chosen = get_step(step)
    monkeypatch.setattr(chosen, "checks",
                        [dataclasses.replace(c, needs=()) for c in chosen.checks])
    result = run_step(chosen, "solutions")
    errors = {r.check.name: r.message for t in result.tasks for r in t.results
              if r.outcome != "pass"}
    assert set(errors) == LOCAL_ONLY[step]
    assert all("thread" in m or "process" in m for m in errors.values()), errors


def test_a_learners_report_says_what_runs_only_in_a_local_install(
        course: Path, browser_kernel: None, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv(notebook.VERIFY_ENV, raising=False)
    shutil.copy(course / "solutions" / "step03.py", course / "exercises" / "step03.py")
    report = notebook.check("03")
    assert report.ok
    text = str(report)
    assert "  ✓ task 1  record() writes the truth and enqueues an event   4/4 checks, 1 more " \
           "only in a local install\n" \
           f"      runs only in a local install ({THREADS}):\n" \
           "        record() changes nothing while another thread holds the service's lock\n" \
           in text
    assert "  ✓ task 3  lag() says how far the view is behind             3/3 checks\n" in text
    assert text.endswith("5 of 5 tasks pass here. Step 03 is done here; `cqrs-kata solution 03` "
                         "shows the reference beside your code.\n"
                         "7 checks run only in a local install (see README 'Start').")
    for name in LOCAL_ONLY["03"]:
        description = get_step("03").checks[
            [c.name for c in get_step("03").checks].index(name)].description
        assert description in text
        assert description.replace('"', "&quot;").replace("'", "&#x27;") in report.html
    # Said once, before the first check, not in the report: a check that never ends shows no
    # report. In lines, since a browser's output wraps a long one mid-word.
    printed = capsys.readouterr().out
    assert printed == textwrap.fill(notebook.BEFORE_CHECKING, width=88) + "\n"
    assert NO_TIME_LIMIT not in text and all(len(line) <= 88 for line in printed.splitlines())
    notebook.check("00")
    assert capsys.readouterr().out == ""

    (course / "exercises" / "step03.py").write_text(stub_for(get_step("03")), encoding="utf-8")
    stub = notebook.check("03")  # freshly started: the local-only checks are still named
    assert not stub.ok
    assert "· task 4  Read your own writes: wait_for(position, timeout) not started, 4 more " \
           "only in a local install" in str(stub)


def test_progress_counts_what_runs_only_in_a_local_install(course: Path,
                                                           browser_kernel: None) -> None:
    text = str(notebook.progress())
    assert "  · task 4  Read your own writes: wait_for(position, timeout) not started (4 checks " \
           "only in a local install)" in text
    assert "  · task 2  Apply a batch and its checkpoint together         not started (1 check " \
           "only in a local install)" in text
    assert text.endswith("0 of 29 tasks pass.\n8 checks run only in a local install (see README "
                         "'Start').")


def test_a_task_with_nothing_to_check_here_is_not_passing_and_blocks_nothing() -> None:
    def check(impl: object) -> None:
        """it runs"""

    step = Step("98", "Pretend", (Task(1, "Here", ("f",), ("h",)), Task(2, "There", ("g",),
                                                                          ("h",))))
    here = TaskResult(step.tasks[0], (CheckResult(Check("98", 1, "a", check), "pass"),))
    there = TaskResult(step.tasks[1], (CheckResult(Check("98", 2, "b", check, needs=(
        "processes",)), "local", PROCESSES),))
    result = StepResult(step, ROOT / "exercises" / "step98.py", (here, there))
    assert there.state == "local only" and there.first_problem is None
    assert result.ok
    text = str(step_report(result))
    assert "  ○ task 2  There all 1 check runs only in a local install\n" in text
    assert f"      runs only in a local install ({PROCESSES}):\n        it runs\n" in text
    assert "2 of 2" not in text and "1 of 2 tasks pass here. Step 98 is done here;" in text
    assert "  ○ task 2  There local only\n" in str(progress_report([result]))


def test_notebook_helpers_say_they_run_only_in_a_local_install(
        browser_kernel: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    local = "runs only in a local install"
    assert demo.processes_unavailable() == f"{local}: {PROCESSES}; see README 'Start'"
    with pytest.raises(demo.LocalOnly, match=f"^a projector process {local}: "):
        demo.ProjectorProcess(tmp_path / "x.db")
    assert postgres.unavailable_reason() == (f"{local}: needs a PostgreSQL server, "
                                             "which a browser kernel cannot; see README 'Start'")
    plotting = (f"Plotting {local}: draws plots with matplotlib, which this browser kernel does "
                "not have; see README 'Start'. The table above has the same figures.\n")
    read_latency.plot(read_latency.measure([100], seconds=0.01))
    assert capsys.readouterr().out == plotting
    assert alternatives.plot([], tmp_path) == []
    assert capsys.readouterr().out == plotting


def test_without_a_browser_nothing_is_local_only() -> None:
    if not all(platform.here().has(n) for n in platform.NEEDS):
        pytest.skip(f"this Python lacks {platform.missing(platform.NEEDS)}")
    assert platform.reason(("threads", "processes")) is None
    assert not run_step(get_step("00"), "solutions").local_only


def test_needs_are_words_of_the_vocabulary() -> None:
    assert platform.check_needs(["processes", "threads"]) == ("threads", "processes")
    with pytest.raises(ValueError, match="are not needs"):
        platform.check_needs(["thread"])
    with platform.pretend(dataclasses.replace(platform.BROWSER, browser=False)):
        assert platform.reason(("matplotlib",)) == ("draws plots with matplotlib, which is not "
                                                    "installed here")
        assert platform.reason(("threads", "processes")) == (
            "starts threads and starts processes, which this Python cannot")


NOTEBOOKS = [Path(n).name for n in course_files(ROOT).notebooks()]
SAYS_LOCAL_ONLY = {"05-durable-and-cross-process.ipynb", "05-lag-rebuild-and-postgresql.ipynb",
                   "06-the-alternatives-measured.ipynb"}
"""The notebooks with a cell that needs a process or PostgreSQL, which says so instead."""


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_a_notebook_runs_top_to_bottom_in_a_browser_kernel(
        course: Path, browser_kernel: None, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str], name: str) -> None:
    """Every code cell, in order, in one namespace, as Run All in JupyterLite would: none
    raises, and where a cell needs a process or PostgreSQL it says it runs only locally."""
    monkeypatch.delenv(notebook.VERIFY_ENV, raising=False)
    monkeypatch.chdir(course)
    path = ROOT / "notebooks" / name
    namespace: dict[str, Any] = {"__name__": "__main__"}
    cells = nbformat.read(path, as_version=4).cells  # type: ignore[no-untyped-call]
    for index, cell in enumerate(cells):
        if cell.cell_type == "code":
            try:
                exec(compile(cell.source, f"{path.name} cell {index}", "exec"), namespace)
            except Exception as error:
                pytest.fail(f"{path.name}, cell {index}: {type(error).__name__}: {error}")
    printed = capsys.readouterr().out
    if name in SAYS_LOCAL_ONLY:
        assert "runs only in a local install" in printed
    assert "Traceback" not in printed


def test_a_drive_that_cannot_rename_gets_the_file_written_in_place(
        browser_kernel: None, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """JupyterLite keeps files in the browser's storage, which may not rename a temporary file
    over another: there the file is written in place, and no temporary file is left."""
    def cannot(*args: Any) -> NoReturn:
        raise OSError(38, "Function not implemented")

    monkeypatch.setattr(os, "replace", cannot)
    target = tmp_path / "step02.py"
    target.write_text("old", encoding="utf-8")
    files._write(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["step02.py"]
    with platform.pretend(dataclasses.replace(platform.BROWSER, browser=False)), \
            pytest.raises(OSError, match="not implemented"):
        files._write(target, b"newer")  # elsewhere the write is all or nothing, or an error
    assert target.read_bytes() == b"new"


def test_the_contract_table_marks_what_a_browser_kernel_does_not_check() -> None:
    from cqrs_kata.course.contract import contract_lines

    lines = contract_lines(get_step("03"))
    only_local = [line for line in lines if line.endswith("[checked only in a local install]")]
    assert len(only_local) == 1 and "One lock guards the write log" in only_local[0]
    assert "      task 1: record_waits_for_the_lock  (local install only: needs threads)" in lines
    assert lines[-1] == ("21 of 21 rules backed by checks, 20 of them also in a browser kernel; "
                         "25 checks.")


def test_generated_checks_try_a_quarter_of_their_cases_in_a_browser(
        browser_kernel: None, monkeypatch: pytest.MonkeyPatch) -> None:
    from cqrs_kata.steps import driver

    monkeypatch.delenv(driver.EXAMPLES_ENV, raising=False)
    assert driver.here_count(driver.DEFAULT_EXAMPLES) == driver.DEFAULT_EXAMPLES // 4
    assert driver.here_count(8) == 5
    monkeypatch.setenv(driver.EXAMPLES_ENV, "500")  # asked for: the count given, there too
    assert driver.here_count(500) == 500


def test_in_a_browser_the_report_says_postgresql_runs_in_a_local_install(
        browser_kernel: None) -> None:
    from cqrs_kata.runner.report import step_report

    text = step_report(run_step(get_step("06"), "solutions", tasks=[2])).text
    assert ("Your SQL ran on SQLite only: a browser kernel has no PostgreSQL; in a local "
            "install `cqrs-kata check` runs it on both.") in text, text
    assert "doctor" not in text
