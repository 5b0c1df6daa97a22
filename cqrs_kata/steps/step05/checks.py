"""Step 05: durable and cross-process.

Every check gets its own SQLite files in a temporary folder and drives the learner's code
through :class:`cqrs_kata.db.Database`. Crashes are injected through ``db.before`` (called with
each statement's SQL before it runs): the "process" dies just before statement *k*, every later
statement fails too, and the connection is closed, which is what the database sees when a
process is killed. Checks set up what they need with plain SQL, so each task is checked on its
own code only (task 4's harness, the last check, plays everything together).
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Sequence
from functools import partial
from types import ModuleType
from typing import Any

from cqrs_kata.course.expect import expect_equal, expect_raises, fail, show
from cqrs_kata.course.structure import Step, Task
from cqrs_kata.db import (
    EVENT_TYPE,
    EVENT_VERSION,
    Database,
    DatabaseError,
    truth,
    view_counts,
)
from cqrs_kata.db.backends import BACKENDS
from cqrs_kata.steps.oracle import Counts
from cqrs_kata.steps.step05.lab import (
    VIEW,
    Clock,
    Lab,
    Tap,
    append,
    checkpoint_of,
    committing_before,
    counted_upto,
    crashed,
    dead_positions,
    ids_follow,
    lab,
    last_transaction_cuts,
    normal,
    numbered,
    poison_upto,
    refuse_outbox_inserts,
    run_tapped,
    statements_of,
    tables,
    take,
    take_within,
    valid,
)
from cqrs_kata.steps.step05.projector_process import PROJECTOR

STEP = Step(
    number="05",
    title="Durable and cross-process",
    minutes=150,
    backends=BACKENDS,
    tasks=(
        Task(
            1,
            "Record the run and its event in one transaction",
            builds=("DurableLog.record_many",),
            hints=(
                "A run and its event are two rows in two tables; if a crash can fall between "
                "the two inserts, a run can exist that no projector will ever hear of. Put "
                "every insert of the call inside one `with self.db.transaction():`, and check "
                "the whole input before it.",
                "First validate: `runs` must be a list or tuple, each item a tuple or list of "
                "two, both accepted by `validate_name` (a single pair like `('t1', 'ok')` is "
                "NOT a list of runs). Then, in one transaction: `self.db.lock_appends()`; for "
                "each run, insert into `runs` and read its id back, insert its event (with its "
                "envelope: a new `event_id`, `EVENT_TYPE`, `EVENT_VERSION`) into `outbox` and "
                "read its position back (`RETURNING id` / `RETURNING position`); "
                "`self.db.notify()` last.",
                "`checked = [(validate_name('tenant', t), validate_name('status', s)) for t, s "
                "in runs]` after the type checks; `if not checked: return []`; `with self.db."
                "transaction(): self.db.lock_appends(); for tenant, status in checked: run_id = "
                "self.db.execute('INSERT INTO runs (tenant, status) VALUES (?, ?) RETURNING "
                "id', (tenant, status)).fetchone()[0]; positions.append(self.db.execute('INSERT "
                "INTO outbox (event_id, type, version, run_id, tenant, status, recorded_at) VALUES "
                "(?, ?, ?, ?, ?, ?, ?) RETURNING position', (str(uuid.uuid4()), EVENT_TYPE, "
                "EVENT_VERSION, run_id, tenant, status, self.clock())).fetchone()[0])`, "
                "then `self.db.notify()`; return the positions.",
            ),
        ),
        Task(
            2,
            "Apply a batch and its checkpoint together",
            builds=("DurableProjector.project_batch",),
            hints=(
                "The counts and the checkpoint must commit together: one `with self.db."
                "transaction():` around reading the checkpoint, reading the events, adding the "
                "counts and moving the checkpoint. Kill the process anywhere and the view and "
                "its checkpoint are either both old or both new.",
                "Inside the transaction: read the checkpoint (no row means 0), `SELECT position, "
                "tenant, status FROM outbox WHERE position > ? ORDER BY position LIMIT ?`; "
                "return 0 if none. Events `validate_name` refuses go to `dead_letters` with the "
                "error as the reason; the others add 1 to their `counts` row (`INSERT ... ON "
                "CONFLICT (view, tenant, status) DO UPDATE SET n = counts.n + excluded.n`). Move "
                "the checkpoint with `UPDATE checkpoints SET position = ? WHERE view = ? AND "
                "position = ?` (the value you read), and raise `CheckpointMoved` if `rowcount` "
                "is not 1.",
                "Check `limit` first with `whole_number('limit', limit)` and `1 <= limit <= "
                "MAX_BATCH`. With no checkpoint row, insert one with `INSERT INTO checkpoints "
                "(view, position) VALUES (?, ?) ON CONFLICT (view) DO NOTHING` and treat "
                "`rowcount != 1` the same way. Raising inside `with self.db.transaction():` "
                "rolls everything back. Return `len(events)`: poison events are taken too.",
            ),
        ),
        Task(
            3,
            "Lag from the database",
            builds=("DurableProjector.lag",),
            hints=(
                "Everything the lag needs is in the database: the view's checkpoint row and the "
                "outbox rows after it. Keep nothing on the projector: another process moves the "
                "checkpoint.",
                "Count the outbox rows with `position > checkpoint` (COUNT, not the difference "
                "of two positions: positions can have holes), and take the `recorded_at` of the "
                "lowest position among them (not the smallest `recorded_at`: clocks of "
                "different writers disagree).",
                "One statement, so both numbers come from one snapshot (at READ COMMITTED, "
                "PostgreSQL's default, each statement sees its own): `WITH cp AS (SELECT "
                "COALESCE((SELECT position FROM checkpoints WHERE view = ?), 0) AS p) SELECT "
                "(SELECT COUNT(*) FROM outbox, cp WHERE position > cp.p), (SELECT recorded_at "
                "FROM outbox, cp WHERE position > cp.p ORDER BY position LIMIT 1)`; then "
                "`Lag(n, max(0.0, self.clock() - first))` when n and `first` is a number, else "
                "`Lag(n, 0.0)`.",
            ),
        ),
        Task(
            4,
            "Rebuild aside, swap in one transaction",
            builds=("DurableProjector.rebuild",),
            hints=(
                "Never touch the live view's rows while folding: fold into the rows of a scratch "
                "view (`self.view + '~rebuild'`), a few positions per transaction so writers and "
                "the projector keep going, and make it live in one last transaction.",
                "Clear the scratch rows and read `total = MAX(position)` first. Then, for each "
                "chunk of `every` positions, one transaction that adds the chunk's valid events "
                "to the scratch rows, followed by `on_progress(done, total)` (outside the "
                "transaction). Last transaction: fold what was recorded since, delete the live "
                "rows, rename the scratch rows to the live view, set the live checkpoint.",
                "Final transaction: `latest = MAX(position)`; fold `done + 1 .. latest` into the "
                "scratch view; `DELETE FROM counts WHERE view = ?` (live); `UPDATE counts SET "
                "view = ? WHERE view = ?` (scratch to live); `INSERT INTO checkpoints (view, "
                "position) VALUES (?, ?) ON CONFLICT (view) DO UPDATE SET position = "
                "excluded.position`. For an empty outbox call `on_progress(0, 0)` once.",
            ),
        ),
    ),
    usual_mistakes=(
        "Recording the run and publishing its event in two transactions (a dual write): a "
        "crash between them leaves a run no view will ever count.",
        "One transaction per run in record_many, or validating run by run while inserting: a "
        "bad third run leaves the first two written.",
        "Taking a single pair `('t1', 'ok')` as a list of two runs: the strings unpack into "
        "'t', '1' and 'o', 'k'.",
        "Building SQL with f-strings: a tenant named \"'); DROP TABLE runs; --\" is valid and "
        "must be stored verbatim. Always pass values as `?` parameters.",
        "Committing the counts, then the checkpoint, in two transactions: killed between them, "
        "the projector counts that batch twice when it restarts.",
        "Reading the checkpoint before the transaction, or writing it with an upsert that does "
        "not check the old value: two projectors then both take the same batch.",
        "Letting a poison event raise (stuck projector) or skipping it without a dead letter "
        "(silently dropped); or not moving the checkpoint past a batch that was all poison.",
        "Computing lag as MAX(position) - checkpoint (wrong when positions have holes) or from "
        "the smallest recorded_at instead of the lowest position's.",
        "Rebuilding in place (delete the live rows, then refold): readers on another "
        "connection see zeros and half counts meanwhile; or the whole rebuild in one "
        "transaction, which blocks every writer until it ends.",
        "Forgetting to clear the scratch view first: a rebuild that crashed before leaves "
        "counts there that are added twice.",
    ),
)


SQLITE_ONLY = ("sqlite",)
"""The checks of crashes and the fault harnesses (whose SQLite files are their own), on SQLite
only, to keep a step's check within seconds. A crash closes the connection and the database
rolls back what it did not commit, on both; on PostgreSQL they would mostly repeat what the
task's other checks run there (not quite: there the server notices a dead connection late, and
its locks can outlast it for a moment)."""

# The contract: every sentence of the docstrings the learner implements -----------------------

STEP.note("DurableLog", "The write side: records runs, each with its event, durably.")
RECORD = STEP.rule("DurableLog.record_many", "Record ``runs`` (``(tenant, status)`` pairs) in ONE "
                   "transaction; return the positions of their events, in order.")
ROWS = STEP.rule("DurableLog.record_many", "For each run, insert a row into ``runs`` and its "
                 "event into ``outbox`` (the run's id, tenant, status, and ``self.clock()`` as "
                 "``recorded_at``).")
ENVELOPE = STEP.rule("DurableLog.record_many", "Each event carries its envelope: a new "
                     "``event_id`` (``str(uuid.uuid4())``), ``EVENT_TYPE`` as ``type`` and "
                     "``EVENT_VERSION`` as ``version``.")
ATOMIC = STEP.rule("DurableLog.record_many", "All of it commits together or not at all: a crash "
                   "or an error anywhere leaves no run without its event and no event without "
                   "its run.")
LOCK_NOTIFY = STEP.rule("DurableLog.record_many", "Call ``self.db.lock_appends()`` first in the "
                        "transaction, so that events commit in position order when several "
                        "processes write (PostgreSQL), and ``self.db.notify()`` before it ends, "
                        "to wake a sleeping projector.")
RECORD_BAD = STEP.rule("DurableLog.record_many", "Check every run *before* writing anything: "
                       "``runs`` must be a list or tuple of ``(tenant, status)`` pairs that "
                       "``validate_name`` accepts; anything else raises ``TypeError`` or "
                       "``ValueError`` and writes nothing.")
RECORD_CLOCK = STEP.rule("DurableLog.record_many", "Read ``self.clock()`` before writing too: it "
                         "must return a finite number of seconds (an int or a float, not a "
                         "bool), or the call raises ``TypeError`` or ``ValueError`` and writes "
                         "nothing.")
RECORD_EMPTY = STEP.rule("DurableLog.record_many", "An empty list writes nothing and returns "
                         "``[]``.")
STEP.note("DurableProjector", "The read side: projects the outbox into one view, in the same "
          "database.")
NOTHING_OWN = STEP.rule("DurableProjector", "The projector keeps nothing of its own: the view's "
                        "counts and checkpoint are rows, so a projector killed anywhere is "
                        "replaced by a new one on the same database that carries on.")
TAKE = STEP.rule("DurableProjector.project_batch", "Take the next events after the checkpoint "
                 "into the view; return how many were taken.")
ONE_TXN = STEP.rule("DurableProjector.project_batch", "In ONE transaction: read the view's "
                    "checkpoint, read up to ``limit`` events with a greater position from "
                    "``outbox`` in position order, add each to ``counts`` (one row per view, "
                    "tenant and status, created at 1 or added to), and move the checkpoint to "
                    "the last position taken.")
ALL_OR_NONE = STEP.rule("DurableProjector.project_batch", "Either all of it commits, or none of "
                        "it: a crash anywhere before the commit leaves the view and its "
                        "checkpoint as they were, and a crash after it leaves both moved.")
STEP.note("DurableProjector.project_batch", "Positions can have holes: a PostgreSQL writer that "
          "rolls back uses up its number.")
GUARD = STEP.rule("DurableProjector.project_batch", "Move the checkpoint only from the value this "
                  "transaction read (``UPDATE checkpoints SET position = ? WHERE view = ? AND "
                  "position = ?``, or, when the view has no row yet, ``INSERT ... ON CONFLICT "
                  "(view) DO NOTHING``): when no row changes, another projector got there "
                  "first; roll back and raise ``CheckpointMoved``.")
NEVER_BOTH = STEP.rule("DurableProjector.project_batch", "Two projectors on one view can then "
                       "never both take a batch.")
POISON = STEP.rule("DurableProjector.project_batch", "An event whose tenant or status "
                   "``validate_name`` refuses (a buggy writer put it in the outbox directly) is a "
                   "poison event: instead of counting it, insert ``(view, position, reason)`` "
                   "into ``dead_letters``, the reason being ``validate_name``'s message, in the "
                   "same transaction (``ON CONFLICT (view, position) DO NOTHING``: a rebuild "
                   "may have set it aside already), and go on past it.")
DB_ERROR = STEP.rule("DurableProjector.project_batch", "Any other error (a database error: a "
                     "lost connection, a lock timeout) is not the event's fault: let it "
                     "propagate, so that the whole batch rolls back and is tried again.")
CAUGHT_UP = STEP.rule("DurableProjector.project_batch", "Return 0 when there is nothing after "
                      "the checkpoint.")
LIMIT_BAD = STEP.rule("DurableProjector.project_batch", "``limit`` must be an int from 1 to "
                      "``MAX_BATCH`` (not a bool); otherwise raise TypeError or ValueError and "
                      "change nothing.")
LAG_DB = STEP.rule("DurableProjector.lag", "How far the view is behind the outbox, read from the "
                   "database.")
LAG_WHAT = STEP.rule("DurableProjector.lag", "``events`` is how many events have a position "
                     "after the checkpoint; ``oldest_age`` is ``self.clock()`` minus the "
                     "``recorded_at`` of the first of them (the lowest position), 0.0 when there "
                     "is none or its ``recorded_at`` is not a number (a poison row), and never "
                     "below 0.0.")
ASIDE = STEP.rule("DurableProjector.rebuild", "Recompute the view from the outbox aside, then "
                  "swap it in with one transaction.")
SCRATCH = STEP.rule("DurableProjector.rebuild", "Fold the outbox into the rows of a scratch view "
                    "named ``self.view + \"~rebuild\"`` (cleared first), ``every`` positions per "
                    "transaction, calling ``on_progress(done, total)`` after each (``total`` is "
                    "the last position when the rebuild began; ``(0, 0)`` once for an empty "
                    "outbox).")
REBUILD_POISON = STEP.rule("DurableProjector.rebuild", "Poison events count for nothing there "
                           "either: set each aside in ``dead_letters`` under the live view's "
                           "name, as ``project_batch`` does.")
MEANWHILE = STEP.rule("DurableProjector.rebuild", "Readers and the projector keep using the live "
                      "view meanwhile; writers keep writing.")
SWAP = STEP.rule("DurableProjector.rebuild", "Then, in ONE transaction: fold the events recorded "
                 "since, replace the live view's counts with the scratch view's, and set the "
                 "live checkpoint to the last position folded.")
NEVER_HALF = STEP.rule("DurableProjector.rebuild", "Readers see the old view until that commit "
                       "and the new one after it, never a half-built one.")
REBUILD_BAD = STEP.rule("DurableProjector.rebuild", "``on_progress`` must be callable or None and "
                        "``every`` an int >= 1 (not a bool); otherwise raise TypeError or "
                        "ValueError before doing anything.")


# Helpers: databases, plain-SQL set-up, crashes ------------------------------------------------

# Task 1 ------------------------------------------------------------------------------------

RUNS = [("t1", "ok"), ("t2", "fail"), ("t1", "ok")]


def writer(impl: ModuleType, db: Database, now: float = 1000.0) -> Any:
    return impl.DurableLog(db, clock=Clock(now))


def pairs(db: Database) -> list[tuple[Any, ...]]:
    """Each event with its run: (position, run id, event's tenant/status, run's tenant/status)."""
    return [tuple(r) for r in db.execute(
        "SELECT o.position, o.run_id, o.tenant, o.status, o.recorded_at, r.tenant, r.status "
        "FROM outbox o LEFT JOIN runs r ON r.id = o.run_id ORDER BY o.position").fetchall()]


def orphans(db: Database) -> tuple[int, int]:
    """(runs without an event, events of the log's writers without a run)."""
    runs = db.execute("SELECT COUNT(*) FROM runs WHERE id NOT IN (SELECT run_id FROM outbox "
                      "WHERE run_id IS NOT NULL)").fetchone()[0]
    events = db.execute("SELECT COUNT(*) FROM outbox WHERE run_id IS NOT NULL AND run_id NOT IN "
                        "(SELECT id FROM runs)").fetchone()[0]
    return int(runs), int(events)


@STEP.check(task=1, backs=(RECORD, ROWS))
def records_runs_with_their_events(impl: ModuleType) -> None:
    """record_many() writes each run and its event; returns the events' positions in order"""
    with lab() as here:
        db = here.new()
        append(db, "", "ok", run=False)  # a buggy writer's row: positions run ahead of run ids
        got = writer(impl, db, 1234.5).record_many(list(RUNS))
        expect_equal("record_many([t1/ok, t2/fail, t1/ok]) after one outbox row at position 1",
                     got, [2, 3, 4], "the positions of the three new events in the outbox, in "
                     "the order given (not the run ids: they are 1, 2, 3 here)")
        expect_equal("the outbox rows afterwards, each joined with its run: (position, run_id, "
                     "tenant, status, recorded_at, run's tenant, run's status)", pairs(db)[1:],
                     [(2, 1, "t1", "ok", 1234.5, "t1", "ok"), (3, 2, "t2", "fail", 1234.5, "t2",
                      "fail"), (4, 3, "t1", "ok", 1234.5, "t1", "ok")],
                     "each event carries its run's id, tenant and status, and self.clock() as "
                     "recorded_at")
        expect_equal("runs afterwards (GROUP BY tenant, status)", truth(db),
                     {"t1": {"ok": 2}, "t2": {"fail": 1}})
        got = writer(impl, db).record_many((("t3", "ok"),))
        expect_equal("record_many(((t3, ok),)): a tuple of one pair", got, [5],
                     "a tuple of pairs is as good as a list")


@STEP.check(task=1, backs=(ENVELOPE,))
def each_event_carries_its_envelope(impl: ModuleType) -> None:
    """each event gets an event_id of its own, type EVENT_TYPE and version EVENT_VERSION"""
    with lab() as here:
        db = here.new()
        writer(impl, db).record_many(list(RUNS))
        writer(impl, db).record("t3", "ok")
        rows = [tuple(r) for r in db.execute("SELECT position, event_id, type, version FROM "
                                            "outbox ORDER BY position").fetchall()]
        expect_equal("(type, version) of each event after record_many(3 runs), then record()",
                     [(t, v) for _, _, t, v in rows], [(EVENT_TYPE, EVENT_VERSION)] * 4,
                     f"type is EVENT_TYPE ({EVENT_TYPE!r}) and version is EVENT_VERSION "
                     f"({EVENT_VERSION}), from cqrs_kata.db")
        ids = [e for _, e, _, _ in rows]
        for position, event_id, _, _ in rows:
            if not is_uuid(event_id):
                fail("record_many(3 runs), then record(); SELECT event_id FROM outbox",
                     f"the event at position {position} has event_id {show(event_id)}",
                     "a new id for every event: str(uuid.uuid4())")
        if len(set(ids)) != len(ids):
            fail("record_many(3 runs), then record(); SELECT event_id FROM outbox",
                 f"event ids {show(ids)}: the same id for two events",
                 "make a new id for each event, inside the loop: str(uuid.uuid4())")


def is_uuid(value: object) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return isinstance(value, str)


@STEP.check(task=1, backs=(RECORD_CLOCK,))
def a_clock_that_says_no_time_writes_nothing(impl: ModuleType) -> None:
    """record_many() refuses a clock that returns None, text, NaN, infinity or a bool"""
    with lab() as here:
        db = here.new()
        writer(impl, db).record("t1", "ok")
        before = tables(db)
        for value in (None, "12:00", float("nan"), float("inf"), True):
            called = f"record_many([(t1, ok)]) with a clock that returns {show(value)}"
            expect_raises(called, partial(impl.DurableLog(db, clock=lambda v=value: v)
                                          .record_many, [("t1", "ok")]), (TypeError, ValueError),
                          "an event stamped with that could never give lag() an age: refuse "
                          "it before writing, the way a bad name is refused")
            expect_equal(f"every table after {called}", tables(db), before,
                         "a refused call writes nothing")


@STEP.check(task=1, backs=(RECORD_EMPTY, RECORD_BAD))
def an_empty_list_writes_nothing(impl: ModuleType) -> None:
    """record_many([]) returns [] and writes nothing"""
    with lab() as here:
        db = here.new()
        append(db, "t1", "ok")
        before = tables(db)
        empties: list[Sequence[tuple[str, str]]] = [[], ()]
        for empty in empties:
            expect_equal(f"record_many({empty!r})", writer(impl, db).record_many(empty), [],
                         "no runs, no positions")
            expect_equal(f"every table after record_many({empty!r})", tables(db), before)


@STEP.check(task=1, backs=(ATOMIC, RECORD))
def a_failed_outbox_insert_leaves_no_run(impl: ModuleType) -> None:
    """when the outbox insert fails, no run of the call is left (no dual write)"""
    for when, runs, what in [
        (None, [("t1", "ok")], "every outbox insert fails"),
        ("t3", [("t1", "ok"), ("t2", "ok"), ("t3", "fail")],
         "only the third run's outbox insert fails"),
    ]:
        with lab() as here:
            db = here.new()
            append(db, "t0", "ok")
            refuse_outbox_inserts(db, when)
            before = tables(db)
            try:
                writer(impl, db).record_many(runs)
            except NotImplementedError:
                raise
            except Exception:
                pass
            else:
                fail(f"record_many({runs}) while {what} (a trigger)", "it returned",
                     "an error", "the event was never written, so the call failed")
            expect_equal(f"every table after record_many({runs}) failed because {what}",
                         tables(here.again(db)), before,
                         "the runs and their events commit together or not at all: a run "
                         "committed before (or without) its event is a dual write, and no view "
                         "will ever count it")


@STEP.check(task=1, backs=(ATOMIC, RECORD), backends=SQLITE_ONLY)
def a_crash_anywhere_leaves_runs_with_their_events(impl: ModuleType) -> None:
    """killed before any statement of record_many(3 runs), all or none of them survive"""
    runs = list(RUNS)

    def make(here: Lab) -> tuple[Database, Callable[[], object]]:
        db = here.new()
        append(db, "t0", "ok")
        return db, partial(writer(impl, db).record_many, runs)

    seen = statements_of(make)
    for k in range(1, len(seen) + 1):
        with lab() as here:
            db, action = make(here)
            before = tables(db)
            run_tapped(db, Tap(crash_at=k), action)
            after = crashed(here, db)
            now = tables(after)
            called = (f"record_many({runs}), killed just before statement {k} of "
                      f"{len(seen)} ({numbered(seen)})")
            expect_equal(f"(runs without an event, events without a run) after {called}",
                         orphans(after), (0, 0), "a run and its event commit together")
            if now != before:
                expect_equal(f"runs after {called}", truth(after),
                             {"t0": {"ok": 1}, "t1": {"ok": 2}, "t2": {"fail": 1}},
                             "either none of the three runs survives a crash, or all three: "
                             "the whole call is ONE transaction")


@STEP.check(task=1, backs=(LOCK_NOTIFY, RECORD))
def locks_appends_first_and_notifies_before_commit(impl: ModuleType) -> None:
    """record_many() calls lock_appends() first in its one transaction, notify() before COMMIT"""

    trail: list[str] = []
    with lab() as here:
        db = here.new()
        db.lock_appends = lambda: trail.append("lock_appends()")  # type: ignore[method-assign]
        db.notify = lambda: trail.append("notify()")  # type: ignore[method-assign]
        db.before = lambda sql: trail.append(normal(sql).split()[0])
        writer(impl, db).record_many([("t1", "ok"), ("t2", "ok")])
        db.before = None
        words: list[str] = []
        for word in trail:  # the inserts in a row, as one
            if word in ("begin", "commit", "lock_appends()", "notify()", "insert") and not (
                    word == "insert" and words[-1:] == ["insert"]):
                words.append(word)
        expect_equal("record_many([t1/ok, t2/ok]): the transaction, the inserts and the calls "
                     "to db.lock_appends() and db.notify(), in order (inserts in a row shown "
                     "once)", words, ["begin", "lock_appends()", "insert", "notify()", "commit"],
                     "one transaction; lock_appends() before the first insert, so appends "
                     "commit in position order on PostgreSQL; notify() before the commit, so a "
                     "sleeping projector wakes for it")


BAD_RUNS: list[tuple[str, object]] = [
    ("a single pair ('t1', 'ok'), not a list of pairs", ("t1", "ok")),
    ("a str", "t1 ok"),
    ("a generator of pairs", (p for p in [("t1", "ok")])),
    ("a dict", {"t1": "ok"}),
    ("a set of pairs", {("t1", "ok")}),
    ("None", None),
    ("a list holding a str of two characters", [("t1", "ok"), "ab"]),
    ("a list holding a triple", [("t1", "ok"), ("t1", "ok", "x")]),
    ("a list holding a single name", [("t1", "ok"), ("t1",)]),
    ("a list holding None", [("t1", "ok"), None]),
    ("tenant None", [("t1", "ok"), (None, "ok")]),
    ("tenant 7", [("t1", "ok"), (7, "ok")]),
    ("status b'ok'", [("t1", "ok"), ("t1", b"ok")]),
    ("tenant ''", [("t1", "ok"), ("", "ok")]),
    ("status '   '", [("t1", "ok"), ("t1", "   ")]),
    ("a 101-character tenant", [("t1", "ok"), ("x" * 101, "ok")]),
    ("a tenant with a NUL character", [("t1", "ok"), ("t\x001", "ok")]),
    ("a status with a newline", [("t1", "ok"), ("t1", "o\nk")]),
    ("a tenant with a tab", [("t1", "ok"), ("t\t1", "ok")]),
    ("a good run, then a bad one last", [("t1", "ok"), ("t2", "ok"), ("t3", "")]),
]


@STEP.check(task=1, backs=(RECORD_BAD,))
def bad_runs_write_nothing(impl: ModuleType) -> None:
    """record_many() refuses bad input with TypeError or ValueError and writes nothing"""
    with lab() as here:
        db = here.new()
        append(db, "t0", "ok")
        before = tables(db)
        log = writer(impl, db)
        for what, runs in BAD_RUNS:
            expect_raises(f"record_many({what})", partial(log.record_many, runs),
                          (TypeError, ValueError), "check every run before writing anything")
            expect_equal(f"every table after record_many({what}) was refused", tables(db),
                         before, "nothing of a refused call is written, not even the good runs "
                         "before the bad one")


@STEP.check(task=1, backs=(ROWS, RECORD))
def names_are_stored_verbatim(impl: ModuleType) -> None:
    """names that look like SQL, quotes, accents and 100 characters are stored as given"""
    names = ["'); DROP TABLE runs; --", 'say "hi"', "Zoë's tenant", "x" * 100, "%s ? ?1 :a",
             " padded "]
    with lab() as here:
        db = here.new()
        runs = [(n, "ok") for n in names] + [("t1", n) for n in names]
        got = writer(impl, db).record_many(runs)
        expect_equal(f"record_many({len(runs)} runs with names like {names[0]!r})", got,
                     list(range(1, len(runs) + 1)))
        stored = [(t, s) for _, _, t, s, _, rt, rs in pairs(db) if (t, s) == (rt, rs)]
        expect_equal("(tenant, status) of each stored event and its run", stored, runs,
                     "a name is data, passed as a ? parameter: never part of the SQL text, "
                     "never stripped or changed")


# Task 2 ------------------------------------------------------------------------------------

MIXED = [("t1", "ok"), ("t2", "fail"), ("t1", "ok"), None, ("t2", "ok"), ("t1", "fail"),
         ("t1", "ok")]
"""Seven events; None is a poison event (tenant '') at position 4."""


def filled(db: Database, events: Sequence[tuple[str, str] | None] = MIXED) -> None:
    for i, event in enumerate(events, start=1):
        if event is None:
            append(db, "", "ok", at=float(i), run=False)
        else:
            append(db, event[0], event[1], at=float(i))


def projector(impl: ModuleType, db: Database, view: str = VIEW, now: float = 1000.0) -> Any:
    return impl.DurableProjector(db, view=view, clock=Clock(now))


def caught_up(impl: ModuleType, db: Database, limit: int = 3) -> None:
    """Take batches until none is left (at most 100)."""
    p = projector(impl, db)
    for _ in range(100):
        if not p.project_batch(limit):
            return
    fail(f"project_batch({limit}) a hundred times", "it still took events",
         "0 once nothing is left after the checkpoint")


def whole(db: Database, called: str, why: str) -> None:
    """The view, as committed, is the outbox folded up to its own checkpoint; every poison
    event at or below it is dead-lettered."""
    cp = checkpoint_of(db)
    expect_equal(f"the view after {called} (its checkpoint is {cp})", view_counts(db, VIEW),
                 counted_upto(db, cp), why)
    expect_equal(f"the dead letters' positions after {called}", dead_positions(db),
                 poison_upto(db, cp), "every poison event the checkpoint passed is set aside, "
                 "once; nothing is dropped silently")


@STEP.check(task=2, backs=(TAKE, ONE_TXN, CAUGHT_UP))
def batches_follow_the_outbox(impl: ModuleType) -> None:
    """project_batch(limit) takes up to limit events in position order, and 0 when caught up"""
    with lab() as here:
        db = here.new()
        filled(db, [e for e in MIXED if e])
        p = projector(impl, db)
        for limit, taken, cp in [(2, 2, 2), (3, 3, 5), (3, 1, 6), (3, 0, 6), (1, 0, 6)]:
            called = f"project_batch({limit}) with the checkpoint at {checkpoint_of(db)}"
            expect_equal(called, p.project_batch(limit), taken,
                         "it takes the next events after the checkpoint, at most limit of them, "
                         "and returns how many (0 when nothing is left)")
            expect_equal(f"the checkpoint after {called}", checkpoint_of(db), cp,
                         "the checkpoint row moves to the last position taken")
            expect_equal(f"the view after {called}", view_counts(db, VIEW), counted_upto(db, cp),
                         "each event adds 1 to its (view, tenant, status) row")
        expect_equal("the view 'other' (never projected)", view_counts(db, "other"), {},
                     "a projector writes only its own view's rows")
        other = projector(impl, db, "other")
        expect_equal("DurableProjector(db, view='other').project_batch(10)",
                     other.project_batch(10), 6, "each view has its own checkpoint")
        expect_equal("the views 'other' and 'board' afterwards",
                     (view_counts(db, "other"), view_counts(db, VIEW)),
                     (truth(db), truth(db)), "each view counted every run once")


@STEP.check(task=2, backs=(TAKE, ONE_TXN, CAUGHT_UP))
def holes_in_the_positions_and_unordered_reads(impl: ModuleType) -> None:
    """project_batch() goes over holes in the positions, and asks for position order"""
    with lab() as here:
        db = here.new()
        filled(db, [("t1", "ok")] * 2 + [("t2", "ok")] * 4 + [("t1", "fail")] * 3)
        db.execute("DELETE FROM outbox WHERE position BETWEEN 3 AND 6")  # rolled-back writers
        # SQLite then returns the rows of a SELECT without ORDER BY in reverse: an order that
        # is not asked for is not one to rely on.
        if db.dialect == "sqlite":
            db.execute("PRAGMA reverse_unordered_selects = ON")
        p = projector(impl, db)
        for limit, taken, cp in [(2, 2, 2), (2, 2, 8), (2, 1, 9), (2, 0, 9)]:
            called = (f"project_batch({limit}) with the checkpoint at {checkpoint_of(db)}, "
                      "positions 1, 2, 7, 8, 9 in the outbox (3-6 are a hole)")
            expect_equal(called, p.project_batch(limit), taken,
                         "it takes the next events after the checkpoint, over any hole, in "
                         "position order (ORDER BY position: without it the database may "
                         "return any rows), and 0 only when none is left")
            expect_equal(f"the checkpoint after {called}", checkpoint_of(db), cp,
                         "the checkpoint is the last position taken, not the old one plus the "
                         "count")
            expect_equal(f"the view after {called}", view_counts(db, VIEW), counted_upto(db, cp),
                         "each event counted once")


@STEP.check(task=2, backs=(TAKE, ONE_TXN))
def the_default_batch_is_BATCH(impl: ModuleType) -> None:
    """project_batch() with no limit takes BATCH events at most"""
    with lab() as here:
        db = here.new()
        n = impl.BATCH + 5
        with db.transaction():
            db.executemany("INSERT INTO runs (id, tenant, status) VALUES (?, 't1', 'ok')",
                           [(i,) for i in range(1, n + 1)])
            db.executemany("INSERT INTO outbox (position, run_id, tenant, status, recorded_at) "
                           "VALUES (?, ?, 't1', 'ok', 0)", [(i, i) for i in range(1, n + 1)])
            ids_follow(db)
        p = projector(impl, db)
        expect_equal(f"project_batch() with {n} events waiting", p.project_batch(), impl.BATCH)
        expect_equal("project_batch() again", p.project_batch(), 5)
        expect_equal("the view afterwards", view_counts(db, VIEW), {"t1": {"ok": n}})


@STEP.check(task=2, backs=(ALL_OR_NONE, ONE_TXN, NOTHING_OWN), backends=SQLITE_ONLY)
def a_crash_anywhere_in_a_batch_loses_and_doubles_nothing(impl: ModuleType) -> None:
    """killed before any statement of project_batch, a new projector ends at the truth"""

    def make(here: Lab) -> tuple[Database, Callable[[], object]]:
        db = here.new()
        filled(db)
        take(db, limit=1)  # the view is at position 1; the batch takes 2..6 (4 is poison)
        return db, partial(projector(impl, db).project_batch, 5)

    seen = statements_of(make)
    for k in range(1, len(seen) + 1):
        with lab() as here:
            db, action = make(here)
            tap = Tap(crash_at=k)
            run_tapped(db, tap, action)
            db = crashed(here, db)
            called = (f"project_batch(5) at checkpoint 1, killed just before statement {k} of "
                      f"{len(seen)} ({numbered(seen)})")
            cp = checkpoint_of(db)
            if cp not in (1, 6):
                fail(f"the checkpoint after {called}", str(cp), "1 (nothing committed) or 6 "
                     "(all committed)", "the batch is one transaction")
            whole(db, called, "the counts and the checkpoint commit together: a crash leaves "
                  "both as they were or both moved, never the counts without the checkpoint")
            caught_up(impl, db)
            expect_equal(f"the view after {called}, then a new projector catching up",
                         view_counts(db, VIEW), truth(db),
                         "every run counted exactly once, whatever the moment of the crash")


KILL_POINTS = (
    "COMMIT#1",
    "COMMIT#2",
    "UPDATE checkpoints|INSERT INTO checkpoints|INSERT OR REPLACE INTO checkpoints|"
    "REPLACE INTO checkpoints|INSERT OR IGNORE INTO checkpoints#2",
    "INSERT INTO counts|UPDATE counts|INSERT OR REPLACE INTO counts|REPLACE INTO counts|"
    "INSERT OR IGNORE INTO counts#3",
    "BEGIN#3",
)
MUST_REACH = ("COMMIT#1", "COMMIT#2", "BEGIN#3")


@STEP.check(task=2, backs=(ALL_OR_NONE, NOTHING_OWN), needs=("processes",), backends=SQLITE_ONLY)
def killed_for_real_and_restarted(impl: ModuleType) -> None:
    """a projector process killed with SIGKILL at a statement, restarted, ends at the truth"""
    source = getattr(impl, "__file__", None)
    if not source:
        fail("the projector as its own process", "a module without a file",
             "a module loaded from a .py file")
    with lab() as here:
        projector(impl, here.new()).project_batch(2)  # unwritten code: "not started", here
        jobs = []
        for point in KILL_POINTS:
            db = here.new()
            filled(db)
            command = [sys.executable, "-m", PROJECTOR, here.dsn(db),
                       "--view", VIEW, "--impl", str(source), "--batch", "2",
                       "--kill-at", point, "--until-caught-up"]
            jobs.append((point, db, subprocess.Popen(
                command, cwd=here.folder, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                text=True, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})))
        for point, db, process in jobs:
            try:
                out, err = process.communicate(timeout=8)
            except subprocess.TimeoutExpired:
                process.kill()
                process.communicate()
                fail(f"python -m {PROJECTOR} ... --kill-at {point!r}",
                     "it ran for 8 s", "it to end", "7 events in batches of 2 take no time")
            called = (f"`python -m {PROJECTOR} DB --batch 2 --kill-at '{point}' "
                      "--until-caught-up` on 7 events (4 is poison)")
            if process.returncode and "NotImplementedError" in (err or ""):
                raise NotImplementedError(err.strip().splitlines()[-1])
            if process.returncode not in (0, -signal.SIGKILL):
                fail(called, f"exit status {process.returncode}: {(err or out).strip()[-300:]}",
                     "SIGKILL at the statement, or exit status 0")
            if process.returncode == 0 and point in MUST_REACH:
                fail(called, "it ended without reaching that statement",
                     "it to be killed there", "each batch of 2 is one transaction, begun "
                     "with BEGIN and ended with COMMIT (with self.db.transaction():)")
            db = here.again(db)
            killed = "killed" if process.returncode else "not killed"
            whole(db, f"{called} ({killed})", "only what a transaction committed survives "
                  "SIGKILL: the counts and the checkpoint must be in the same one")
            caught_up(impl, db, 2)
            expect_equal(f"the view after {called} ({killed}), then a new projector catching "
                         "up", view_counts(db, VIEW), truth(db),
                         "a projector killed anywhere is replaced by a new one that carries on "
                         "from the checkpoint row, counting nothing twice and missing nothing")
            expect_equal("the checkpoint and dead letters after that", (checkpoint_of(db),
                         dead_positions(db)), (7, [4]))


