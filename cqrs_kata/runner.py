"""Run a step's checks against the learner's exercise, the reference solution, or any file.

Checks run in this process (no pytest start-up), so ``cqrs-kata check`` answers in well under a
second and ``check()`` in a notebook picks up the learner's latest save without a kernel restart.
"""

from __future__ import annotations

import importlib.util
import signal
import sys
import threading
import traceback
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import FrameType, ModuleType
from typing import Literal

from cqrs_kata.course import Check, Step, Task
from cqrs_kata.expect import CheckFailed
from cqrs_kata.paths import course_root

Target = Literal["exercises", "solutions"]
Outcome = Literal["pass", "wrong", "todo", "error"]
TaskState = Literal["passing", "failing", "not started"]

CHECK_TIMEOUT_SECONDS = 10.0


class LoadError(Exception):
    """The file under test could not be imported; the message is one sentence for the learner."""


class CheckTimeout(Exception):
    """A check ran past its time limit."""


@dataclass(frozen=True)
class CheckResult:
    check: Check
    outcome: Outcome
    message: str = ""


@dataclass(frozen=True)
class TaskResult:
    task: Task
    results: tuple[CheckResult, ...]

    @property
    def state(self) -> TaskState:
        outcomes = {r.outcome for r in self.results}
        if outcomes <= {"pass"}:
            return "passing"
        if outcomes == {"todo"}:
            return "not started"
        return "failing"

    @property
    def passed(self) -> int:
        return sum(r.outcome == "pass" for r in self.results)

    @property
    def first_problem(self) -> CheckResult | None:
        return next((r for r in self.results if r.outcome != "pass"), None)


@dataclass(frozen=True)
class StepResult:
    step: Step
    path: Path
    tasks: tuple[TaskResult, ...]
    load_error: str | None = None

    @property
    def ok(self) -> bool:
        return self.load_error is None and all(t.state == "passing" for t in self.tasks)

    def state_of(self, task: int) -> TaskState:
        if self.load_error is not None:
            return "failing"
        return next(t.state for t in self.tasks if t.task.number == task)


def module_path(step: Step, target: Target | Path = "exercises") -> Path:
    """The file a check runs against: ``exercises/stepNN.py``, ``solutions/stepNN.py``, or the
    ``stepNN.py`` inside any other folder (used to test freshly generated stubs)."""
    folder = course_root() / target if isinstance(target, str) else target
    return folder / f"{step.module}.py"


def display_path(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(course_root()))
    except ValueError:
        return str(path)


def load_module(path: Path) -> ModuleType:
    """Import ``path`` afresh (never from a cache), or raise LoadError saying what is wrong."""
    shown = display_path(path)
    if not path.is_file():
        raise LoadError(f"{shown} is missing; `cqrs-kata reset` with its step number writes a "
                        "fresh copy of the exercise.")
    name = "cqrs_kata_under_test_" + "".join(c if c.isalnum() else "_" for c in str(path))
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look a class's module up here
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        sys.modules.pop(name, None)
        raise LoadError(f"{shown}, line {error.lineno}: {error.msg}; fix that line and "
                        "check again.") from None
    except Exception as error:
        sys.modules.pop(name, None)
        where = _where(error, path)
        raise LoadError(f"importing {shown} raised {type(error).__name__}: {error}{where}; "
                        "fix it and check again.") from None
    return module


def _where(error: BaseException, path: Path, name_file: bool = False) -> str:
    """" (line N, in f)" for the deepest traceback frame inside ``path``, if there is one."""
    frames = [f for f in traceback.extract_tb(error.__traceback__) if Path(f.filename) == path]
    if not frames:
        return ""
    last = frames[-1]
    file = f"{display_path(path)}, " if name_file else ""
    return f" ({file}line {last.lineno}, in {last.name})"


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Interrupt an endless loop in the learner's code, where signals allow it (main thread)."""
    if threading.current_thread() is not threading.main_thread() or not hasattr(
        signal, "setitimer"
    ):
        yield
        return

    def on_alarm(signum: int, frame: FrameType | None) -> None:
        raise CheckTimeout(f"did not finish within {seconds:g} s: is there an endless loop?")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def run_check(check: Check, impl: ModuleType, path: Path) -> CheckResult:
    try:
        with _time_limit(CHECK_TIMEOUT_SECONDS):
            check(impl)
    except CheckFailed as failure:
        return CheckResult(check, "wrong", str(failure))
    except NotImplementedError as todo:
        return CheckResult(check, "todo", str(todo) or "not written yet")
    except CheckTimeout as timeout:
        return CheckResult(check, "error", f"your code {timeout}")
    except Exception as error:
        message = f"your code raised {type(error).__name__}: {error}{_where(error, path, True)}"
        return CheckResult(check, "error", message)
    return CheckResult(check, "pass")


def run_step(step: Step, target: Target | Path = "exercises") -> StepResult:
    """Run every check of ``step`` against ``target``; never raises for the learner's mistakes."""
    path = module_path(step, target)
    try:
        impl = load_module(path)
    except LoadError as error:
        return StepResult(step, path, (), str(error))
    tasks = tuple(
        TaskResult(task, tuple(run_check(c, impl, path) for c in step.checks_for(task.number)))
        for task in step.tasks
    )
    return StepResult(step, path, tasks)
