"""The kata from inside a notebook: ``check("02")``, ``hint("02")``, ``progress()``, and the
file commands ``catchup("04")``, ``reset("02")``, ``saved()``, ``restore(1)`` (a browser kernel
has no terminal to type ``cqrs-kata`` in).

Each returns something that shows as text (and as HTML or a widget where the front-end renders
it). They never raise for the learner's mistakes, so a notebook always runs top to bottom. A
hint cell only shows: the next hint level is handed out when the learner clicks for it, never
by running the notebook. When ``CQRS_KATA_VERIFY_REFERENCE`` is set (``make test`` sets it for
nbval), ``check`` also runs the step's checks against the reference solution and raises if
that fails: a notebook cannot hide a broken reference behind a friendly message.
"""

from __future__ import annotations

import os
import textwrap
from collections.abc import Callable

from cqrs_kata import platform
from cqrs_kata.course.files import FileProblem
from cqrs_kata.course.paths import CourseNotFound
from cqrs_kata.course.structure import get_step
from cqrs_kata.course.stubs import StubError
from cqrs_kata.learner import kata
from cqrs_kata.runner.report import Report, error_report
from cqrs_kata.runner.run import run_step

VERIFY_ENV = "CQRS_KATA_VERIFY_REFERENCE"

_LEARNER_ERRORS = (LookupError, ValueError, CourseNotFound, StubError, FileProblem, OSError)


class BrokenReference(AssertionError):
    """The reference solution fails its own checks: a bug in the course, not the learner's."""


def _safely(action: Callable[[], object]) -> object:
    try:
        return action()
    except _LEARNER_ERRORS as error:
        return error_report(str(error))


def _verify_reference(step: str | int) -> None:
    result = run_step(get_step(step), "solutions")
    if not result.ok:
        from cqrs_kata.runner.report import step_report

        raise BrokenReference(f"the reference solution fails its checks:\n{step_report(result)}")


BEFORE_CHECKING = ("Checking inside this browser tab, with no time limit: if this cell never "
                   "finishes, use Kernel → Restart Kernel, fix your code and check again.")
_warned = False


def _warn_once() -> None:
    """In a browser kernel, say before the first check runs that nothing can stop it: a check
    that loops forever shows no report, so this line is what the learner sees then."""
    global _warned
    if platform.here().browser and not _warned:
        _warned = True
        print(textwrap.fill(BEFORE_CHECKING, width=88))  # a browser's output wraps mid-word


def check(step: str | int | None = None) -> Report:
    """Run a step's checks against your code in exercises/ and show the result per task."""
    _warn_once()
    if os.environ.get(VERIFY_ENV) and step is not None:
        _verify_reference(step)
    report = _safely(lambda: kata.check(step))
    assert isinstance(report, Report)
    return report


def _hint_panel(step: str | int, task: int | None) -> object:
    chosen, number = kata.hint_task(step, task)
    if number is None:
        return kata.all_pass(chosen)
    from cqrs_kata.learner.hints import HintPanel

    return HintPanel(chosen, number)


def hint(step: str | int, task: int | None = None) -> object:
    """The hints you have seen for a task (by default the first one that does not pass yet),
    with a button that shows the next one. Running this cell shows; only the button tells."""
    return _safely(lambda: _hint_panel(step, task))


def progress() -> Report:
    """Every step and task with its state: not started, failing or passing."""
    _warn_once()
    report = _safely(kata.progress)
    assert isinstance(report, Report)
    return report


def _file_command(action: Callable[[], Report]) -> Report:
    report = _safely(action)
    assert isinstance(report, Report)
    return report


def solution(step: str | int) -> Report:
    """Once ``step`` passes, the reference beside your code (a diff); before, how to get there."""
    return _file_command(lambda: kata.solution(step))


def catchup(step: str | int) -> Report:
    """Put the reference solution of every earlier step that does not pass into exercises/,
    to start ``step`` (yours is saved first): ``cqrs-kata catchup`` in a cell."""
    return _file_command(lambda: kata.catchup(step))


def reset(step: str | int) -> Report:
    """A fresh, unanswered copy of a step's exercise (yours is saved first)."""
    return _file_command(lambda: kata.reset(step))


def saved() -> Report:
    """The versions of your exercises saved by catchup, reset and restore."""
    return _file_command(kata.saved)


def restore(which: str | int) -> Report:
    """Put a saved version back, by its number from ``saved()`` or its file name (what is
    there now is saved first)."""
    return _file_command(lambda: kata.restore(str(which)))