def other_projector(impl: ModuleType, here: Lab, db: Database, at: int
                    ) -> Callable[[int, str], None]:
    """A second projector process on the same database, with a short lock timeout, that tries
    to take one batch just before statement ``at`` (failing to get a lock is fine)."""
    second = projector(impl, here.again(db, busy_seconds=0.005))

    def cut_in(n: int, sql: str) -> None:
        if n != at:
            return
        try:
            second.project_batch(3)
        except NotImplementedError:
            raise
        except Exception:  # locked out, or CheckpointMoved: both fine
            pass

    return cut_in


@STEP.check(task=2, backs=(NEVER_BOTH, GUARD, NOTHING_OWN))
def two_projectors_never_both_take_a_batch(impl: ModuleType) -> None:
    """a second projector cutting in before any statement of a batch never makes it count twice"""

    def make(here: Lab) -> tuple[Database, Callable[[], object]]:
        db = here.new()
        filled(db)
        take(db, limit=1)
        return db, partial(projector(impl, db).project_batch, 3)

    seen = statements_of(make)
    for k in range(1, len(seen) + 1):
        with lab() as here:
            db, action = make(here)
            db.before = Tap(meanwhile=other_projector(impl, here, db, k))
            try:
                action()
            except NotImplementedError:
                raise
            except impl.CheckpointMoved:
                pass
            finally:
                db.before = None
            where = f"just before its statement {k} ({seen[k - 1][:40]})"
            called = (f"project_batch(3) at checkpoint 1 while a second projector (its own "
                      f"connection) took a batch {where}")
            whole(db, called, "a batch is taken by one projector only: read the checkpoint "
                  "inside the transaction and move it only from the value read")
            caught_up(impl, db)
            expect_equal(f"the view after {called}, then catching up", view_counts(db, VIEW),
                         truth(db), "two projectors on one view never both take a batch")


