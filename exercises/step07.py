# Step 07 exercise: replace each `raise NotImplementedError` with your code,
# then run `cqrs-kata check 07`.
# Generated from solutions/step07.py by `make stubs`; this copy is yours to edit.
"""Step 07 — the capstone: runs whose status changes, and one view of them built to the
checklist (separate roles, rebuildable, idempotent, consistency written down, simpler
considered).

A run now has a life: ``Runs.start`` opens it as ``started``; ``Runs.finish`` closes it once, as
``ok``, ``fail`` or ``cancelled``. Everything lives in step 05's database (``cqrs_kata.db``: a
SQLite file, or PostgreSQL), with the two tables ``prepare(db)`` adds:

- ``runs(id, tenant, status)``: the write model, each run's status now. Commands decide from
  it, and from nothing else.
- ``outbox``: the log, one event per move, written in the move's transaction: ``run.started``
  and ``run.finished``, with the run's id, tenant and new status. Events of the current shape
  are ``version`` 2. The first release wrote version 1 without a tenant: it served one tenant,
  the one now called ``LEGACY_TENANT``. Old events stay as they were written; readers upcast.
- ``counts``, ``checkpoints`` and ``dead_letters``, as in step 05, one set per *version* of
  the view (``status_counts@1``, ``status_counts@2``, ...): a view version is a name.
- ``live_views(name, view)``: the version readers read, switched in one statement.
- ``effects(key, tenant, fails, position, sent_at)``: the effects ledger, one row per alert,
  written in the transaction that crossed the threshold; ``sent_at`` once it was handed on.

The view counts runs per tenant and status *now*: a finished run leaves ``started`` and joins
its final status, so a count moves from one bucket to another.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cqrs_kata.db import Database, a_database
from solutions.step02 import seconds, validate_name, whole_number
from solutions.step05 import CheckpointMoved

Clock = Callable[[], float]

STARTED = "started"
"""The status of a run that has started and not finished."""

FINAL = ("ok", "fail", "cancelled")
"""The statuses a run can finish with; a finished run never moves again."""

RUN_STARTED = "run.started"
RUN_FINISHED = "run.finished"
"""The ``type`` of the two events the log holds."""

VERSION = 2
"""The shape events are written in now: ``(run_id, tenant, status)``. Version 1 had no
tenant."""

LEGACY_TENANT = "legacy"
"""The tenant every version 1 event belongs to: the first release served only this one, and
its rows in ``runs`` were migrated to this name, so a version 1 start and the version 2 finish
of the same run count under one tenant."""

ALERT_AT = 3
"""A tenant's failures crossing each multiple of this (3, 6, 9, ...) raise one alert."""

VIEW = "status_counts"
"""The view's name; its versions are ``f"{VIEW}@{n}"``."""

BATCH = 1000
"""How many events ``project_batch`` takes at most, unless told otherwise."""

MAX_BATCH = 100_000
"""The largest batch ``take`` accepts."""

TABLES = """
CREATE TABLE IF NOT EXISTS live_views (
    name TEXT PRIMARY KEY,
    view TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS effects (
    key TEXT PRIMARY KEY,
    tenant TEXT NOT NULL,
    fails BIGINT NOT NULL,
    position BIGINT NOT NULL,
    sent_at DOUBLE PRECISION
)
"""
"""The capstone's two tables beside step 05's, in SQL both SQLite and PostgreSQL accept."""


def prepare(db: Database) -> None:
    """Create ``live_views`` and ``effects`` where they are missing (empty)."""
    for statement in TABLES.split(";"):
        db.execute(statement)


class MoveRefused(Exception):
    """The write model says this run cannot make this move (unknown, or finished already). Not
    a ``ValueError``, so an ``except ValueError`` meant for the caller's own bad input does not
    swallow it: bad input is the caller's mistake (fix the call); a refused move is the write
    model's answer to a valid request (report it; retrying will not help)."""


class UnknownVersion(RuntimeError):
    """An event written in a shape newer than this code reads: deploy the code that reads it.
    Nothing was taken: guessing would count it wrong, and setting it aside would count the
    events after it without it (a run's finish without its start). Deploy readers of a new
    version before any writer writes it."""


class NotCaughtUp(RuntimeError):
    """The view has not taken the position the reader asked for yet: ask again shortly."""


class TooStale(RuntimeError):
    """The view is further behind than its contract allows: its answer is not given."""


