# CORRECT: written from the stub's docstrings, the notebook and the hints (not from solutions/).
"""Step 02 — split truth from views, synchronously (CQRS-lite).

Writes go to an append-only store of truth (``RunsWrite``); reads come from a denormalized view
of counters (``RunsRead``). ``RunService.record`` updates both; ``rebuild_read_model`` throws
the view away and recomputes it from the truth, which is what makes the view safe to lose.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

MAX_NAME_LENGTH = 100
"""Longest tenant or status name accepted; anything longer is a bug upstream, not a name."""


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
        if not isinstance(r, Run):
            raise TypeError(f"add() takes a Run, got {r!r}; pass Run(tenant, status)")
        self.data.append(r)

    def all(self) -> list[Run]:
        """Return every run, oldest first, as a new list.

        A caller that appends to or clears the returned list must not change the store: hand
        out a copy, never ``self.data`` itself. (The runs inside are frozen, so a shallow copy
        is enough to keep history safe.)
        """
        return list(self.data)


@dataclass
class MemoryRead(RunsRead):
    """The view, in memory: ``counts[tenant][status]`` is how many such runs there are."""

    counts: dict[str, dict[str, int]] = field(default_factory=dict)

    def inc(self, tenant: str, status: str) -> None:
        """Add one to ``counts[tenant][status]``, creating the tenant and status as needed."""
        per_status = self.counts.setdefault(tenant, {})
        per_status[status] = per_status.get(status, 0) + 1

    def summary(self, tenant: str) -> dict[str, int]:
        """Return ``{status: count}`` for ``tenant``; ``{}`` for a tenant with no runs.

        Return a copy: a caller that changes the result must not change the view. Looking up
        an unknown tenant must not add it to ``counts`` either.
        """
        return dict(self.counts.get(tenant, {}))

    def reset(self) -> None:
        """Forget all counts, so that a rebuild starts from nothing."""
        self.counts.clear()


def validate_name(what: str, value: object) -> str:
    """Return ``value`` if it is a usable tenant or status name, else raise a clear error.

    ``what`` is ``"tenant"`` or ``"status"``, for the message. A usable name is a ``str`` that is
    not empty, not only white space, at most ``MAX_NAME_LENGTH`` characters long, and printable
    (``value.isprintable()``: no newline, tab, other control character or lone surrogate, which
    would break every table and file the name is shown in).
    Raise ``TypeError`` when ``value`` is not a ``str`` and ``ValueError`` otherwise; the
    message names ``what`` and shows what was given.
    """
    if not isinstance(value, str):
        raise TypeError(
            f"{what} must be a str, got {type(value).__name__} {value!r}; "
            f"pass the {what} name as text, e.g. 'acme'"
        )
    if not value.strip():
        raise ValueError(
            f"{what} must not be empty or only white space, got {value!r}; "
            f"pass a name with at least one visible character"
        )
    if len(value) > MAX_NAME_LENGTH:
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise ValueError(
            f"{what} is {len(value)} characters long, got {shown!r}; "
            f"pass a name of at most {MAX_NAME_LENGTH} characters"
        )
    if not value.isprintable():
        raise ValueError(f"{what} {value!r} has a character that cannot be shown; pass plain text")
    return value


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
        run = Run(validate_name("tenant", tenant), validate_name("status", status))
        self.write.add(run)
        self.read.inc(run.tenant, run.status)

    def rebuild_read_model(self) -> None:
        """Throw the view away and recompute it from the write store's history.

        Afterwards every count equals what ``self.write.all()`` says, however wrong the view
        was before; rebuilding again changes nothing.
        """
        self.read.reset()
        for run in self.write.all():
            self.read.inc(run.tenant, run.status)