CHECKPOINT_WRITE = re.compile(r"^(insert( or \w+)? into|replace into|update( or \w+)?)\s+"
                              r"\"?checkpoints\b")


@STEP.check(task=2, backs=(GUARD, NEVER_BOTH))
def a_checkpoint_moved_meanwhile_raises_CheckpointMoved(impl: ModuleType) -> None:
    """when another projector moved the checkpoint after it was read, the batch rolls back"""
    for start in (0, 2):
        moved_meanwhile(impl, start)


def moved_meanwhile(impl: ModuleType, start: int) -> None:
    with lab() as here:
        db = here.new()
        filled(db)
        if start:
            take(db, limit=start)
        before = tables(db)
        moved: list[int] = []

        def meanwhile(n: int, sql: str) -> None:
            # Under PostgreSQL's READ COMMITTED another projector can commit between this
            # transaction's read of the checkpoint and its write; the same effect, here.
            if not moved and CHECKPOINT_WRITE.match(sql):
                db.before = None
                try:
                    moved.append(take_within(db, limit=1))
                finally:
                    db.before = tap

        tap = Tap(meanwhile=meanwhile)
        db.before = tap
        called = (f"project_batch(3) at checkpoint {start}, while another projector "
                  f"moved the checkpoint from {start} to {start + 1} between this "
                  "transaction's read of it and its write (as PostgreSQL allows)")
        try:
            got = projector(impl, db).project_batch(3)
        except NotImplementedError:
            raise
        except impl.CheckpointMoved:
            got = None
        except Exception as error:
            fail(called, f"it raised {type(error).__name__}: {error}", "CheckpointMoved",
                 "no row changed, so another projector got there first: say so with "
                 "CheckpointMoved, which a projector loop catches and tries again")
        finally:
            db.before = None
        if not moved:
            fail(f"project_batch(3) at checkpoint {start}", "no statement that writes the "
                 f"checkpoints table among: {numbered(tap.seen)}",
                 "an UPDATE (or INSERT) of checkpoints", "the checkpoint moves with the "
                 "counts")
        if got is not None:
            fail(called, f"it returned {show(got)}", "CheckpointMoved, and nothing changed",
                 "move the checkpoint only from the value this transaction read (UPDATE "
                 "... WHERE view = ? AND position = ?, or an INSERT that does nothing when "
                 "the row exists): when no row changes, roll back and raise")
        expect_equal(f"every table after {called}", tables(here.again(db)), before,
                     "the transaction is rolled back as a whole")


