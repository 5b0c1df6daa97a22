"""The harness driver every step's generated-sequence checks share.

A step's harness (``step03``, ``step04``, ``step05``) describes its operations as a Hypothesis
strategy and how to play one list of them against the learner's code beside a plain model,
raising :class:`HarnessFailure` (what was done, what a reader saw, what it should have seen, and
why) when they part. :func:`search` plays generated lists, deterministically, and raises the
failure of a short failing one. ``$CQRS_KATA_HARNESS_EXAMPLES`` sets how many lists to try.
"""

from __future__ import annotations

import contextlib
import os
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping, Sequence
from typing import Any, ClassVar, NoReturn

from hypothesis import HealthCheck, Phase, Verbosity, given, settings
from hypothesis import strategies as st

from cqrs_kata import platform
from cqrs_kata.course.expect import fail, same
from cqrs_kata.course.paths import CourseNotFound, state_dir

EXAMPLES_ENV = "CQRS_KATA_HARNESS_EXAMPLES"
DEFAULT_EXAMPLES = 60
"""Sequences tried per attack: enough to catch the usual bugs, quick enough for a check."""


class HarnessFailure(Exception):
    """A sequence of operations after which a reader sees something wrong."""

    def __init__(self, steps: Sequence[str], got: str, expected: str, why: str) -> None:
        self.steps = list(steps)
        self.got = got
        self.expected = expected
        self.why = why
        super().__init__(self.report())

    @property
    def called(self) -> str:
        numbered = [f"{i}. {step}" for i, step in enumerate(self.steps, start=1)]
        if not numbered:
            numbered = ["(no operations: a fresh projector, then catching up)"]
        return "\n".join(["these operations, in order (the fewest Hypothesis found that fail):",
                          *("  " + line for line in numbered)])

    def fail_check(self) -> NoReturn:
        """Fail the course check that found this, with the same four parts."""
        fail(self.called.replace("\n", "\n" + " " * 9), self.got, self.expected, self.why)

    def report(self) -> str:
        pad = "\n" + " " * 9
        return "\n".join([f"called   {self.called.replace(chr(10), pad)}",
                          f"got      {self.got}", f"expected {self.expected}",
                          f"why      {self.why}"])


class Player(ABC):
    """One play of generated operations against the learner's code beside a plain model.

    A step's harness subclasses it (as a dataclass with ``steps`` and ``cause`` fields): it
    says how to ``perform`` one operation and how to ``look`` at what a reader sees, and keeps
    ``WHY``, the rule each kind of operation tests; :meth:`play` runs the list and turns any
    other error of the learner's code into a failure that says ``UNEXPECTED``.
    """

    steps: list[str]
    """What was done so far, one line per operation, for the failure's numbered list."""
    cause: str
    """The kind of the last operation (a key of ``WHY``)."""
    WHY: ClassVar[Mapping[str, str]] = {}
    UNEXPECTED: ClassVar[str] = "no error"

    @abstractmethod
    def perform(self, operation: Any) -> None:
        """Do ``operation`` to the learner's code and to the model."""

    @abstractmethod
    def look(self) -> None:
        """Raise :meth:`fail` if a reader now sees what the model says it must not."""

    def fail(self, got: str, expected: str, why: str = "") -> HarnessFailure:
        """``why``: what is wrong, when it is not the last operation's rule."""
        return HarnessFailure(self.steps, got, expected, why or self.WHY.get(self.cause, ""))

    def step(self, cause: str, text: str) -> None:
        self.cause = cause
        self.steps.append(text)

    def shown(self, value: object) -> str:
        """``value`` as a failure quotes it."""
        return repr(value)

    def expect(self, what: str, got: object, expected: object, why: str = "") -> None:
        if not same(got, expected):  # plain data: a learner's object cannot claim equality
            raise self.fail(f"{what} is {self.shown(got)}",
                            f"{self.shown(expected)}, as the model says", why)

    def play(self, operations: Sequence[Any]) -> None:
        """Look, then perform and look after each operation."""
        try:
            self.look()
            for operation in operations:
                self.perform(operation)
                self.look()
        except (HarnessFailure, NotImplementedError):
            raise
        except Exception as error:
            raise self.fail(f"{type(error).__name__}: {error}", self.UNEXPECTED) from error


BROWSER_SHARE = 4
"""In a browser kernel (Pyodide: several times slower, and no time limit) generated checks try
one case in this many, so that a step's check answers within seconds; a local install tries
them all. ``$CQRS_KATA_HARNESS_EXAMPLES`` set means the count given, there too."""