@dataclass(frozen=True)
class Receipt:
    """What a command returns: the run it moved, and the position of the event it wrote (pass
    it to ``read(tenant, after=position)`` to read your own write)."""

    run_id: int
    position: int


@dataclass(frozen=True)
class Event:
    """One row of the log, as it was written: nothing checked yet (a buggy writer, or an older
    or newer release, may have written it)."""

    position: int
    type: Any
    version: Any
    run_id: Any
    tenant: Any
    status: Any


@dataclass(frozen=True)
class Alert:
    """What ``send_alerts`` hands on: ``key`` is the same however often it is handed on, so
    the receiver can drop what it has already taken."""

    key: str
    tenant: str
    fails: int


@dataclass(frozen=True)
class Contract:
    """The view's consistency contract, as data that readers and the checks read."""

    staleness_s: float
    """The oldest answer ``read`` gives, in seconds: its ``age``, measured from the first event
    after the checkpoint (in position order, which is commit order because every append takes
    the outbox's lock). Older, and ``read`` raises ``TooStale`` instead of answering. The age
    compares the reader's clock with the writer's ``recorded_at``: their clocks must agree to
    well within it. ``recorded_at`` is stamped before the append waits for that lock, so under
    contention a later position can carry an earlier time, and the age can understate by that
    wait."""
    prefix: bool
    """Whether every answer is the fold of the log's positions 1 to the ``position`` it is
    returned with: all of them and nothing after (no gaps, no half-taken batch)."""
    read_your_writes: bool
    """Whether ``read(tenant, after=p)`` answers only once the view has taken position ``p``
    (and raises ``NotCaughtUp`` before)."""


@dataclass(frozen=True)
class Reading:
    """One answer of the view: ``{status: runs}`` for a tenant, as of ``position``, and how old
    that is (``age``, in seconds)."""

    counts: dict[str, int]
    position: int
    age: float


@dataclass(frozen=True)
class Considered:
    """A simpler option, weighed and ruled out for this view, with the figure that weighs
    against it here, as step 06's bench measured it on your machine."""

    option: str
    """``"table+index"``, ``"inline counters"`` or ``"etl summary"``."""
    figure: str
    """The ``Figures`` field that weighs against it: ``read_mean_s``, ``write_s``,
    ``staleness_s`` or ``refresh_s``."""
    measured: float
    """That figure, in seconds, from your bench run (``cqrs-kata bench``, or notebook 06)."""
    why: str
    """In a sentence or two: what this view needs that the option cannot give, at that
    figure."""


def alert_key(tenant: str, fails: int) -> str:
    """The idempotency key of the alert for ``tenant``'s failures reaching ``fails``: made of
    the fact it reports, so every replay, rebuild and retry of it finds the same key."""
    return f"failures/{tenant}/{fails}"


# Task 1: the command side --------------------------------------------------------------------


@dataclass
class Runs:
    """The command side: decides every move from the write model (``runs``), and writes the
    move and its event in one transaction. It never reads a view."""

    db: Database
    clock: Clock = time.time

    def __post_init__(self) -> None:
        a_database(self.db)

    def _append(self, kind: str, run_id: int, tenant: str, status: str, now: float) -> int:
        """Inside the move's transaction: append its event, in position order; its position."""
        self.db.lock_appends()
        position = self.db.execute(
            "INSERT INTO outbox (event_id, type, version, run_id, tenant, status, recorded_at) "
            "VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING position",
            (str(uuid.uuid4()), kind, VERSION, run_id, tenant, status, now)).fetchone()[0]
        self.db.notify()
        return int(position)

    def start(self, tenant: str) -> Receipt:
        """Start a run for ``tenant``: a ``started`` row in ``runs`` and its ``run.started``
        event, in one transaction. ``LEGACY_TENANT`` is the first release's, and refused."""
        validate_name("tenant", tenant)
        if tenant == LEGACY_TENANT:
            raise ValueError(f"tenant {tenant!r} is kept for the first release's runs: its "
                             "counts would merge with theirs; pick another name")
        now = seconds("the clock's time", self.clock())
        with self.db.transaction():
            run_id = int(self.db.execute("INSERT INTO runs (tenant, status) VALUES (?, ?) "
                                         "RETURNING id", (tenant, STARTED)).fetchone()[0])
            return Receipt(run_id, self._append(RUN_STARTED, run_id, tenant, STARTED, now))

    def finish(self, run_id: int, status: str) -> Receipt:
        """Finish run ``run_id`` as ``status``; return the run's id and its event's position.

        Check first, before writing anything: ``run_id`` must be an int of 1 or more (not a
        bool) and ``status`` one of ``FINAL``; otherwise raise ``TypeError`` or ``ValueError``.
        Read the clock first too, as ``start`` does.

        Then, in ONE transaction, decide from the write model and write the move: ``UPDATE runs
        SET status = ? WHERE id = ? AND status = 'started' RETURNING tenant``. No row back
        means the move is not allowed: raise ``MoveRefused``, saying whether the run is unknown
        or already finished (and as what), and write nothing. Otherwise append the
        ``run.finished`` event with ``self._append``, after the UPDATE.

        The condition in the UPDATE decides: two callers finishing one run at once both pass
        a check made by an earlier SELECT (on PostgreSQL, at READ COMMITTED), but only one
        UPDATE finds the run still started; the other waits for its commit, then finds none.
        Never read a view to decide: it may be behind, or rebuilding.
        """
        raise NotImplementedError(
            "Runs.finish is not written yet: step 07, task 1 "
            "(`cqrs-kata hint 07 1` gives a hint)"
        )