POISON_ROWS: list[tuple[str, object, object]] = [
    ("tenant NULL", None, "ok"),
    ("tenant ''", "", "ok"),
    ("a 200-character status", "t1", "x" * 200),
    ("tenant b't1' (a blob)", b"t1", "ok"),
    ("a tenant with a bell character", "t\x071", "ok"),
    ("status NULL", "t2", None),
    ("a status with a newline", "t2", "o\nk"),
]


def poison_rows(db: Database) -> list[tuple[str, object, object]]:
    """POISON_ROWS as ``db`` can hold them: PostgreSQL cannot keep a blob in a text column."""
    if db.dialect == "sqlite":
        return POISON_ROWS
    return [("a 101-character tenant", "x" * 101, "ok") if isinstance(tenant, bytes) else
            (what, tenant, status) for what, tenant, status in POISON_ROWS]


COUNTS_WRITE = re.compile(r"(insert( or \w+)? into|replace into|update) counts\b")


class FailsOnce:
    """``db.before``: the first statement that writes ``counts`` fails with a database error
    (a lock timeout, say); every other statement runs."""

    def __init__(self) -> None:
        self.failed = ""

    def __call__(self, sql: str) -> None:
        if not self.failed and COUNTS_WRITE.match(normal(sql)):
            self.failed = sql
            raise DatabaseError("database is locked (a simulated lock timeout); the transaction "
                                "it was in was rolled back")


