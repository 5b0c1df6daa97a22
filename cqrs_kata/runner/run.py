"""Run a step's checks against the learner's exercise, the reference solution, or any file.

The checks run in a child process with a hard deadline (``cqrs_kata.runner.isolation``), so nothing
the learner's code does (loop, exit, crash, print without end, patch the kata) can hang, kill
or fool the caller: the CLI, or the notebook kernel behind ``check()``.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from cqrs_kata import platform
from cqrs_kata.course.loading import LoadError, load_module
from cqrs_kata.course.paths import course_root, display_path
from cqrs_kata.course.structure import Check, Step, Task
from cqrs_kata.db import backends
from cqrs_kata.runner.isolation import Outcome, SettingError, processes_available, run_checks

__all__ = [
    "CheckResult",
    "LoadError",
    "Outcome",
    "StepResult",
    "Target",
    "TaskResult",
    "TaskState",
    "display_path",
    "load_module",
    "module_path",
    "run_step",
]

Target = Literal["exercises", "solutions"]
TaskState = Literal["passing", "failing", "not started", "local only"]


@dataclass(frozen=True)
class CheckResult:
    check: Check
    outcome: Outcome
    message: str = ""
    output: str = ""
    """The start of what the learner's code printed during the check."""
    backends: tuple[str, ...] = ()
    """The databases it ran the learner's SQL on, in order (a failing check stops at the
    first that fails)."""


@dataclass(frozen=True)
class TaskResult:
    task: Task
    results: tuple[CheckResult, ...]

    @property
    def state(self) -> TaskState:
        if self.results and not self.ran:
            return "local only"  # nothing of it can be checked here
        outcomes = {r.outcome for r in self.ran}
        if outcomes == {"pass"}:  # a task none of whose checks ran does not pass
            return "passing"
        if outcomes == {"todo"}:
            return "not started"
        return "failing"

    @property
    def ran(self) -> tuple[CheckResult, ...]:
        """The results of the checks that could run here (not those of a local install only)."""
        return tuple(r for r in self.results if r.outcome != "local")

    @property
    def local_only(self) -> tuple[CheckResult, ...]:
        """The checks that run only in a local install, each with the reason as its message."""
        return tuple(r for r in self.results if r.outcome == "local")

    @property
    def passed(self) -> int:
        return sum(r.outcome == "pass" for r in self.results)

    @property
    def first_problem(self) -> CheckResult | None:
        return next((r for r in self.ran if r.outcome != "pass"), None)


@dataclass(frozen=True)
class StepResult:
    step: Step
    path: Path
    tasks: tuple[TaskResult, ...]
    load_error: str | None = None
    time_limit: bool = True
    """The checks ran in a process of their own with a deadline; False in a browser kernel,
    where they run in the kernel itself and nothing could stop an endless loop."""
    backends_missing: str | None = None
    """Why a database the step's checks use could not be had here (PostgreSQL), if so."""

    @property
    def ok(self) -> bool:
        """Every task passes, as far as it can be checked here (see :attr:`local_only`)."""
        return (self.load_error is None and bool(self.tasks)
                and all(t.state in ("passing", "local only") for t in self.tasks)
                and any(t.state == "passing" for t in self.tasks))

    @property
    def local_only(self) -> tuple[CheckResult, ...]:
        return tuple(r for t in self.tasks for r in t.local_only)



def module_path(step: Step, target: Target | Path = "exercises") -> Path:
    """The file a check runs against: ``exercises/stepNN.py``, ``solutions/stepNN.py``, or the
    ``stepNN.py`` inside any other folder (used to test freshly generated stubs)."""
    folder = course_root() / target if isinstance(target, str) else target
    return folder / f"{step.module}.py"


def run_step(step: Step, target: Target | Path = "exercises",
             tasks: Collection[int] | None = None) -> StepResult:
    """Run every check of ``step`` against ``target``; never raises for the learner's mistakes.

    With ``tasks`` (task numbers), only those tasks' checks run and only they are reported.
    A check that needs what this Python lacks (threads in a browser kernel) is not run: its
    result says it runs only in a local install, and why."""
    path = module_path(step, target)
    if tasks is not None and not set(tasks) <= {task.number for task in step.tasks}:
        raise ValueError(f"step {step.number} has tasks "
                         f"{[task.number for task in step.tasks]}, not {sorted(tasks)}")
    wanted = [task for task in step.tasks if tasks is None or task.number in tasks]
    numbers = {task.number for task in wanted}
    local = {i: why for i, c in enumerate(step.checks)
             if (why := platform.reason(c.needs)) is not None}
    unwanted = {i for i, c in enumerate(step.checks) if c.task not in numbers}
    timed = processes_available()
    here, postgres, missing = databases_for(step) if timed else (("sqlite",), None, None)
    if not timed and "postgresql" in step.backends:
        missing = platform.local_only(("postgresql",))
    run = run_checks(step, path, leave_out=local.keys() | unwanted, backends=here,
                     postgres=postgres)
    if run.load_error is not None:
        return StepResult(step, path, (), run.load_error, timed)
    results = [CheckResult(c, "local", local[i]) if i in local else
               CheckResult(c, run.outcomes[i].outcome, run.outcomes[i].message,
                           run.outcomes[i].output, run.outcomes[i].backends)
               for i, c in enumerate(step.checks) if i not in unwanted]
    tasks_run = tuple(TaskResult(task, tuple(r for r in results if r.check.task == task.number))
                      for task in wanted)
    return StepResult(step, path, tasks_run, time_limit=timed, backends_missing=missing)


def databases_for(step: Step) -> tuple[tuple[str, ...], str | None, str | None]:
    """The backends ``step``'s checks run on here, PostgreSQL's checks database (a warm
    server, started once per process) and why PostgreSQL is left out, if it is."""
    if "postgresql" not in step.backends:
        return ("sqlite",), None, None
    try:
        wanted = backends.wanted()
    except backends.SettingError as error:
        raise SettingError(str(error)) from None
    dsn, why = backends.postgres_for_checks()
    here = tuple(b for b in wanted if b != "postgresql" or dsn is not None)
    return here or ("sqlite",), dsn, why