# Task 2: reads rebuild from writes -----------------------------------------------------------


def upcast(event: Event) -> Event:
    """``event`` in the current shape (``VERSION``), or an error saying why it cannot be taken.

    A version 1 event has no tenant (its ``tenant`` is None): return it with ``tenant`` set to
    ``LEGACY_TENANT`` and ``version`` set to 2. A version 2 event is returned as it is, once
    checked. A version 1 event that has a tenant was not written by the first release: refuse
    it as poison.

    A version above ``VERSION`` was written by a newer release: raise ``UnknownVersion``. Do not
    guess its meaning, and do not set it aside: ``project_batch`` lets the error out, the
    batch rolls back, and the view waits for the code that reads it.

    Look at the version first, whatever the other fields hold: it must be an int (not a bool)
    of 1 or more, and only then is it compared with ``VERSION``. Checked after upcasting:
    ``type`` ``RUN_STARTED`` with status ``STARTED``, or ``RUN_FINISHED`` with a status in
    ``FINAL``; ``run_id`` an int of 1 or more; ``tenant`` a name ``validate_name`` accepts.
    Otherwise raise ``TypeError`` or ``ValueError`` (a poison event: ``project_batch`` sets it
    aside as a dead letter, with your message as the reason).

    Pure: no database, no clock, no state. The same row upcasts the same way today and in a
    rebuild years from now.
    """
    raise NotImplementedError(
        "upcast is not written yet: step 07, task 2 "
        "(`cqrs-kata hint 07 2` gives a hint)"
    )


def apply(db: Database, view: str, event: Event) -> None:
    """Take one upcast event into ``view``, inside the transaction the caller opened (never
    open, commit or roll back one here).

    ``run.started``: add 1 to ``(view, tenant, 'started')``. ``run.finished``: take 1 from
    ``(view, tenant, 'started')`` and add 1 to ``(view, tenant, status)``: the run's count moves
    from one bucket to the other. Add with ``INSERT INTO counts (view, tenant, status, n)
    VALUES (?, ?, ?, ?) ON CONFLICT (view, tenant, status) DO UPDATE SET n = counts.n +
    excluded.n``, ``n`` being 1 or -1.

    A ``fail`` that brings the tenant's failures in ``view`` to a multiple of ``ALERT_AT``
    crosses a threshold: record its alert in the effects ledger, in this same transaction,
    ``INSERT INTO effects (key, tenant, fails, position) VALUES (?, ?, ?, ?) ON CONFLICT (key)
    DO NOTHING``, with ``alert_key(tenant, fails)`` as the key and the event's position. Do not
    send anything here: a rolled-back transaction cannot take back a message.

    A replay, a rebuild into another version and a second projector cross the same thresholds
    at the same events, so they find the key there already and add nothing. (That holds because
    every version folds with this same code: a version whose rules changed would cross other
    thresholds over old history, and must not record effects for what the live one took.)

    Counts move without looking at the run: a start set aside as a dead letter leaves its
    finish taking ``started`` to -1. In a view that moves counts, a dead letter breaks the
    counts until it is repaired and the view rebuilt: alarm on any bucket below 0.
    """
    raise NotImplementedError(
        "apply is not written yet: step 07, task 2 "
        "(`cqrs-kata hint 07 2` gives a hint)"
    )