@STEP.check(task=2, backs=(DB_ERROR, ALL_OR_NONE))
def a_database_error_mid_batch_changes_nothing(impl: ModuleType) -> None:
    """a database error while counting propagates and changes nothing: no count, no checkpoint"""
    with lab() as here:
        db = here.new()
        filled(db)
        before = tables(db)
        hook = FailsOnce()
        db.before = hook
        called = "project_batch() when writing counts fails once with a database error"
        try:
            projector(impl, db).project_batch()
            outcome = "it returned"
        except NotImplementedError:
            raise
        except Exception as error:
            outcome = f"it raised {type(error).__name__}"
        finally:
            db.before = None
        if not hook.failed:
            return  # counts never written: the other checks say why
        if outcome == "it returned" or tables(db) != before:
            fail(called, f"{outcome}; checkpoint {checkpoint_of(db)}, view "
                 f"{view_counts(db, VIEW)}, dead letters at {dead_positions(db)}",
                 "the error raised, and the view, its checkpoint and dead_letters as before",
                 "a database error is not the event's fault: do not catch it (nor set the "
                 "event aside as poison); let it leave the transaction, which rolls the whole "
                 "batch back, and the next call tries the batch again")
        expect_equal(f"project_batch() again, after {called}", projector(impl, db)
                     .project_batch(), len(MIXED), "the batch that failed is taken whole now")
        whole(db, f"{called}, then again", "counted once, after the retry")


