# Step 02 exercise: replace each `raise NotImplementedError` with your code,
# then run `cqrs-kata check 02`.
# Generated from solutions/step02.py by `make stubs`; this copy is yours to edit.
"""Step 02 — split truth from views, synchronously (CQRS-lite).

Writes go to an append-only store of truth (``RunsWrite``); reads come from a denormalized view
of counters (``RunsRead``). ``RunService.record`` updates both; ``rebuild_read_model`` throws
the view away and recomputes it from the truth, which is what makes the view safe to lose.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Protocol

MAX_NAME_LENGTH = 100
"""Longest tenant or status name accepted; anything longer is a bug upstream, not a name."""


def whole_number(what: str, value: object, instead: str = "") -> int:
    """``value`` if it is an ``int`` >= 0; else ``TypeError`` (not an int: ``True``, ``2.0`` and
    ``"2"`` are not) or ``ValueError`` (negative), naming ``what`` and saying what to pass
    ``instead``. One rule for every count, position and limit in the course."""
    advice = f"; {instead}" if instead else ""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{what} must be a whole number (an int), got {type(value).__name__} "
                        f"{value!r:.40}{advice}")
    if value < 0:
        raise ValueError(f"{what} must be 0 or more, got {value}{advice}")
    return value


def seconds(what: str, value: object) -> float:
    """``value`` as a float if it is a finite number of seconds (an ``int`` or ``float``, not a
    bool); else ``TypeError`` or ``ValueError`` naming ``what``. One rule for every time read
    from a clock in the course."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{what} must be a number of seconds, got {type(value).__name__} "
                        f"{value!r:.40}; a clock returns a float, like time.time()")
    if not math.isfinite(value):
        raise ValueError(f"{what} must be a finite number of seconds, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Run:
    """One recorded run: a fact. Frozen, because history is never edited."""

    tenant: str
    status: str


class RunsWrite(Protocol):
    """The write side: an append-only log of runs, the source of truth."""

    def add(self, r: Run) -> None:
        """Append one run to the end of the log."""
        ...

    def all(self) -> list[Run]:
        """Every run ever added, oldest first, as a list the caller may change freely."""
        ...

    def since(self, position: int, limit: int | None = None) -> list[Run]:
        """The runs after ``position`` (1-based), oldest first, at most ``limit`` of them."""
        ...


class RunsRead(Protocol):
    """The read side: counters per tenant and status, cheap to query and safe to rebuild."""

    def inc(self, tenant: str, status: str) -> None:
        """Add one to the count of ``status`` runs for ``tenant``."""
        ...

    def summary(self, tenant: str) -> dict[str, int]:
        """Counts per status for ``tenant``, as a dict the caller may change freely."""
        ...

    def reset(self) -> None:
        """Forget every count, ready for a rebuild."""
        ...


@dataclass
class MemoryWrite(RunsWrite):
    """The write store, in memory: a list that only ever grows."""

    data: list[Run] = field(default_factory=list)

    def add(self, r: Run) -> None:
        """Append ``r`` to ``self.data``. Never change or remove what is already there.

        ``r`` must be a ``Run``; anything else (a tuple, a dict, None) raises ``TypeError`` and
        adds nothing, so the log never holds what a rebuild could not read.
        """
        raise NotImplementedError(
            "MemoryWrite.add is not written yet: step 02, task 1 "
            "(`cqrs-kata hint 02 1` gives a hint)"
        )

    def all(self) -> list[Run]:
        """Return every run, oldest first, as a new list.

        A caller that appends to or clears the returned list must not change the store: hand
        out a copy, never ``self.data`` itself. (The runs inside are frozen, so a shallow copy
        is enough to keep history safe.)
        """
        raise NotImplementedError(
            "MemoryWrite.all is not written yet: step 02, task 1 "
            "(`cqrs-kata hint 02 1` gives a hint)"
        )

    def since(self, position: int, limit: int | None = None) -> list[Run]:
        """The runs after ``position``: those at positions ``position + 1`` on (1-based), oldest
        first, at most ``limit`` of them, as a new list; ``[]`` past the end of the log.

        A projector reads only what it has not applied yet, without copying the whole log.
        """
        whole_number("position", position)
        if limit is None:
            return self.data[position:]
        return self.data[position:position + whole_number("limit", limit)]


@dataclass
class MemoryRead(RunsRead):
    """The view, in memory: ``counts[tenant][status]`` is how many such runs there are."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def inc(self, tenant: str, status: str) -> None:
        """Add one to ``counts[tenant][status]``, creating the tenant and status as needed."""
        raise NotImplementedError(
            "MemoryRead.inc is not written yet: step 02, task 2 "
            "(`cqrs-kata hint 02 2` gives a hint)"
        )

    def summary(self, tenant: str) -> dict[str, int]:
        """Return ``{status: count}`` for ``tenant``; ``{}`` for a tenant with no runs.

        Return a copy: a caller that changes the result must not change the view. Looking up
        an unknown tenant must not add it to ``counts`` either.
        """
        raise NotImplementedError(
            "MemoryRead.summary is not written yet: step 02, task 2 "
            "(`cqrs-kata hint 02 2` gives a hint)"
        )

    def reset(self) -> None:
        """Forget all counts, so that a rebuild starts from nothing."""
        raise NotImplementedError(
            "MemoryRead.reset is not written yet: step 02, task 2 "
            "(`cqrs-kata hint 02 2` gives a hint)"
        )


def validate_name(what: str, value: object) -> str:
    """Return ``value`` if it is a usable tenant or status name, else raise a clear error.

    ``what`` is ``"tenant"`` or ``"status"``, for the message. A usable name is a ``str`` that is
    not empty, not only white space, at most ``MAX_NAME_LENGTH`` characters long, and printable
    (``value.isprintable()``: no newline, tab, other control character or lone surrogate, which
    would break every table and file the name is shown in).
    Raise ``TypeError`` when ``value`` is not a ``str`` and ``ValueError`` otherwise; the
    message names ``what`` and shows what was given.
    """
    raise NotImplementedError(
        "validate_name is not written yet: step 02, task 3 "
        "(`cqrs-kata hint 02 3` gives a hint)"
    )


@dataclass
class RunService:
    """The application service: the one place that writes, and keeps the view in step."""

    write: RunsWrite
    read: RunsRead

    def record(self, tenant: str, status: str) -> None:
        """Record one run: store it as truth, then count it in the view.

        Validate both names with ``validate_name`` before touching either store, so that bad
        input raises and leaves the write store and the view exactly as they were.
        """
        raise NotImplementedError(
            "RunService.record is not written yet: step 02, task 4 "
            "(`cqrs-kata hint 02 4` gives a hint)"
        )

    def rebuild_read_model(self) -> None:
        """Throw the view away and recompute it from the write store's history.

        Afterwards every count equals what ``self.write.all()`` says, however wrong the view
        was before; rebuilding again changes nothing.
        """
        raise NotImplementedError(
            "RunService.rebuild_read_model is not written yet: step 02, task 5 "
            "(`cqrs-kata hint 02 5` gives a hint)"
        )
