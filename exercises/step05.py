# Step 05 exercise: replace each `raise NotImplementedError` with your code,
# then run `cqrs-kata check 05`.
# Generated from solutions/step05.py by `make stubs`; this copy is yours to edit.
"""Step 05 — durable and cross-process: the run and its event in one transaction, a projector
that commits its counts and its checkpoint together, and survives kill -9 anywhere.

Everything lives in one database (``cqrs_kata.db``: a SQLite file by default, or PostgreSQL):

- ``runs(id, tenant, status)``: the write model, the truth.
- ``outbox(position, event_id, type, version, run_id, tenant, status, recorded_at)``: one event
  per run, written in the same transaction as the run. ``position`` numbers the events in
  commit order, from 1 up (with holes on PostgreSQL: a writer that rolls back uses up its
  number, and a crash can skip a few). ``event_id``, ``type`` and ``version`` are the event's
  envelope: an id that stays the event's wherever it is sent, what kind of event it is, and
  the version of its shape.
  Here the outbox is kept as the event log (replays and rebuilds read it); a relay that
  deletes the rows it has sent is the other common form.
- ``counts(view, tenant, status, n)`` and ``checkpoints(view, position)``: the read side. A view
  is a name; its checkpoint is the position of the last event it has taken.
- ``dead_letters(view, position, reason)``: events a view could not apply, kept with the reason.

Run every statement through ``db.execute(sql, params)`` with ``?`` placeholders, and group
statements that must stand or fall together in ``with db.transaction():``. A process can die
between any two statements; only what a transaction committed survives it.
"""

from __future__ import annotations

import time
import uuid
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

from cqrs_kata.db import EVENT_TYPE, EVENT_VERSION, Database, a_database
from solutions.step02 import seconds, validate_name, whole_number
from solutions.step03 import Lag

Clock = Callable[[], float]
ProgressCallback = Callable[[int, int], None]
"""Called as ``on_progress(done, total)`` while a rebuild runs: positions done of positions."""

BATCH = 1000
"""How many events ``project_batch`` takes at most, unless told otherwise."""

MAX_BATCH = 100_000
"""The largest batch ``project_batch`` accepts (a bigger one holds the write lock too long)."""

REBUILD_EVERY = 10_000
"""How many positions a rebuild folds between two progress reports, unless told otherwise."""


class CheckpointMoved(RuntimeError):
    """Another projector moved the view's checkpoint first: this batch was rolled back."""


@dataclass(frozen=True)
class DeadLetter:
    """An event a view could not apply, and why."""

    position: int
    reason: str


def tally(events: Sequence[Sequence[Any]]) -> tuple[dict[tuple[str, str], int],
                                                     dict[tuple[Any, Any], str]]:
    """``(position, tenant, status)`` rows as ``({(tenant, status): count}, {(tenant, status):
    why refused})``. Each distinct pair is checked once, not each event: a batch of 1000 events
    holds a few dozen pairs, and checking every event took half of ``project_batch``'s time."""
    counted = Counter(map(itemgetter(1, 2), events))
    added: dict[tuple[str, str], int] = {}
    refused: dict[tuple[Any, Any], str] = {}
    for (tenant, status), n in counted.items():
        try:
            added[(validate_name("tenant", tenant), validate_name("status", status))] = n
        except (TypeError, ValueError) as error:
            refused[(tenant, status)] = str(error)
    return added, refused


@dataclass
class DurableLog:
    """The write side: records runs, each with its event, durably."""

    db: Database
    clock: Clock = time.time

    def __post_init__(self) -> None:
        a_database(self.db)  # a sqlite3 connection or a path is refused here, in one sentence

    def record(self, tenant: str, status: str) -> int:
        """Record one run and its event in one transaction; return the event's position."""
        return self.record_many([(tenant, status)])[0]

    def record_many(self, runs: Sequence[tuple[str, str]]) -> list[int]:
        """Record ``runs`` (``(tenant, status)`` pairs) in ONE transaction; return the
        positions of their events, in order.

        For each run, insert a row into ``runs`` and its event into ``outbox`` (the run's id,
        tenant, status, and ``self.clock()`` as ``recorded_at``). Each event carries its
        envelope: a new ``event_id`` (``str(uuid.uuid4())``), ``EVENT_TYPE`` as ``type`` and
        ``EVENT_VERSION`` as ``version``. All of it commits together or not at all: a crash or
        an error anywhere leaves no run without its event and no event without its run. Call
        ``self.db.lock_appends()`` first in the transaction, so that events commit in position
        order when several processes write (PostgreSQL), and ``self.db.notify()`` before it
        ends, to wake a sleeping projector.

        Check every run *before* writing anything: ``runs`` must be a list or tuple of
        ``(tenant, status)`` pairs that ``validate_name`` accepts; anything else raises
        ``TypeError`` or ``ValueError`` and writes nothing. Read ``self.clock()`` before writing
        too: it must return a finite number of seconds (an int or a float, not a bool), or the
        call raises ``TypeError`` or ``ValueError`` and writes nothing. An empty list writes
        nothing and returns ``[]``.
        """
        raise NotImplementedError(
            "DurableLog.record_many is not written yet: step 05, task 1 "
            "(`cqrs-kata hint 05 1` gives a hint)"
        )