@STEP.check(task=2, backs=(POISON, TAKE))
def poison_events_go_to_dead_letters(impl: ModuleType) -> None:
    """poison events are set aside in dead_letters with a reason, and the projector goes on"""
    with lab() as here:
        db = here.new()
        append(db, "t1", "ok")
        poison = poison_rows(db)
        for _, tenant, status in poison:
            append(db, tenant, status, run=False)
        append(db, "t2", "ok")
        p = projector(impl, db)
        shown = ", ".join(w for w, _, _ in poison)
        called = f"project_batch(4) twice, on t1/ok, then 7 poison events ({shown}), then t2/ok"
        got = [p.project_batch(4), p.project_batch(4), p.project_batch(4)]
        expect_equal(f"what {called}, then once more, returned", got, [4, 4, 1],
                     "a poison event is taken too (set aside, not counted): a batch of only "
                     "poison events is not 0, or a projector loop would stop there")
        expect_equal(f"the view after {called}", view_counts(db, VIEW), truth(db),
                     "poison events count for nothing")
        rows = db.execute("SELECT position, reason FROM dead_letters WHERE view = ? ORDER BY "
                          "position", (VIEW,)).fetchall()
        expect_equal(f"the dead letters' positions after {called}", [r[0] for r in rows],
                     list(range(2, 9)), "every poison event is kept aside with its position")
        for (position, reason), (what, tenant, _) in zip(rows, poison, strict=True):
            field = "status" if valid(tenant, "ok") else "tenant"
            if not isinstance(reason, str) or field not in reason:
                fail(f"the reason of dead letter {position} ({what})", show(reason),
                     f"validate_name's message, which names the {field}",
                     "whoever reads the dead letters has to know what was wrong with each")
        expect_equal(f"the checkpoint after {called}", checkpoint_of(db), 9,
                     "the projector goes on past poison events")


@STEP.check(task=2, backs=(POISON, ALL_OR_NONE))
def a_batch_of_poison_alone_moves_the_checkpoint(impl: ModuleType) -> None:
    """a batch that ends in (or is all) poison events moves the checkpoint past them"""
    with lab() as here:
        db = here.new()
        append(db, "t1", "ok")
        append(db, "", "ok", run=False)
        append(db, None, "ok", run=False)
        append(db, "t2", "ok")
        p = projector(impl, db)
        for limit, cp in [(2, 2), (1, 3), (5, 4)]:
            called = f"project_batch({limit}) at checkpoint {checkpoint_of(db)}"
            p.project_batch(limit)
            expect_equal(f"the checkpoint after {called} (positions 2 and 3 are poison)",
                         checkpoint_of(db), cp, "the checkpoint moves to the last position "
                         "taken, poison or not; otherwise the projector is stuck on it")
            whole(db, called, "poison events are dead-lettered in the batch's transaction")


BAD_LIMITS: list[object] = [0, -1, True, False, 1.5, "10", None, 2.0]


@STEP.check(task=2, backs=(LIMIT_BAD,))
def bad_limits_change_nothing(impl: ModuleType) -> None:
    """project_batch() with a bad limit raises and changes nothing"""
    with lab() as here:
        db = here.new()
        filled(db)
        take(db, limit=1)
        before = tables(db)
        p = projector(impl, db)
        for limit in [*BAD_LIMITS, impl.MAX_BATCH + 1]:
            expect_raises(f"project_batch({limit!r})", partial(p.project_batch, limit),
                          (TypeError, ValueError), f"limit is an int from 1 to MAX_BATCH "
                          f"({impl.MAX_BATCH}), not a bool")
            expect_equal(f"every table after project_batch({limit!r})", tables(db), before,
                         "a refused call changes nothing")
        expect_equal(f"project_batch({impl.MAX_BATCH}) (the largest allowed)",
                     p.project_batch(impl.MAX_BATCH), 6)


@STEP.check(task=2, backs=(NOTHING_OWN, TAKE))
def projectors_keep_nothing_of_their_own(impl: ModuleType) -> None:
    """two projector objects on one view, taking turns, count each event once"""
    with lab() as here:
        db = here.new()
        filled(db)
        a = projector(impl, db)
        b = projector(impl, here.again(db))
        for who in (a, b, a, b):
            who.project_batch(2)
        expect_equal("the view after projectors a, b, a, b (two connections) took 2 each",
                     view_counts(db, VIEW), truth(db),
                     "the checkpoint is a row: each projector reads it afresh, so neither "
                     "takes what the other took")
        db.execute("DELETE FROM counts")
        db.execute("DELETE FROM checkpoints")
        db.execute("DELETE FROM dead_letters")
        expect_equal("a.project_batch(10) after the view's rows were deleted",
                     a.project_batch(10), 7, "the view starts again from position 1; a "
                     "projector that remembers where it was would skip everything")


