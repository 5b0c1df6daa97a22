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
        # BEGIN SOLUTION
        if not isinstance(r, Run):
            raise TypeError(f"add() takes a Run, got {type(r).__name__} {r!r:.60}; "
                            "pass Run(tenant, status)")
        self.data.append(r)
        # END SOLUTION

    def all(self) -> list[Run]:
        """Return every run, oldest first, as a new list.

        A caller that appends to or clears the returned list must not change the store: hand
        out a copy, never ``self.data`` itself. (The runs inside are frozen, so a shallow copy
        is enough to keep history safe.)
        """
        # BEGIN SOLUTION
        return list(self.data)
        # END SOLUTION

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
        # BEGIN SOLUTION
        per_status = self.counts.setdefault(tenant, {})
        per_status[status] = per_status.get(status, 0) + 1
        # END SOLUTION

    def summary(self, tenant: str) -> dict[str, int]:
        """Return ``{status: count}`` for ``tenant``; ``{}`` for a tenant with no runs.

        Return a copy: a caller that changes the result must not change the view. Looking up
        an unknown tenant must not add it to ``counts`` either.
        """
        # BEGIN SOLUTION
        return dict(self.counts.get(tenant, {}))
        # END SOLUTION

    def reset(self) -> None:
        """Forget all counts, so that a rebuild starts from nothing."""
        # BEGIN SOLUTION
        self.counts.clear()
        # END SOLUTION


def validate_name(what: str, value: object) -> str:
    """Return ``value`` if it is a usable tenant or status name, else raise a clear error.

    ``what`` is ``"tenant"`` or ``"status"``, for the message. A usable name is a ``str`` that is
    not empty, not only white space, at most ``MAX_NAME_LENGTH`` characters long, and printable
    (``value.isprintable()``: no newline, tab, other control character or lone surrogate, which
    would break every table and file the name is shown in).
    Raise ``TypeError`` when ``value`` is not a ``str`` and ``ValueError`` otherwise; the
    message names ``what`` and shows what was given.
    """
    # BEGIN SOLUTION
    if not isinstance(value, str):
        raise TypeError(f"{what} must be a str, got {type(value).__name__} {value!r:.40}; "
                        f"pass the {what} as text")
    if not value.strip():
        raise ValueError(f"{what} must not be empty or blank, got {value!r}; "
                         f"pass the {what}'s name")
    if len(value) > MAX_NAME_LENGTH:
        raise ValueError(f"{what} is {len(value)} characters long, more than the "
                         f"{MAX_NAME_LENGTH} allowed (it starts {value[:20]!r}); "
                         f"pass a short {what} name")
    if not value.isprintable():
        raise ValueError(f"{what} {value!r:.60} holds a character that cannot be shown "
                         "(a newline, tab, control character or lone surrogate); pass plain "
                         "text")
    return value
    # END SOLUTION


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
        # BEGIN SOLUTION
        run = Run(validate_name("tenant", tenant), validate_name("status", status))
        self.write.add(run)
        self.read.inc(run.tenant, run.status)  # synchronous here; step 03 makes it eventual
        # END SOLUTION

    def rebuild_read_model(self) -> None:
        """Throw the view away and recompute it from the write store's history.

        Afterwards every count equals what ``self.write.all()`` says, however wrong the view
        was before; rebuilding again changes nothing.
        """
        # BEGIN SOLUTION
        self.read.reset()
        for r in self.write.all():
            self.read.inc(r.tenant, r.status)
        # END SOLUTION