@dataclass
class DurableProjector:
    """The read side: projects the outbox into one view, in the same database.

    The projector keeps nothing of its own: the view's counts and checkpoint are rows, so a
    projector killed anywhere is replaced by a new one on the same database that carries on.
    """

    db: Database
    view: str = "dashboard"
    clock: Clock = field(default=time.time)

    def __post_init__(self) -> None:
        # A view is a name like a tenant's: a number or a blank one would be stored (SQLite) or
        # fail deep inside a batch (PostgreSQL), instead of being refused here.
        validate_name("view", self.view)
        a_database(self.db)

    def checkpoint(self) -> int:
        """Position of the last event the view has taken (0 for none)."""
        row = self.db.execute("SELECT position FROM checkpoints WHERE view = ?",
                              (self.view,)).fetchone()
        return int(row[0]) if row else 0

    def summary(self, tenant: str) -> dict[str, int]:
        """``{status: count}`` for ``tenant``, as a reader sees it (``{}`` for none)."""
        rows = self.db.execute("SELECT status, n FROM counts WHERE view = ? AND tenant = ? "
                               "AND n <> 0 ORDER BY status", (self.view, tenant)).fetchall()
        return {status: int(n) for status, n in rows}

    def dead_letters(self) -> list[DeadLetter]:
        """The events this view set aside, in position order."""
        rows = self.db.execute("SELECT position, reason FROM dead_letters WHERE view = ? "
                               "ORDER BY position", (self.view,)).fetchall()
        return [DeadLetter(int(p), str(r)) for p, r in rows]

    def project_batch(self, limit: int = BATCH) -> int:
        """Take the next events after the checkpoint into the view; return how many were taken.

        In ONE transaction: read the view's checkpoint, read up to ``limit`` events with a
        greater position from ``outbox`` in position order, add each to ``counts`` (one row per
        view, tenant and status, created at 1 or added to), and move the checkpoint to the last
        position taken. Either all of it commits, or none of it: a crash anywhere before the
        commit leaves the view and its checkpoint as they were, and a crash after it leaves
        both moved.

        Positions can have holes: a PostgreSQL writer that rolls back uses up its number.

        Move the checkpoint only from the value this transaction read (``UPDATE checkpoints
        SET position = ? WHERE view = ? AND position = ?``, or, when the view has no row yet,
        ``INSERT ... ON CONFLICT (view) DO NOTHING``): when no row changes, another projector
        got there first; roll back and raise ``CheckpointMoved``. Two projectors on one view
        can then never both take a batch.

        An event whose tenant or status ``validate_name`` refuses (a buggy writer put it in the
        outbox directly) is a poison event: instead of counting it, insert ``(view, position,
        reason)`` into ``dead_letters``, the reason being ``validate_name``'s message, in the
        same transaction (``ON CONFLICT (view, position) DO NOTHING``: a rebuild may have set it
        aside already), and go on past it. Any other error (a database error: a lost
        connection, a lock timeout) is not the event's fault: let it propagate, so that the
        whole batch rolls back and is tried again.

        Return 0 when there is nothing after the checkpoint. ``limit`` must be an int from 1
        to ``MAX_BATCH`` (not a bool); otherwise raise TypeError or ValueError and change
        nothing.
        """
        raise NotImplementedError(
            "DurableProjector.project_batch is not written yet: step 05, task 2 "
            "(`cqrs-kata hint 05 2` gives a hint)"
        )

    def lag(self) -> Lag:
        """How far the view is behind the outbox, read from the database.

        ``events`` is how many events have a position after the checkpoint; ``oldest_age`` is
        ``self.clock()`` minus the ``recorded_at`` of the first of them (the lowest position),
        0.0 when there is none or its ``recorded_at`` is not a number (a poison row), and never
        below 0.0.
        """
        raise NotImplementedError(
            "DurableProjector.lag is not written yet: step 05, task 3 "
            "(`cqrs-kata hint 05 3` gives a hint)"
        )

    def rebuild(self, on_progress: ProgressCallback | None = None,
                every: int = REBUILD_EVERY) -> None:
        """Recompute the view from the outbox aside, then swap it in with one transaction.

        Fold the outbox into the rows of a scratch view named ``self.view + "~rebuild"``
        (cleared first), ``every`` positions per transaction, calling ``on_progress(done,
        total)`` after each (``total`` is the last position when the rebuild began; ``(0, 0)``
        once for an empty outbox). Poison events count for nothing there either: set each aside
        in ``dead_letters`` under the live view's name, as ``project_batch`` does. Readers and
        the projector keep using the live view meanwhile; writers keep writing.

        Then, in ONE transaction: fold the events recorded since, replace the live view's
        counts with the scratch view's, and set the live checkpoint to the last position
        folded. Readers see the old view until that commit and the new one after it, never a
        half-built one.

        ``on_progress`` must be callable or None and ``every`` an int >= 1 (not a bool);
        otherwise raise TypeError or ValueError before doing anything.
        """
        raise NotImplementedError(
            "DurableProjector.rebuild is not written yet: step 05, task 4 "
            "(`cqrs-kata hint 05 4` gives a hint)"
        )