@STEP.check(task=2, backs=(TAKE, ONE_TXN, ALL_OR_NONE, POISON, CAUGHT_UP, NOTHING_OWN, GUARD,
                           LIMIT_BAD), backends=SQLITE_ONLY)
def fault_harness_finds_no_batch_bug(impl: ModuleType) -> None:
    """the model-based harness (writes, poison, batches, crashes, restarts) finds no bug"""
    from cqrs_kata.steps.step05 import harness  # Hypothesis: imported only when needed

    harness.check(impl, full=False)


# Task 3 ------------------------------------------------------------------------------------


def at_checkpoint(db: Database, position: int, view: str = VIEW) -> None:
    db.execute("INSERT INTO checkpoints VALUES (?, ?) ON CONFLICT (view) DO UPDATE SET "
               "position = excluded.position", (view, position))


def lag_of(p: Any) -> tuple[object, object]:
    got = p.lag()
    return getattr(got, "events", got), getattr(got, "oldest_age", got)


@STEP.check(task=3, backs=(LAG_WHAT, LAG_DB))
def lag_counts_what_is_after_the_checkpoint(impl: ModuleType) -> None:
    """lag() counts the events after the checkpoint and ages the lowest of them"""
    with lab() as here:
        db = here.new()
        for at in (10.0, 20.0, 35.0, 30.0, 50.0, 60.0):
            append(db, "t1", "ok", at=at)
        db.execute("DELETE FROM outbox WHERE position = 5")  # a relay removed it: a hole
        clock = Clock(100.0)
        p = impl.DurableProjector(db, view=VIEW, clock=clock)
        for cp, expected, why in [
            (0, (5, 90.0), "five events (positions 1-4 and 6), the first recorded at 10"),
            (2, (3, 65.0), "positions 3, 4 and 6; the lowest (3) was recorded at 35, even if "
                           "4 has an earlier recorded_at (another writer's clock)"),
            (4, (1, 40.0), "only position 6 is left (5 was removed: count rows, do not "
                           "subtract positions)"),
            (6, (0, 0.0), "caught up"),
        ]:
            at_checkpoint(db, cp)
            expect_equal(f"lag() (events, oldest_age) at checkpoint {cp}, clock at 100",
                         lag_of(p), expected, why)
        got = p.lag()
        expect_equal("type of what lag() returns", type(got).__name__, "Lag",
                     "a Lag(events, oldest_age)")
        expect_equal("type of lag().events", type(got.events).__name__, "int")
        expect_equal("type of lag().oldest_age", type(got.oldest_age).__name__, "float")
        db.execute("DELETE FROM checkpoints")
        clock.now = 110.5
        expect_equal("lag() with no checkpoint row, clock at 110.5", lag_of(p), (5, 100.5),
                     "no checkpoint row means the view has taken nothing (0)")


@STEP.check(task=3, backs=(LAG_WHAT,))
def lag_is_never_negative(impl: ModuleType) -> None:
    """lag() is 0.0 old when the oldest event is from the clock's future, and (0, 0.0) empty"""
    with lab() as here:
        db = here.new()
        p = impl.DurableProjector(db, view=VIEW, clock=Clock(100.0))
        expect_equal("lag() of an empty outbox", lag_of(p), (0, 0.0))
        append(db, "t1", "ok", at=150.0)
        expect_equal("lag() with one event recorded at 150, clock at 100", lag_of(p),
                     (1, 0.0), "another process's clock ran ahead: the age is never below 0.0")
        take(db)
        db.execute("INSERT INTO outbox (tenant, status, recorded_at) VALUES ('', 'ok', NULL)")
        append(db, "t1", "ok", at=40.0)
        expect_equal("lag() when the first event after the checkpoint is a poison row with "
                     "recorded_at NULL, and the next was recorded at 40, clock at 100",
                     lag_of(p), (2, 0.0), "a first event with no usable recorded_at has no "
                     "age to tell: 0.0, not an error (a dashboard must still show the count)")


@STEP.check(task=3, backs=(LAG_DB,))
def lag_is_read_from_the_database(impl: ModuleType) -> None:
    """lag() follows the checkpoint row and the outbox as other processes change them"""
    with lab() as here:
        db = here.new()
        other = here.again(db)
        clock = Clock(100.0)
        p = impl.DurableProjector(db, view=VIEW, clock=clock)
        q = impl.DurableProjector(other, view=VIEW, clock=clock)
        expect_equal("lag() on an empty outbox", lag_of(p), (0, 0.0))
        for at in (10.0, 20.0, 30.0):
            append(other, "t1", "ok", at=at)
        expect_equal("lag() after another connection appended 3 events (at 10, 20, 30)",
                     lag_of(p), (3, 90.0), "read the outbox each time; keep nothing")
        take(other, limit=2)
        expect_equal("lag() after another projector took 2 of them", lag_of(p), (1, 70.0),
                     "the checkpoint is a row another process moves")
        expect_equal("lag() of a second DurableProjector on its own connection", lag_of(q),
                     (1, 70.0), "the same database gives the same lag")
        expect_equal("lag() of the view 'other' (never projected)",
                     lag_of(impl.DurableProjector(db, view="other", clock=clock)), (3, 90.0),
                     "the lag is that of the projector's own view")


# Task 4 ------------------------------------------------------------------------------------


def corrupt(db: Database) -> None:
    db.execute("UPDATE counts SET n = n + 40 WHERE view = ?", (VIEW,))
    db.execute("INSERT INTO counts VALUES (?, 'ghost', 'ok', 3)", (VIEW,))


@STEP.check(task=4, backs=(ASIDE, SWAP, REBUILD_POISON))
def rebuild_repairs_the_view(impl: ModuleType) -> None:
    """rebuild() recomputes the view from the outbox and sets its checkpoint; twice is the same"""
    with lab() as here:
        db = here.new()
        filled(db)
        take(db, limit=3)
        corrupt(db)
        p = projector(impl, db)
        for called in ("rebuild() of a corrupted view", "rebuild() again"):
            p.rebuild()
            expect_equal(f"the view after {called}", view_counts(db, VIEW), truth(db),
                         "the view is the outbox folded again, poison events left out")
            expect_equal(f"the checkpoint after {called}", checkpoint_of(db), 7,
                         "the live checkpoint is the last position folded, so the projector "
                         "takes nothing twice afterwards")
            whole(db, called, "the rebuilt view is the outbox folded, and the poison event "
                  "at position 4 that the rebuild passed is set aside in dead_letters")
        expect_equal("the view 'board~rebuild' after the rebuilds", view_counts(db, VIEW +
                     "~rebuild"), {}, "the scratch rows became the live view's")
        expect_equal("the view 'other' after rebuilding 'board'", view_counts(db, "other"), {},
                     "a rebuild touches only its own view")


@STEP.check(task=4, backs=(NEVER_HALF, MEANWHILE, ASIDE, SCRATCH))
def readers_see_the_old_view_until_the_swap(impl: ModuleType) -> None:
    """during rebuild(), a reader on another connection sees the old view, whole"""
    with lab() as here:
        db = here.new()
        filled(db)
        take(db, limit=5)
        corrupt(db)
        reader = here.again(db)
        old = (view_counts(reader, VIEW), checkpoint_of(reader))
        seen: list[tuple[int, int, object]] = []
        p = projector(impl, db)
        p.rebuild(lambda done, total: seen.append((done, total, (view_counts(reader, VIEW),
                                                                 checkpoint_of(reader)))),
                  every=1)
        if not seen:
            fail("rebuild(on_progress=reader, every=1)", "on_progress was never called",
                 "a call after each position", "the reader looks from on_progress")
        for done, total, view in seen:
            expect_equal(f"(view, checkpoint) a reader on another connection sees at "
                         f"on_progress({done}, {total})", view, old,
                         "fold into the scratch view; the live rows change only in the last "
                         "transaction, so readers never see zeros or half the counts")
        expect_equal("the view after rebuild()", view_counts(reader, VIEW), truth(db))