# The projector: tasks 2, 3 and 4 --------------------------------------------------------------


@dataclass
class Projector:
    """The read side: keeps the versions of the view named ``name`` from the log, hands the
    ledger's alerts on, and answers readers from the live version. It never writes the command
    side's tables: no statement of it, or of ``apply``, inserts, updates or deletes a row of
    ``runs`` (the write model) or ``outbox`` (the log). A reaction that should change a run
    sends a command (``Runs.finish``) instead."""

    db: Database
    name: str = VIEW
    clock: Clock = time.time

    def __post_init__(self) -> None:
        validate_name("view", self.name)
        a_database(self.db)

    def version(self, number: int) -> str:
        """The name of version ``number`` of this view."""
        if whole_number("version", number, "pass 1, 2, ...") < 1:
            raise ValueError(f"a view's versions are numbered from 1, got {number}")
        return f"{self.name}@{number}"

    def live(self) -> str:
        """The version readers read now: the one ``live_views`` names, else version 1."""
        row = self.db.execute("SELECT view FROM live_views WHERE name = ?",
                              (self.name,)).fetchone()
        return str(row[0]) if row else self.version(1)

    def checkpoint(self, view: str) -> int:
        """Position of the last event ``view`` has taken (0 for none)."""
        row = self.db.execute("SELECT position FROM checkpoints WHERE view = ?",
                              (view,)).fetchone()
        return int(row[0]) if row else 0

    def take(self, view: str, limit: int) -> int:
        """Inside a transaction the caller opened: take the next events after ``view``'s
        checkpoint into ``view``, at most ``limit``; return how many were taken.

        The checkpoint moves first, from the value read (``CheckpointMoved`` if another
        projector moved it); then each event is upcast and applied, or set aside as a dead
        letter of ``view`` when ``upcast`` refuses it. ``UnknownVersion`` and database errors
        go out, and the caller's transaction rolls back.
        """
        if whole_number("limit", limit, f"pass 1 to {MAX_BATCH}") < 1 or limit > MAX_BATCH:
            raise ValueError(f"limit must be from 1 to {MAX_BATCH}, got {limit}")
        db = self.db
        row = db.execute("SELECT position FROM checkpoints WHERE view = ?", (view,)).fetchone()
        old = int(row[0]) if row else None
        rows = db.execute("SELECT position, type, version, run_id, tenant, status FROM outbox "
                          "WHERE position > ? ORDER BY position LIMIT ?",
                          (old or 0, limit)).fetchall()
        if not rows:
            return 0
        new = int(rows[-1][0])
        if old is None:
            moved = db.execute("INSERT INTO checkpoints (view, position) VALUES (?, ?) "
                               "ON CONFLICT (view) DO NOTHING", (view, new)).rowcount
        else:
            moved = db.execute("UPDATE checkpoints SET position = ? WHERE view = ? AND "
                               "position = ?", (new, view, old)).rowcount
        if moved != 1:
            raise CheckpointMoved(f"view {view!r}: another projector moved the checkpoint "
                                  f"from {old or 0} first; this batch was rolled back")
        for position, *fields in rows:
            try:
                event = upcast(Event(int(position), *fields))
            except (TypeError, ValueError) as error:
                db.execute("INSERT INTO dead_letters (view, position, reason) VALUES (?, ?, ?) "
                           "ON CONFLICT (view, position) DO NOTHING",
                           (view, int(position), str(error)))
                continue
            apply(db, view, event)
        return len(rows)

    def project_batch(self, limit: int = BATCH) -> int:
        """Take the next events into the live version, in ONE transaction; return how many."""
        with self.db.transaction():
            self.db.execute("INSERT INTO live_views (name, view) VALUES (?, ?) "
                            "ON CONFLICT (name) DO NOTHING", (self.name, self.version(1)))
            return self.take(self.live(), limit)

    def rebuild(self, version: int, every: int = BATCH) -> str:
        """Build version ``version`` of the view aside, from the whole log, then make it the
        live one in one step; return its name (``self.version(version)``).

        ``version`` must not be the live one (``ValueError``): readers are reading it.
        ``every`` is as ``take``'s ``limit``; check both before doing anything.

        First, in one transaction, clear the new version: its counts, checkpoint and dead
        letters (a rebuild that died halfway left some). Then fold the log into it with
        ``self.take(new, every)``, one transaction per call, until a call takes fewer than
        ``every``. Readers and the live projector carry on with the live version meanwhile.

        Then, in ONE transaction: hold the live version still (``INSERT INTO checkpoints (view,
        position) VALUES (?, 0) ON CONFLICT (view) DO UPDATE SET position =
        checkpoints.position`` with the live version: it locks that checkpoint's row, or inserts
        the row when there is none yet, so the live projector's next move of it waits for this
        commit), take every event left into the new version (``take`` until it returns 0), and
        point ``live_views`` at it (``INSERT ... ON CONFLICT (name) DO UPDATE SET view =
        excluded.view``). Readers see the old version until that commit and the new one after
        it: never a half-built one, and never one that has taken fewer events than the one they
        saw before. A live projector that was waiting then goes on: it may commit one last batch
        into the version just retired, which nobody reads, or fail with ``CheckpointMoved``.

        The new version crosses the same thresholds at the same events as the old one did:
        their alerts' keys are in the ledger already, so nothing is sent again.

        Run one rebuild of a view at a time (from one scheduler): the live version is checked
        once, before the work, and two rebuilds at once could switch under each other.
        """
        raise NotImplementedError(
            "Projector.rebuild is not written yet: step 07, task 2 "
            "(`cqrs-kata hint 07 2` gives a hint)"
        )

    # Task 3: effects recorded once, resent safely ------------------------------------------

    def send_alerts(self, send: Callable[[Alert], object]) -> int:
        """Hand each alert of the ledger not sent yet to ``send``, in position order (then by
        key); return how many were handed on.

        For each: call ``send(Alert(key, tenant, fails))``, then mark it sent (``UPDATE effects
        SET sent_at = ? WHERE key = ?``, with ``self.clock()``) in a transaction of its own.
        A crash between the two hands it on again at the next call, with the same key: the
        receiver drops a key it has already taken (that is what the key is for). When ``send``
        raises, let the error out: that alert and the ones after it stay unsent, for the next
        call. ``send`` must be callable (else ``TypeError``, before anything is sent).
        """
        raise NotImplementedError(
            "Projector.send_alerts is not written yet: step 07, task 3 "
            "(`cqrs-kata hint 07 3` gives a hint)"
        )

    # Task 4: the consistency contract ------------------------------------------------------

    def read(self, tenant: str, after: int = 0) -> Reading:
        """``tenant``'s counts in the live version, the position they are as of, and their age,
        held to ``contract()``.

        In ONE statement (a batch or a switch may commit meanwhile, and on PostgreSQL at READ
        COMMITTED, the default, each statement sees the database as of its own start): the live
        version (``live_views``, else version 1), its checkpoint (0 without one), the tenant's
        counts there that are not 0, and the ``recorded_at`` of the first event after that
        checkpoint. ``age`` is ``self.clock()`` minus that ``recorded_at``, never below 0.0; 0.0
        when the view has taken every event.

        ``tenant`` must be a name ``validate_name`` accepts and ``after`` an int of 0 or more
        (not a bool), the clock a finite number of seconds; otherwise raise ``TypeError`` or
        ``ValueError``. When the checkpoint is below ``after``, raise ``NotCaughtUp``; when
        ``age`` is above ``contract().staleness_s``, raise ``TooStale``.
        """
        raise NotImplementedError(
            "Projector.read is not written yet: step 07, task 4 "
            "(`cqrs-kata hint 07 4` gives a hint)"
        )


# Tasks 4 and 5: what the view promises, and what it was weighed against ---------------------


def contract() -> Contract:
    """This view's consistency contract, as ``read`` keeps it: how old an answer may be, and
    whether answers are prefixes of the log and offer read-your-writes.

    The checks read it and hold ``read`` to it. Promise what the view can keep: a projector
    that polls every second cannot keep answers 10 ms old.
    """
    raise NotImplementedError(
        "contract is not written yet: step 07, task 4 "
        "(`cqrs-kata hint 07 4` gives a hint)"
    )


def simpler() -> tuple[Considered, ...]:
    """The simpler options this view was weighed against: one ``Considered`` for each of
    ``"table+index"``, ``"inline counters"`` and ``"etl summary"``, each with a figure of that
    option from your run of step 06's bench and why it rules the option out here."""
    raise NotImplementedError(
        "simpler is not written yet: step 07, task 5 "
        "(`cqrs-kata hint 07 5` gives a hint)"
    )
