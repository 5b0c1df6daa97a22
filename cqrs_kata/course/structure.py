"""The course's structure: steps, their numbered tasks, and the checks that belong to each task.

A step is declared once, in ``cqrs_kata/steps/stepNN/checks.py``: its tasks (what the learner
builds, with hints), and its checks, written as plain functions that receive the module under
test. The same check functions are run by ``cqrs-kata check``, by ``check()`` in a notebook and
by pytest. Adding a step means adding that package, a reference solution and a notebook; nothing
here changes.
"""

from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from types import ModuleType

from cqrs_kata.platform import Need, check_needs

CheckFunction = Callable[[ModuleType], None]


class UnknownStep(LookupError):
    """A step or task number that the course does not have."""


@dataclass(frozen=True)
class Task:
    """One numbered piece of a step's exercise."""

    number: int
    title: str
    builds: tuple[str, ...]
    """Qualified names (``Class.method`` or ``function``) the learner writes for this task."""
    hints: tuple[str, ...]
    """Hints from gentle to explicit; ``cqrs-kata hint`` shows one more level per call."""


@dataclass(frozen=True)
class Clause:
    """Words from the docstring of ``where`` (``Class.method`` or ``function``) in the exercise.

    A *rule* is a promise the learner's code must keep, and is backed by checks; a *note*
    explains (why, how) and promises nothing a check could test. Every sentence of every
    docstring the learner implements belongs to exactly one clause, so what is checked and what
    is not can be read off the course (``cqrs-kata contract``) rather than guessed.
    """

    where: str
    text: str
    rule: bool = True


@dataclass(frozen=True)
class Check:
    """A single check: calls the learner's code and raises ``CheckFailed`` when it is wrong."""

    step: str
    task: int
    name: str
    function: CheckFunction
    backs: tuple[Clause, ...] = ()
    """The rules of the contract this check tests."""
    needs: tuple[Need, ...] = ()
    """What the check itself uses beyond plain Python (threads, processes, ...): where one is
    missing (a browser kernel) the check is reported as running only in a local install."""
    backends: tuple[str, ...] = ()
    """The databases it runs the learner's SQL on, one after the other (``cqrs_kata.db.backends``);
    empty for a check without a database."""

    @property
    def description(self) -> str:
        doc = (self.function.__doc__ or self.name.replace("_", " ")).strip()
        return doc.splitlines()[0]

    def __call__(self, impl: ModuleType) -> None:
        self.function(impl)


@dataclass
class Step:
    """A step of the course, with its tasks and checks."""

    number: str
    title: str
    tasks: tuple[Task, ...]
    minutes: int = 30
    """Time a workshop should plan for the step, notebook and exercise together."""
    usual_mistakes: tuple[str, ...] = ()
    """What facilitators see go wrong most often; shown by ``cqrs-kata guide``."""
    checks: list[Check] = field(default_factory=list)
    clauses: list[Clause] = field(default_factory=list)
    """The exercise's contract, sentence by sentence (see :class:`Clause`)."""
    backends: tuple[str, ...] = ()
    """The databases its checks run the learner's SQL on, unless a check says otherwise."""

    @property
    def module(self) -> str:
        """File name (without ``.py``) of the step's solution and exercise."""
        return f"step{self.number}"

    def task(self, number: int) -> Task:
        for task in self.tasks:
            if task.number == number:
                return task
        known = ", ".join(str(t.number) for t in self.tasks)
        raise UnknownStep(f"step {self.number} has no task {number}; its tasks are {known}.")

    def rule(self, where: str, text: str) -> Clause:
        """Register a rule the docstring of ``where`` states; checks say they back it."""
        clause = Clause(where, text)
        self.clauses.append(clause)
        return clause

    def note(self, where: str, *texts: str) -> None:
        """Register docstring sentences of ``where`` that explain and promise nothing testable."""
        self.clauses.extend(Clause(where, text, rule=False) for text in texts)

    def check(self, task: int, backs: tuple[Clause, ...] = (), needs: tuple[Need, ...] = (),
              backends: tuple[str, ...] | None = None
              ) -> Callable[[CheckFunction], CheckFunction]:
        """Decorator: register a check function under one of this step's tasks, with the rules
        of the contract it tests, what it needs beyond plain Python (``("threads",)``) and the
        databases it runs on (the step's unless given)."""
        self.task(task)  # fail at import time on a typo, not when a learner runs it
        unknown = [c for c in backs if c not in self.clauses or not c.rule]
        if unknown:
            raise ValueError(f"step {self.number}: {unknown} are not rules of this step")
        wanted = check_needs(needs)

        def register(function: CheckFunction) -> CheckFunction:
            self.checks.append(Check(self.number, task, function.__name__, function, backs,
                                     wanted, self.backends if backends is None else backends))
            return function

        return register

    def checks_backing(self, clause: Clause) -> list[Check]:
        return [c for c in self.checks if clause in c.backs]

    def checks_for(self, task: int) -> list[Check]:
        return [c for c in self.checks if c.task == task]

    def task_of(self, qualname: str) -> Task | None:
        """The task whose exercise includes ``qualname``, if any."""
        return next((t for t in self.tasks if qualname in t.builds), None)


STEPS_PACKAGE = "cqrs_kata.steps"
"""Where the steps are registered: ``stepNN/checks.py`` below it declares ``STEP``. The course
finds them by name, the one place this layer reaches up to the steps built on it."""


def _step_module_names() -> list[str]:
    """Names of the step packages, found without importing them (some import Hypothesis)."""
    folder = Path(__file__).resolve().parent.parent / "steps"
    names = (info.name for info in pkgutil.iter_modules([str(folder)]) if info.ispkg)
    return sorted(f"{STEPS_PACKAGE}.{n}" for n in names if n.startswith("step"))


def _step_modules() -> Iterator[ModuleType]:
    for name in _step_module_names():
        yield importlib.import_module(f"{name}.checks")


@cache
def all_steps() -> tuple[Step, ...]:
    """Every step of the course, in order; found by looking in ``cqrs_kata/steps/``."""
    found = [module.STEP for module in _step_modules()]
    return tuple(sorted(found, key=lambda s: s.number))


def normalize_number(number: str | int) -> str:
    text = str(number).strip()
    if text.lower().startswith("step"):
        text = text[4:]
    return text.zfill(2) if text.isdigit() else text


def get_step(number: str | int) -> Step:
    """The step with this number ("02", "2" and 2 all work)."""
    wanted = normalize_number(number)
    names = _step_module_names()
    module = f"{STEPS_PACKAGE}.step{wanted}"
    if module in names:  # import just this step, so checking one step starts fast
        step: Step = importlib.import_module(f"{module}.checks").STEP
        return step
    known = ", ".join(name.rsplit("step", 1)[1] for name in names)
    raise UnknownStep(
        f"there is no step {number!r}; the steps are {known}. `cqrs-kata list` shows them all."
    )