@STEP.check(task=4, backs=(SCRATCH,))
def the_scratch_view_holds_the_fold_so_far(impl: ModuleType) -> None:
    """the scratch view is cleared first and holds positions 1..done at each progress call"""
    with lab() as here:
        db = here.new()
        filled(db)
        db.execute("INSERT INTO counts VALUES (?, 't1', 'ok', 500)", (VIEW + "~rebuild",))
        reader = here.again(db)
        seen: list[tuple[int, Counts, Counts]] = []
        projector(impl, db).rebuild(lambda done, total: seen.append(
            (done, view_counts(reader, VIEW + "~rebuild"), counted_upto(reader, done))), every=3)
        for done, got, expected in seen:
            expect_equal(f"the view 'board~rebuild' at on_progress({done}, 7), every=3, when a "
                         "crashed rebuild had left t1/ok = 500 there", got, expected,
                         "clear the scratch view first, then fold `every` positions per "
                         "committed transaction into it")
        expect_equal("the view after that rebuild", view_counts(db, VIEW), truth(db))


@STEP.check(task=4, backs=(MEANWHILE, SWAP))
def writes_and_batches_during_a_rebuild_count_once(impl: ModuleType) -> None:
    """runs recorded and projected (other connections) while rebuild() runs count once"""
    with lab() as here:
        db = here.new()
        filled(db)
        take(db)
        writer_db = here.again(db, busy_seconds=1.0)
        live = here.again(db, busy_seconds=1.0)
        late: list[int] = []

        def meanwhile(done: int, total: int) -> None:
            if done in (2, 5):
                try:
                    late.append(append(writer_db, "t3", "late", at=9.0))
                    take(live, limit=1)
                except Exception as error:
                    fail(f"rebuild(every=1): at on_progress({done}, {total}), another "
                         "connection recorded a run and another projector took a batch",
                         f"{type(error).__name__}: {error}", "both to succeed",
                         "fold `every` positions per transaction and call on_progress after "
                         "each commit: writers and the projector keep going meanwhile")

        projector(impl, db).rebuild(meanwhile, every=1)
        expect_equal("positions recorded during the rebuild", late, [8, 9])
        expect_equal("the view after a rebuild during which positions 8 and 9 were recorded "
                     "and the live projector took them", view_counts(db, VIEW), truth(db),
                     "the last transaction folds what was recorded since the rebuild began; "
                     "each run is counted once")
        expect_equal("the checkpoint after that rebuild", checkpoint_of(db), 9)
        expect_equal("what a projector then takes", take(db), 0, "nothing is left")


@STEP.check(task=4, backs=(SWAP, MEANWHILE))
def a_run_committed_during_the_swap_counts_once(impl: ModuleType) -> None:
    """a run committed by another connection during rebuild()'s last transaction counts once"""

    def make(here: Lab) -> tuple[Database, Callable[[], object]]:
        db = here.new()
        filled(db)
        take(db)
        return db, partial(projector(impl, db).rebuild, every=3)

    seen = statements_of(make)
    for k in last_transaction_cuts(seen):
        with lab() as here:
            db, action = make(here)
            run_tapped(db, committing_before(here, db, k, partial(append, tenant="t9",
                                                                   status="late", at=9.0)),
                       action)
            caught_up(impl, db)
            called = (f"rebuild(every=3) while another connection committed a run (t9/late) "
                      f"just before statement {k} ({seen[k - 1][:50]!r}) of its last "
                      "transaction, then a projector catching up")
            expect_equal(f"the view after {called}", view_counts(db, VIEW), truth(db),
                         "fold exactly the positions up to the MAX(position) the last "
                         "transaction read (position > done AND position <= latest), and set "
                         "the checkpoint to that: under PostgreSQL's READ COMMITTED a run "
                         "committed after that read is seen by the next statement, and it is "
                         "the projector's to count, after the checkpoint")


def progress_of(p: Any, every: int) -> list[tuple[int, int]]:
    calls: list[tuple[int, int]] = []
    p.rebuild(lambda done, total: calls.append((done, total)), every=every)
    return calls


@STEP.check(task=4, backs=(SCRATCH,))
def progress_is_reported_as_documented(impl: ModuleType) -> None:
    """rebuild() calls on_progress(done, total) after each `every` positions"""
    for events, every, expected in [
        (5, 2, [(2, 5), (4, 5), (5, 5)]),
        (4, 2, [(2, 4), (4, 4)]),
        (3, 10, [(3, 3)]),
        (0, 3, [(0, 0)]),
    ]:
        with lab() as here:
            db = here.new()
            for _ in range(events):
                append(db, "t1", "ok")
            calls = progress_of(projector(impl, db), every)
            expect_equal(f"the on_progress calls of rebuild(on_progress, every={every}) with "
                         f"{events} events", calls, expected,
                         "after each transaction of `every` positions, and once for an empty "
                         "outbox")
    with lab() as here:
        db = here.new()
        for _ in range(6):
            append(db, "t1", "ok")
        db.execute("DELETE FROM outbox WHERE position IN (2, 3, 6)")
        calls = progress_of(projector(impl, db), 2)
        expect_equal("the on_progress calls of rebuild(on_progress, every=2) with events at "
                     "positions 1, 4 and 5", calls, [(2, 5), (4, 5), (5, 5)],
                     "done and total are positions (the last one is 5), not numbers of events")


@STEP.check(task=4, backs=(NEVER_HALF, SWAP, ASIDE), backends=SQLITE_ONLY)
def a_crash_anywhere_in_a_rebuild_leaves_a_whole_view(impl: ModuleType) -> None:
    """killed before any statement of rebuild(), the live view is the old one or the new one"""

    def make(here: Lab) -> tuple[Database, Callable[[], object]]:
        db = here.new()
        filled(db)
        take(db, limit=3)
        return db, partial(projector(impl, db).rebuild, None, 2)

    seen = statements_of(make)
    for k in range(1, len(seen) + 1):
        with lab() as here:
            db, action = make(here)
            run_tapped(db, Tap(crash_at=k), action)
            db = crashed(here, db)
            called = (f"rebuild(every=2) of a view at checkpoint 3, killed just before "
                      f"statement {k} of {len(seen)}")
            got = (view_counts(db, VIEW), checkpoint_of(db))
            if got not in ((counted_upto(db, 3), 3), (truth(db), 7)):
                fail(f"(view, checkpoint) after {called}", show(got),
                     f"the old view {show((counted_upto(db, 3), 3))} or the new one "
                     f"{show((truth(db), 7))}", "the swap is ONE transaction: a crash "
                     f"leaves the old view or the new one, never a half-built one. The "
                     f"statements: {numbered(seen)}")
            projector(impl, db).rebuild(None, 2)
            expect_equal(f"the view after {called}, then rebuild(every=2) again",
                         (view_counts(db, VIEW), checkpoint_of(db)), (truth(db), 7),
                         "a rebuild clears the scratch view first, so what a crashed one left "
                         "there is not counted again")


@STEP.check(task=4, backs=(REBUILD_BAD,))
def bad_rebuild_arguments_change_nothing(impl: ModuleType) -> None:
    """rebuild() with a bad argument raises before doing anything"""
    with lab() as here:
        db = here.new()
        filled(db)
        take(db, limit=3)
        corrupt(db)
        db.execute("INSERT INTO counts VALUES (?, 't1', 'ok', 500)", (VIEW + "~rebuild",))
        before = tables(db)
        p = projector(impl, db)
        for called, action in [
            ("rebuild(on_progress=42)", partial(p.rebuild, 42)),
            ("rebuild(on_progress='print')", partial(p.rebuild, "print")),
            ("rebuild(every=0)", partial(p.rebuild, None, 0)),
            ("rebuild(every=-2)", partial(p.rebuild, None, -2)),
            ("rebuild(every='10')", partial(p.rebuild, None, "10")),
            ("rebuild(every=True)", partial(p.rebuild, None, True)),
            ("rebuild(every=1.5)", partial(p.rebuild, None, 1.5)),
            ("rebuild(every=None)", partial(p.rebuild, None, None)),
        ]:
            expect_raises(called, action, (TypeError, ValueError),
                          "check the arguments before doing anything")
            expect_equal(f"every table after {called}", tables(db), before,
                         "a refused rebuild changes nothing, not even the scratch view")


@STEP.check(task=4, backs=(ASIDE, SWAP, NEVER_HALF, REBUILD_POISON, MEANWHILE),
            backends=SQLITE_ONLY)
def fault_harness_finds_no_bug(impl: ModuleType) -> None:
    """the model-based harness, records, lag and rebuilds included, finds no bug"""
    from cqrs_kata.steps.step05 import harness  # Hypothesis: imported only when needed

    harness.check(impl, full=True)