def here_count(count: int) -> int:
    """``count`` generated cases, or a ``BROWSER_SHARE``-th of them (5 at least) in a browser
    kernel."""
    if platform.here().browser and not os.environ.get(EXAMPLES_ENV):
        return max(5, count // BROWSER_SHARE)
    return count


def examples_wanted(default: int = DEFAULT_EXAMPLES) -> int:
    """Sequences per attack: $CQRS_KATA_HARNESS_EXAMPLES if set, else ``default`` (each
    harness has its own)."""
    text = os.environ.get(EXAMPLES_ENV, "")
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{EXAMPLES_ENV}={text!r} is not a whole number >= 1; "
                         "unset it or give a count of sequences, e.g. 500")
    return int(text)


def search(strategy: st.SearchStrategy[Any], play_one: Callable[[Any], None],
           max_examples: int | None = None, *, default: int = DEFAULT_EXAMPLES,
           shrink_seconds: float | None = None) -> None:
    """Play up to ``max_examples`` generated examples (``examples_wanted(default)`` when None);
    raise the HarnessFailure of a short failing one if one fails. ``NotImplementedError``
    (unwritten code) stops the search and is raised as is.

    Hypothesis shrinks a failing example, unless ``shrink_seconds`` is given: where one play is
    slow (step 05's, on database files), the first failing list of operations is shortened
    instead by dropping one operation at a time while it still fails, for at most that long.
    """
    count = here_count(examples_wanted(default) if max_examples is None else max_examples)
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"max_examples must be a whole number >= 1, got {count!r}")
    # Hypothesis caches what it learns from source files under $HYPOTHESIS_STORAGE_DIRECTORY
    # (./.hypothesis by default); keep that with the kata's own state, out of the learner's way.
    with contextlib.suppress(CourseNotFound, OSError):
        os.environ.setdefault("HYPOTHESIS_STORAGE_DIRECTORY", str(state_dir() / "hypothesis"))
    if shrink_seconds is not None:
        _search_then_shorten(strategy, play_one, count, shrink_seconds)
        return
    stopped: list[BaseException] = []

    # Hypothesis seeds a derandomized search from this function's source: keep it as it is, so
    # a given wrong solution meets the same sequences (and the same message) as before.
    @settings(max_examples=count, derandomize=True, database=None, deadline=None,
              report_multiple_bugs=False, suppress_health_check=list(HealthCheck),
              phases=(Phase.explicit, Phase.generate, Phase.shrink), verbosity=Verbosity.quiet)
    @given(strategy)
    def examples(example: Any) -> None:
        if stopped:
            return
        try:
            play_one(example)
        except NotImplementedError as stop:
            stopped.append(stop)  # unwritten code: not a counterexample

    found: HarnessFailure | None = None
    try:
        examples()
    except HarnessFailure as failure:
        found = failure
    if stopped:
        raise stopped[0]
    if found is not None:
        raise found


def _search_then_shorten(strategy: st.SearchStrategy[Any], play_one: Callable[[Any], None],
                         count: int, seconds: float) -> None:
    """``search`` without Hypothesis's shrinking: the first failing list is shortened by
    :func:`_shortened` instead."""
    failing: list[Any] = []
    stopped: list[NotImplementedError] = []

    @settings(max_examples=count, derandomize=True, database=None, deadline=None,
              suppress_health_check=list(HealthCheck), phases=(Phase.explicit, Phase.generate),
              verbosity=Verbosity.quiet)
    @given(strategy)
    def examples(example: Any) -> None:
        if failing or stopped:
            return
        try:
            play_one(example)
        except NotImplementedError as stop:
            stopped.append(stop)
        except HarnessFailure:
            failing.append(example)

    examples()
    if stopped:
        raise stopped[0]
    found = _shortened(failing[0], play_one, seconds) if failing else None
    if found is not None:
        raise found


def _shortened(operations: list[Any], play_one: Callable[[Any], None], seconds: float
               ) -> HarnessFailure | None:
    """The failure of ``operations`` with operations dropped while it still fails, for at most
    ``seconds``; None if, played again, it no longer fails."""
    until = time.monotonic() + seconds
    shorter = True
    while shorter and time.monotonic() < until:
        shorter = False
        for i in range(len(operations)):
            if time.monotonic() >= until:
                break
            fewer = operations[:i] + operations[i + 1:]
            try:
                play_one(fewer)
            except HarnessFailure:
                operations, shorter = fewer, True
                break
    try:
        play_one(operations)
    except HarnessFailure as failure:
        return failure
    return None  # pragma: no cover - a failure that does not repeat
