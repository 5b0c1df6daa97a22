"""Step 07, the capstone: one view of runs whose status changes, built to the checklist.

The checks run on the lab of step 05 (SQLite files, or schemas of the checks' PostgreSQL
database), with histories written by the checks' own correct writer, old-shape and poison rows
included, and compared with a plain model (``model``) written from the docstrings: the counts
a view at a checkpoint holds, and the alerts the log crosses. Task 3's fault harness
(``cqrs_kata.steps.faults``) plays crashes, replays, a second projector and rebuilds against
the same model.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Callable
from functools import partial
from types import ModuleType
from typing import Any

from cqrs_kata.course.expect import expect_equal, expect_raises, fail, show
from cqrs_kata.course.structure import Step, Task
from cqrs_kata.db import Database
from cqrs_kata.db.backends import BACKENDS
from cqrs_kata.steps.step05.lab import (
    Clock,
    Lab,
    Tap,
    committing_before,
    crashed,
    cut_points,
    lab,
    last_transaction_cuts,
    run_tapped,
    statements_of,
)
from cqrs_kata.steps.step07 import model
from cqrs_kata.steps.step07.model import NAME, Row

STEP = Step(
    number="07",
    title="The capstone: a view whose facts change",
    minutes=130,
    backends=BACKENDS,
    tasks=(
        Task(
            1,
            "Separate roles: decide from the write model",
            builds=("Runs.finish",),
            hints=(
                "`start` is written: read it. `finish` refuses a bad `run_id` or `status` "
                "before anything else, reads the clock, then opens ONE transaction in which "
                "the write model decides: a run finishes only if `runs` says it is started. "
                "Never look at `counts`: the view may be behind, or rebuilding.",
                "Decide and move in one statement: `UPDATE runs SET status = ? WHERE id = ? "
                "AND status = 'started' RETURNING tenant`. A SELECT first, then an UPDATE, "
                "lets two callers both see `started` on PostgreSQL, and both write a "
                "`run.finished` event.",
                "No row back: `SELECT status FROM runs WHERE id = ?` to say why (None: unknown; "
                "else finished as that), raise `MoveRefused` (the `with` rolls back). A row "
                "back: `return Receipt(run_id, self._append(RUN_FINISHED, run_id, tenant, "
                "status, now))`.",
            ),
        ),
        Task(
            2,
            "Rebuildable: upcast, move counts, rebuild aside",
            builds=("upcast", "apply", "Projector.rebuild"),
            hints=(
                "`upcast` is plain Python on one `Event`: version first (above `VERSION`: "
                "`UnknownVersion`; 1 without a tenant: the same event with `LEGACY_TENANT` "
                "and version 2), then the checks. `apply` runs two upserts for a finish, one "
                "for a start. `rebuild` is `take` in a loop into a version of its own, then one "
                "switching transaction.",
                "In `apply`, `RETURNING n` on the upsert gives the count after the move: a "
                "`fail` whose new count `% ALERT_AT == 0` crossed a threshold; insert its "
                "`alert_key(tenant, n)` into `effects` with `ON CONFLICT (key) DO NOTHING`. "
                "Never `alert_key` of the view's name: a rebuild would fire it again.",
                "`rebuild`: `new = self.version(version)`; refuse the live one; one transaction "
                "deletes `new`'s counts, checkpoint and dead letters; `while True: with "
                "db.transaction(): if self.take(new, every) < every: break`; then one "
                "transaction: the checkpoint upsert that holds `self.live()` (`INSERT INTO "
                "checkpoints (view, position) VALUES (?, 0) ON CONFLICT (view) DO UPDATE SET "
                "position = checkpoints.position`), `while self.take(new, every): pass`, and "
                "the `live_views` upsert.",
            ),
        ),
        Task(
            3,
            "Idempotent: one alert per crossing, resent safely",
            builds=("Projector.send_alerts",),
            hints=(
                "The ledger row was written with the counts, in the batch's transaction: it is "
                "there exactly when the crossing was taken, by any version. Sending is what "
                "happens after: read the unsent rows, hand each on, mark it sent.",
                "Hand on first, then mark: a crash in between hands it on again, with the same "
                "key, which the receiver drops. Marking first loses the alert when the process "
                "dies before `send` runs: at-most-once, not effectively-once.",
                "`SELECT key, tenant, fails FROM effects WHERE sent_at IS NULL ORDER BY "
                "position, key`; for each: `send(Alert(key, tenant, int(fails)))`, then `with "
                "db.transaction(): UPDATE effects SET sent_at = ? WHERE key = ?`. Return how "
                "many were handed on. Check `callable(send)` first.",
            ),
        ),
        Task(
            4,
            "Consistency documented: the contract, kept",
            builds=("contract", "Projector.read"),
            hints=(
                "`contract()` returns a `Contract`: the view is one log folded in order with "
                "one checkpoint, so its answers are prefixes and can wait for a position. Pick "
                "a `staleness_s` your projector can keep (a few seconds is plenty here).",
                "`read` must not read the counts and the checkpoint in two statements at READ "
                "COMMITTED: a batch or a switch committing between them pairs one position's "
                "counts with another's checkpoint (a REPEATABLE READ transaction would give one "
                "snapshot too; one statement does it on both databases). One statement, with "
                "`WITH` or subqueries: the live version, its checkpoint, the counts, and the "
                "first untaken event's `recorded_at`.",
                "Then: `position < after` raises `NotCaughtUp`, `age > "
                "contract().staleness_s` raises `TooStale`, else `Reading({status: n}, "
                "position, age)`. A tenant with no counts still gets the row of the checkpoint "
                "(a LEFT JOIN from it).",
            ),
        ),
        Task(
            5,
            "Simpler considered, with a measured number",
            builds=("simpler",),
            hints=(
                "Run step 06's bench (`cqrs-kata bench`, or notebook 06) and look at the "
                "figures of `table+index`, `inline counters` and `etl summary`.",
                "For each, name the figure that weighs against it here (`read_mean_s`, "
                "`write_s`, `staleness_s` or `refresh_s`), its value in seconds, and a "
                "sentence on why: what this view needs (moves, alerts once, rebuilds aside) "
                "that the option cannot give at that cost.",
                "Return a tuple of three `Considered(option, figure, measured, why)`, one per "
                "option. Inline counters are often the honest runner-up: say what would make "
                "you pick them.",
            ),
        ),
    ),
    usual_mistakes=(
        "Deciding a move with a SELECT, then an UPDATE without the condition: on PostgreSQL two "
        "finishes of one run both pass and write two events.",
        "Upcasting every event without a tenant to the legacy tenant, whatever its version: a "
        "version 2 event without a tenant is poison, not history.",
        "Setting aside (or skipping) an event of an unknown newer version: the events after it "
        "are then counted without it (a finish without its start). Stop, and deploy readers of "
        "a new version before any writer writes it.",
        "Keeping runs in step from apply, or deleting or marking taken events in outbox as a "
        "queue's consumer would: runs is the command side's alone, and every view and rebuild "
        "reads outbox from its own checkpoint (a consumer's progress is its checkpoint, not a "
        "flag on the row). Pruning the log, if ever, is a separate job that archives first.",
        "Sending the alert from apply, inside the batch's transaction: the batch holds its "
        "checkpoint's row lock while the receiver answers, so a slow receiver stalls the view "
        "and a failing one stops it; and a batch that then rolls back (on UnknownVersion, a "
        "database error) has announced crossings the view never recorded.",
        "An idempotency key made with uuid4() or the view version's name: a rebuild makes new "
        "keys and fires every alert again.",
        "Rebuilding into the live version (clearing it first): readers see it half-built.",
        "Holding the log still for the switch with db.lock_appends() (LOCK TABLE outbox): on "
        "PostgreSQL every command then waits for the switch. Hold the live version's "
        "checkpoint row instead: only its projector waits (on SQLite every writer waits for "
        "each of these transactions anyway).",
        "Reading the checkpoint and the counts in two statements: a batch committing between "
        "them pairs the wrong position with the counts.",
    ),
)


# The contract: every sentence of the docstrings the learner implements -----------------------

STEP.note("Runs", "The command side: decides every move from the write model (``runs``), and "
          "writes the move and its event in one transaction.")
NEVER_VIEW = STEP.rule("Runs", "It never reads a view.")
FINISH = STEP.rule("Runs.finish", "Finish run ``run_id`` as ``status``; return the run's id and "
                   "its event's position.")
FINISH_INPUT = STEP.rule(
    "Runs.finish", "Check first, before writing anything: ``run_id`` must be an int of 1 or more "
    "(not a bool) and ``status`` one of ``FINAL``; otherwise raise ``TypeError`` or "
    "``ValueError``. Read the clock first too, as ``start`` does.")
DECIDE = STEP.rule(
    "Runs.finish", "Then, in ONE transaction, decide from the write model and write the move: "
    "``UPDATE runs SET status = ? WHERE id = ? AND status = 'started' RETURNING tenant``. "
    "Otherwise append the ``run.finished`` event with ``self._append``, after the UPDATE.")
REFUSED = STEP.rule(
    "Runs.finish", "No row back means the move is not allowed: raise ``MoveRefused``, saying "
    "whether the run is unknown or already finished (and as what), and write nothing.")
RACE = STEP.rule(
    "Runs.finish", "The condition in the UPDATE decides: two callers finishing one run at once "
    "both pass a check made by an earlier SELECT (on PostgreSQL, at READ COMMITTED), but only "
    "one UPDATE finds the run still started; the other waits for its commit, then finds none.")
NOT_VIEW = STEP.rule("Runs.finish", "Never read a view to decide: it may be behind, or "
                     "rebuilding.")

UPCAST = STEP.rule("upcast", "``event`` in the current shape (``VERSION``), or an error saying "
                   "why it cannot be taken. A version 2 event is returned as it is, once "
                   "checked.")
V1 = STEP.rule("upcast", "A version 1 event has no tenant (its ``tenant`` is None): return it "
               "with ``tenant`` set to ``LEGACY_TENANT`` and ``version`` set to 2. A version 1 "
               "event that has a tenant was not written by the first release: refuse it as "
               "poison.")
NEWER = STEP.rule(
    "upcast", "A version above ``VERSION`` was written by a newer release: raise "
    "``UnknownVersion``. Do not guess its meaning, and do not set it aside: ``project_batch`` "
    "lets the error out, the batch rolls back, and the view waits for the code that reads it.")
POISON_RULE = STEP.rule(
    "upcast", "Look at the version first, whatever the other fields hold: it must be an int "
    "(not a bool) of 1 or more, and only then is it compared with ``VERSION``. Checked after "
    "upcasting: ``type`` ``RUN_STARTED`` with status ``STARTED``, or ``RUN_FINISHED`` with a "
    "status in ``FINAL``; ``run_id`` an int of 1 or more; ``tenant`` a name ``validate_name`` "
    "accepts. Otherwise raise ``TypeError`` or ``ValueError`` (a poison event: "
    "``project_batch`` sets it aside as a dead letter, with your message as the reason).")
PURE = STEP.rule("upcast", "Pure: no database, no clock, no state. The same row upcasts the "
                 "same way today and in a rebuild years from now.")

IN_TXN = STEP.rule("apply", "Take one upcast event into ``view``, inside the transaction the "
                   "caller opened (never open, commit or roll back one here).")
MOVE = STEP.rule(
    "apply", "``run.started``: add 1 to ``(view, tenant, 'started')``. ``run.finished``: take 1 "
    "from ``(view, tenant, 'started')`` and add 1 to ``(view, tenant, status)``: the run's count "
    "moves from one bucket to the other. Add with ``INSERT INTO counts (view, tenant, status, "
    "n) VALUES (?, ?, ?, ?) ON CONFLICT (view, tenant, status) DO UPDATE SET n = counts.n + "
    "excluded.n``, ``n`` being 1 or -1.")
LEDGER = STEP.rule(
    "apply", "A ``fail`` that brings the tenant's failures in ``view`` to a multiple of "
    "``ALERT_AT`` crosses a threshold: record its alert in the effects ledger, in this same "
    "transaction, ``INSERT INTO effects (key, tenant, fails, position) VALUES (?, ?, ?, ?) ON "
    "CONFLICT (key) DO NOTHING``, with ``alert_key(tenant, fails)`` as the key and the event's "
    "position.")
NO_SEND = STEP.rule("apply", "Do not send anything here: a rolled-back transaction cannot take "
                    "back a message.")
SAME_KEY = STEP.rule(
    "apply", "A replay, a rebuild into another version and a second projector cross the same "
    "thresholds at the same events, so they find the key there already and add nothing.")

STEP.note("apply", "(That holds because every version folds with this same code: a version "
          "whose rules changed would cross other thresholds over old history, and must not "
          "record effects for what the live one took.) Counts move without looking at the run: a "
          "start set aside as a dead letter leaves its finish taking ``started`` to -1.",
          "In a view that moves counts, a dead letter breaks the counts until it is repaired "
          "and the view rebuilt: alarm on any bucket below 0.")
STEP.note("Projector.rebuild", "Run one rebuild of a view at a time (from one scheduler): the "
          "live version is checked once, before the work, and two rebuilds at once could switch "
          "under each other.")

STEP.note("Projector", "The read side: keeps the versions of the view named ``name`` from the "
          "log, hands the ledger's alerts on, and answers readers from the live version.")
NEVER_WRITES = STEP.rule(
    "Projector", "It never writes the command side's tables: no statement of it, or of "
    "``apply``, inserts, updates or deletes a row of ``runs`` (the write model) or ``outbox`` "
    "(the log).")
STEP.note("Projector", "A reaction that should change a run sends a command (``Runs.finish``) "
          "instead.")
REBUILD = STEP.rule(
    "Projector.rebuild", "Build version ``version`` of the view aside, from the whole log, then "
    "make it the live one in one step; return its name (``self.version(version)``).")
REBUILD_INPUT = STEP.rule(
    "Projector.rebuild", "``version`` must not be the live one (``ValueError``): readers are "
    "reading it. ``every`` is as ``take``'s ``limit``; check both before doing anything.")
CLEAR = STEP.rule(
    "Projector.rebuild", "First, in one transaction, clear the new version: its counts, "
    "checkpoint and dead letters (a rebuild that died halfway left some).")
ASIDE = STEP.rule(
    "Projector.rebuild", "Then fold the log into it with ``self.take(new, every)``, one "
    "transaction per call, until a call takes fewer than ``every``. Readers and the live "
    "projector carry on with the live version meanwhile.")
SWITCH = STEP.rule(
    "Projector.rebuild",
    "Then, in ONE transaction: hold the live version still (``INSERT INTO checkpoints "
    "(view, position) VALUES (?, 0) ON CONFLICT (view) DO UPDATE SET position = "
    "checkpoints.position`` with the live version: it locks that checkpoint's row, or "
    "inserts the row when there is none yet, so the live projector's next move of it waits "
    "for this commit), take every event left into the new version (``take`` until it returns "
    "0), and point ``live_views`` at it (``INSERT ... ON CONFLICT (name) DO UPDATE SET view = "
    "excluded.view``). Readers see the old version until that commit and the new one after "
    "it: never a half-built one, and never one that has taken fewer events than the one they "
    "saw before.")
STEP.note("Projector.rebuild", "A live projector that was waiting then goes on: it may commit "
          "one last batch into the version just retired, which nobody reads, or fail with "
          "``CheckpointMoved``.")
NOT_AGAIN = STEP.rule(
    "Projector.rebuild", "The new version crosses the same thresholds at the same events as the "
    "old one did: their alerts' keys are in the ledger already, so nothing is sent again.")

SEND = STEP.rule(
    "Projector.send_alerts", "Hand each alert of the ledger not sent yet to ``send``, in "
    "position order (then by key); return how many were handed on. For each: call "
    "``send(Alert(key, tenant, fails))``, then mark it sent (``UPDATE effects SET sent_at = ? "
    "WHERE key = ?``, with ``self.clock()``) in a transaction of its own.")
RESEND = STEP.rule(
    "Projector.send_alerts", "A crash between the two hands it on again at the next call, with "
    "the same key: the receiver drops a key it has already taken (that is what the key is "
    "for).")
SEND_FAILS = STEP.rule(
    "Projector.send_alerts", "When ``send`` raises, let the error out: that alert and the ones "
    "after it stay unsent, for the next call.")
SEND_INPUT = STEP.rule("Projector.send_alerts", "``send`` must be callable (else ``TypeError``, "
                       "before anything is sent).")

CONTRACT = STEP.rule(
    "contract", "This view's consistency contract, as ``read`` keeps it: how old an answer may "
    "be, and whether answers are prefixes of the log and offer read-your-writes. Promise what "
    "the view can keep: a projector that polls every second cannot keep answers 10 ms old.")
STEP.note("contract", "The checks read it and hold ``read`` to it.")

READ = STEP.rule("Projector.read", "``tenant``'s counts in the live version, the position they "
                 "are as of, and their age, held to ``contract()``.")
ONE_STATEMENT = STEP.rule(
    "Projector.read", "In ONE statement (a batch or a switch may commit meanwhile, and on "
    "PostgreSQL at READ COMMITTED, the default, each statement sees the database as of its "
    "own start): the live version "
    "(``live_views``, else version 1), its checkpoint (0 without one), the tenant's counts "
    "there that are not 0, and the ``recorded_at`` of the first event after that checkpoint.")
AGE = STEP.rule("Projector.read", "``age`` is ``self.clock()`` minus that ``recorded_at``, "
                "never below 0.0; 0.0 when the view has taken every event.")
READ_INPUT = STEP.rule(
    "Projector.read", "``tenant`` must be a name ``validate_name`` accepts and ``after`` an int "
    "of 0 or more (not a bool), the clock a finite number of seconds; otherwise raise "
    "``TypeError`` or ``ValueError``.")
HELD = STEP.rule("Projector.read", "When the checkpoint is below ``after``, raise "
                 "``NotCaughtUp``; when ``age`` is above ``contract().staleness_s``, raise "
                 "``TooStale``.")

SIMPLER = STEP.rule(
    "simpler", "The simpler options this view was weighed against: one ``Considered`` for each "
    "of ``\"table+index\"``, ``\"inline counters\"`` and ``\"etl summary\"``, each with a "
    "figure of that option from your run of step 06's bench and why it rules the option out "
    "here.")


# Set-ups ---------------------------------------------------------------------------------

SQLITE_ONLY = ("sqlite",)
"""The checks that kill a process at every statement, on SQLite only, as step 05's: a crash
closes the connection and both databases roll back what it did not commit, so on PostgreSQL
they would repeat, slowly, what they show on SQLite. The races, which differ, run on both."""

VIEW_TABLES = ("counts", "checkpoints", "dead_letters", "live_views", "effects")
LOG_TABLES = ("runs", "outbox")
ALL_TABLES = (*LOG_TABLES, *VIEW_TABLES)


def fresh(impl: ModuleType, here: Lab) -> Database:
    """A new database with step 05's tables and the capstone's (the learner's given prepare)."""
    db = here.new()
    impl.prepare(db)
    return db


def projector(impl: ModuleType, db: Database, clock: Callable[[], float] | None = None) -> Any:
    return impl.Projector(db, name=NAME, clock=clock or Clock(0.0))  # before every event: age 0


def tables(db: Database, names: tuple[str, ...] = ALL_TABLES) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of the capstone's tables (or of ``names``), sorted: to compare before and
    after."""
    return {name: sorted((tuple(r) for r in db.execute(f"SELECT * FROM {name}").fetchall()),
                         key=repr) for name in names}


def mentions(seen: list[str], names: tuple[str, ...]) -> list[str]:
    return [sql for sql in seen
            if any(name in sql.replace("(", " ").replace(",", " ").split() for name in names)]


def caught_up(impl: ModuleType, db: Database) -> None:
    p = projector(impl, db)
    while p.project_batch(7):
        pass


def in_transaction(seen: list[str]) -> bool:
    """Whether the statements ``seen`` (a ``Tap``'s) leave a transaction open."""
    state = False
    for sql in seen:
        if sql.startswith("begin"):
            state = True
        elif sql.startswith(("commit", "rollback")):
            state = False
    return state


def receiver() -> tuple[list[Any], Callable[[Any], None]]:
    got: list[Any] = []
    return got, got.append


def alerts_expected(impl: ModuleType, view: model.Folded) -> list[tuple[str, str, int]]:
    """``(key, tenant, fails)`` of each crossing, in the order the ledger hands them on."""
    ordered = sorted(view.crossings.items(), key=lambda kv: (kv[1], impl.alert_key(*kv[0])))
    return [(impl.alert_key(t, f), t, f) for (t, f), _ in ordered]


def as_sent(alerts: list[Any]) -> list[tuple[object, object, object]]:
    return [(getattr(a, "key", a), getattr(a, "tenant", None), getattr(a, "fails", None))
            for a in alerts]


# Task 1: the command side -------------------------------------------------------------------


@STEP.check(task=1, backs=(FINISH, DECIDE))
def finish_moves_the_run_and_writes_its_event(impl: ModuleType) -> None:
    """finish() moves a started run in `runs` and appends its run.finished event, v2"""
    with lab() as here:
        db = fresh(impl, here)
        clock = Clock(500.0)
        runs = impl.Runs(db, clock=clock)
        ids = [model.start(db, t, 1.0) for t in ("acme", "globex", "acme")]
        for run_id, status in zip(ids, ("ok", "fail", "cancelled"), strict=True):
            clock.now += 1
            before = model.log(db)[-1][0]
            tap = Tap()
            db.before = tap
            try:
                receipt = runs.finish(run_id, status)
            finally:
                db.before = None
            called = f"Runs(db).finish({run_id}, {status!r}) on a run started for a tenant"
            order = [sql for sql in tap.seen if sql.startswith(
                ("update runs", "insert into outbox", "lock table outbox"))]
            if order and not order[0].startswith("update runs"):
                fail(f"{called}, statements traced", show(order[0]),
                     "the UPDATE of runs first, then the event (self._append)",
                     "append after the UPDATE: on PostgreSQL the append locks the outbox, and "
                     "a finish holding that lock while it waits for the run's row makes every "
                     "command wait behind it, or deadlocks with one that moved the run first")
            rows = db.execute("SELECT type, version, run_id, tenant, status, recorded_at, "
                              "position FROM outbox WHERE position > ? ORDER BY position",
                              (before,)).fetchall()
            tenant = db.execute("SELECT tenant FROM runs WHERE id = ?", (run_id,)).fetchone()[0]
            expect_equal(f"the events appended by {called}", [tuple(r[:6]) for r in rows],
                         [("run.finished", 2, run_id, tenant, status, clock.now)],
                         "one run.finished event, version 2, with the run's id, its tenant "
                         "(read from runs by the UPDATE ... RETURNING tenant), the new status "
                         "and the clock's time: self._append writes it")
            expect_equal(f"the run's row in runs after {called}",
                         tuple(db.execute("SELECT status FROM runs WHERE id = ?",
                                          (run_id,)).fetchone()), (status,),
                         "the write model holds each run's status now: the UPDATE moves it")
            position = int(rows[0][6])
            expect_equal(f"what {called} returned", receipt,
                         impl.Receipt(run_id, position),
                         "Receipt(run_id, position of the event): a reader passes the position "
                         "to read(tenant, after=position) to see its own write")


@STEP.check(task=1, backs=(REFUSED, FINISH_INPUT))
def finish_refuses_a_move_the_write_model_forbids(impl: ModuleType) -> None:
    """finish() refuses an unknown run, a finished one and bad input, and writes nothing"""
    with lab() as here:
        db = fresh(impl, here)
        done = model.start(db, "acme", 1.0)
        model.finish(db, done, "fail", 2.0)
        open_run = model.start(db, "acme", 3.0)
        runs = impl.Runs(db, clock=Clock(9.0))
        cases: list[tuple[str, Callable[[], object], tuple[type[Exception], ...], str]] = [
            (f"finish({done}, 'ok') on a run that finished as 'fail'",
             partial(runs.finish, done, "ok"), (impl.MoveRefused,),
             "a finished run never moves again: the UPDATE ... WHERE status = 'started' "
             "finds no row"),
            (f"finish({done}, 'fail') on a run that finished as 'fail'",
             partial(runs.finish, done, "fail"), (impl.MoveRefused,),
             "finishing twice is refused too, even with the same status: one event per move"),
            ("finish(999, 'ok') on a run nobody started", partial(runs.finish, 999, "ok"),
             (impl.MoveRefused,), "an unknown run cannot finish: start() it first"),
        ]
        for bad in (0, -1, True, "1", 1.5, None):
            cases.append((f"finish({bad!r}, 'ok')", partial(runs.finish, bad, "ok"),
                          (TypeError, ValueError), "run_id is an int of 1 or more, not a bool"))
        for bad in ("started", "done", "", None, "OK"):
            cases.append((f"finish({open_run}, {bad!r})", partial(runs.finish, open_run, bad),
                          (TypeError, ValueError), "a run finishes as one of FINAL: ok, fail, "
                          "cancelled"))
        for bad_clock in (None, "now", math.nan, True):
            cases.append((f"Runs(db, clock=lambda: {bad_clock!r}).finish({open_run}, 'ok')",
                          partial(impl.Runs(db, clock=lambda c=bad_clock: c).finish, open_run,
                                  "ok"), (TypeError, ValueError),
                          "read the clock first, as start does: a time that is not a finite "
                          "number of seconds is refused before anything is written"))
        for i, (called, action, errors, why) in enumerate(cases):
            before = tables(db)
            error = expect_raises(called, action, errors, why)
            expect_equal(f"the database after {called}", tables(db), before,
                         "a refused move writes nothing: no row changed, no event")
            said = str(error).lower()
            if i < 2 and "fail" not in said:
                fail(called, f"MoveRefused({str(error)!r})",
                     "a message saying the run has finished already, as 'fail'",
                     "say whether the run is unknown or already finished (and as what): the "
                     "caller decides what to do next from it")
            if i == 2 and not any(w in said for w in ("unknown", "no run", "not found",
                                                       "does not exist", "never started",
                                                       "not started", "no such")):
                fail(called, f"MoveRefused({str(error)!r})",
                     "a message saying the run is unknown",
                     "say whether the run is unknown or already finished: an unknown run and "
                     "a finished one call for different fixes")


@STEP.check(task=1, backs=(NEVER_VIEW, NOT_VIEW, DECIDE))
def the_command_side_decides_from_runs_never_the_view(impl: ModuleType) -> None:
    """finish() decides from `runs` alone: a wrong, empty or missing view changes nothing"""
    with lab() as here:
        db = fresh(impl, here)
        ids = [model.start(db, "acme", 1.0) for _ in range(3)]
        model.finish(db, ids[0], "ok", 2.0)
        # A view that lies (written here, so task 1 needs no code of task 2): it says runs 2 and
        # 3 finished and run 1 is still started.
        db.execute("INSERT INTO live_views (name, view) VALUES ('board', 'board@1')")
        db.execute("INSERT INTO checkpoints (view, position) VALUES ('board@1', 4)")
        db.execute("INSERT INTO counts (view, tenant, status, n) VALUES ('board@1', 'acme', "
                   "'fail', 2), ('board@1', 'acme', 'started', 1)")
        runs = impl.Runs(db, clock=Clock(5.0))
        tap = Tap()
        db.before = tap
        try:
            runs.finish(ids[1], "fail")
            expect_raises(f"finish({ids[0]}, 'ok') again, on a run runs says finished as 'ok', "
                          "while the view says it is started", partial(runs.finish, ids[0],
                                                                       "ok"),
                          (impl.MoveRefused,), "runs is the truth; the view may be wrong")
            impl.Runs(db, clock=Clock(6.0)).start("acme")
        finally:
            db.before = None
        read = mentions(tap.seen, VIEW_TABLES)
        if read:
            fail("Runs(db).finish(...) and start(...), statements traced", show(read[0]),
                 "no statement that names counts, checkpoints, dead_letters, live_views or "
                 "effects", "the command side never reads a view: it may be behind, or "
                 "rebuilding; decide from runs alone")
        expect_equal(f"the run.finished events of run {ids[1]} after finish({ids[1]}, 'fail'), "
                     "the view wrongly showing it finished",
                     [r[1:] for r in model.log(db) if r[1] == "run.finished" and r[3] == ids[1]],
                     [("run.finished", 2, ids[1], "acme", "fail")],
                     "runs says the run is started, so it finishes: the view has no say")


LOG_WRITE = re.compile(
    r"\b(?:(?:insert|replace)(?: or \w+)? into|merge into|update(?: or \w+)?|delete from|"
    r"truncate(?: table)?(?: only)?|drop table(?: if exists)?|alter table) "
    r"(?:\w+\.)?[\"`\[]?(runs|outbox)\b")
"""A statement (lower case, spaces collapsed) that writes a row of runs or outbox, or alters
the table."""


@STEP.check(task=1, backs=(NEVER_WRITES,))
def the_read_side_never_writes_runs_or_outbox(impl: ModuleType) -> None:
    """apply, rebuild, send_alerts and read never write runs or outbox (traced once written)"""
    with lab() as here:
        db = fresh(impl, here)
        runs = impl.Runs(db, clock=Clock(1.0))
        for tenant in ("acme", "globex", "acme"):
            for _ in range(impl.ALERT_AT):
                runs.finish(runs.start(tenant).run_id, "fail")
        model.history(db, 91, size=12)  # old shapes and poison too
        log = tables(db, LOG_TABLES)
        p = projector(impl, db)
        _, send = receiver()

        def every_batch() -> None:
            while p.project_batch(7):
                pass

        for called, action in (("project_batch(7), until it takes nothing (your apply)",
                                every_batch),
                               ("send_alerts(send)", partial(p.send_alerts, send)),
                               ("rebuild(2, every=4)", partial(p.rebuild, 2, every=4)),
                               ("read('acme', after=1)", partial(p.read, "acme", after=1))):
            tap = Tap()
            db.before = tap
            try:
                action()
            except Exception:  # unwritten, or wrong: its own task's checks say which
                pass
            finally:
                db.before = None
            wrote = [sql for sql in tap.seen if LOG_WRITE.search(sql)]
            if wrote:
                fail(f"Projector(db).{called}, statements traced", show(wrote[0]),
                     "no statement that inserts, updates or deletes rows of runs or outbox, or "
                     "alters their tables", "the command side alone writes them. runs is what "
                     "commands decide from: a projector writing it changes a decision with no "
                     "event for it, and replays old events over it. outbox is the history every "
                     "view and rebuild folds: an event deleted is gone for all of them, and one "
                     "appended is a fact no command decided")
            expect_equal(f"runs and outbox after Projector(db).{called}",
                         tables(db, LOG_TABLES), log, "the read side reads runs and outbox, "
                         "and writes only its own tables")


@STEP.check(task=1, backs=(DECIDE, REFUSED), backends=SQLITE_ONLY)
def finish_writes_the_move_and_its_event_together(impl: ModuleType) -> None:
    """a crash at any statement of finish() leaves both the move and its event, or neither"""

    def make(here: Lab) -> tuple[Database, Callable[[], object]]:
        db = fresh(impl, here)
        run_id = model.start(db, "acme", 1.0)
        return db, partial(impl.Runs(db, clock=Clock(2.0)).finish, run_id, "fail")

    seen = statements_of(make)
    for k in range(1, len(seen) + 1):
        with lab() as here:
            db, action = make(here)
            run_tapped(db, Tap(crash_at=k), action)
            db = crashed(here, db)
            status = db.execute("SELECT status FROM runs").fetchone()[0]
            events = [r[1] for r in model.log(db)]
            called = (f"finish(run, 'fail'), the process dying just before statement {k} "
                      f"({seen[k - 1][:50]!r})")
            expect_equal(f"(status in runs, events) after {called}", (status, events),
                         ("fail", ["run.started", "run.finished"])
                         if status == "fail" else ("started", ["run.started"]),
                         "the UPDATE and the event commit in ONE transaction: a run that moved "
                         "has its event, and a run that did not has none")


@STEP.check(task=1, backs=(RACE, DECIDE))
def two_finishes_of_one_run_write_one_event(impl: ModuleType) -> None:
    """another connection finishing the same run meanwhile: exactly one finish wins"""

    def make(here: Lab) -> tuple[Database, Callable[[], object]]:
        db = fresh(impl, here)
        run_id = model.start(db, "acme", 1.0)
        return db, partial(impl.Runs(db, clock=Clock(2.0)).finish, run_id, "ok")

    seen = statements_of(make)
    for k in cut_points(seen, 1):
        with lab() as here:
            db, action = make(here)
            tap = committing_before(here, db, k, lambda other: model.finish(other, 1, "fail",
                                                                            3.0))
            db.before = tap
            said = ""
            try:
                action()
                outcome = "returned"
            except impl.MoveRefused as refused:
                outcome, said = "MoveRefused", str(refused)
            finally:
                db.before = None
            finished = [r for r in model.log(db) if r[1] == "run.finished"]
            status = db.execute("SELECT status FROM runs").fetchone()[0]
            called = (f"finish(run, 'ok') while another connection finished the same run as "
                      f"'fail' just before statement {k} ({seen[k - 1][:50]!r})")
            if len(finished) != 1 or finished[0][5] != status:
                fail(called, f"{len(finished)} run.finished events "
                     f"{[r[5] for r in finished]}, runs says {status!r} (finish {outcome})",
                     f"one run.finished event, for the status runs holds ({status!r})",
                     "decide and move in one statement, UPDATE ... WHERE status = 'started': "
                     "a SELECT first lets both callers see 'started' at READ COMMITTED, and "
                     "both write an event")
            if outcome == "MoveRefused" and "fail" not in said.lower():
                fail(called, f"MoveRefused({said!r})", "a message saying the run finished "
                     "already, as 'fail'", "say what runs holds once the UPDATE found no row "
                     "(read it after the UPDATE): a status read before it may be out of date")


# Task 2: reads rebuild from writes ------------------------------------------------------------


def event(impl: ModuleType, row: Row) -> Any:
    return impl.Event(*row)


def good_rows() -> list[Row]:
    return [(1, "run.started", 2, 1, "acme", "started"), (2, "run.finished", 2, 1, "acme", "ok"),
            (3, "run.finished", 2, 4, "globex", "cancelled"),
            (4, "run.finished", 2, 5, "acme", "fail")]


@STEP.check(task=2, backs=(UPCAST, V1, POISON_RULE, PURE), backends=())
def upcast_gives_the_current_shape_or_refuses(impl: ModuleType) -> None:
    """upcast() returns v2 events as they are, v1 ones with the legacy tenant, refuses poison"""
    for row in good_rows():
        called = f"upcast(Event{row})"
        got = impl.upcast(event(impl, row))
        expect_equal(called, got, event(impl, row), "a version 2 event is returned as it is, "
                     "once checked")
        expect_equal(f"{called}, a second time", impl.upcast(event(impl, row)), got,
                     "pure: the same row upcasts the same way every time")
    for row in [(5, "run.started", 1, 9, None, "started"), (6, "run.finished", 1, 9, None,
                                                            "fail")]:
        expect_equal(f"upcast(Event{row}), version 1 without a tenant",
                     impl.upcast(event(impl, row)),
                     event(impl, (row[0], row[1], 2, row[3], impl.LEGACY_TENANT, row[5])),
                     "the first release served one tenant: a version 1 event becomes the same "
                     "event with tenant LEGACY_TENANT and version 2")
    for kind, version, run_id, tenant, status in (*model.POISON,
            ("run.started", True, 7, "acme", "started"), ("run.started", "2", 7, "acme",
                                                          "started"),
            ("run.started", True, 7, None, "started"), ("run.finished", False, 7, None, "ok"),
            ("run.started", None, 7, "acme", "started"), ("run.finished", 2, 0, "acme", "ok"),
            ("run.finished", 2, True, "acme", "ok"), ("run.finished", 2, 7, "a\nb", "ok"),
            ("run.finished", 1, 7, None, "paused"), (None, 2, 7, "acme", "ok"),
            ("run.finished", 2, 7, "acme", None), ("run.started", 2, "7", "acme", "started"),
            ("run.started", 2.5, 7, "acme", "started"), ("run.finished", 3.0, 7, "acme", "ok"),
            ("run.finished", 1, 7, "", "ok")):
        row = (9, kind, version, run_id, tenant, status)
        expect_raises(f"upcast(Event{row})", partial(impl.upcast, event(impl, row)),
                      (TypeError, ValueError),
                      "a poison event: version an int of 1 or more, run.started with "
                      "'started' or run.finished with a FINAL status, run_id an int of 1 or "
                      "more, a tenant validate_name accepts, and no tenant in a version 1 "
                      "event; TypeError or ValueError, so project_batch sets it aside")


@STEP.check(task=2, backs=(NEWER,))
def a_newer_version_stops_the_view_and_loses_nothing(impl: ModuleType) -> None:
    """an event of version 3 stops project_batch: nothing taken, nothing set aside"""
    for row in [(7, "run.started", 3, 7, "acme", "started"),
                (7, "run.paused", 3, 7, None, "paused"), (7, "run.finished", 4, None, "", "x")]:
        expect_raises(f"upcast(Event{row})", partial(impl.upcast, event(impl, row)),
                      (impl.UnknownVersion,), "a newer release wrote it, in a shape this code "
                      "cannot judge: whatever its fields, look at the version first; do not "
                      "guess its meaning, nor set it aside")
    for at in (0, 2):
        with lab() as here:
            db = fresh(impl, here)
            for _ in range(at):
                model.start(db, "acme", 1.0)
            model.write_row(db, "run.started", 3, 50, "acme", "started", 2.0)
            model.start(db, "acme", 3.0)
            p = projector(impl, db)
            called = (f"project_batch() on a log whose event {at + 1} is version 3"
                      + (f", after {at} good ones" if at else ""))
            before = tables(db)
            expect_raises(called, p.project_batch, (impl.UnknownVersion,),
                          "project_batch lets UnknownVersion out: the batch rolls back and the "
                          "view waits for the code that reads version 3")
            expect_equal(f"the database after {called}", tables(db), before,
                         "the whole batch rolls back: skipping or setting aside the event "
                         "would lose it for good once the checkpoint passes it")


def history_db(impl: ModuleType, here: Lab, seed: int, **kw: int) -> tuple[Database, list[Row]]:
    db = fresh(impl, here)
    return db, model.history(db, seed, **kw)


def describe(rows: list[Row], upto: int | None = None) -> str:
    shown = [f"{p}:{k.split('.')[-1] if isinstance(k, str) else k}/v{v}/run {r}/{t}/{s}"
             for p, k, v, r, t, s in rows if upto is None or p <= upto]
    return "the log " + ", ".join(shown[:40]) + (" ..." if len(shown) > 40 else "")


@STEP.check(task=2, backs=(MOVE, IN_TXN, V1, POISON_RULE))
def counts_move_between_buckets_at_every_checkpoint(impl: ModuleType) -> None:
    """project_batch() with your apply: the view at each checkpoint is the log folded to it"""
    rng = random.Random(7)
    for seed in range(3):
        with lab() as here:
            db, rows = history_db(impl, here, seed)
            p = projector(impl, db)
            while True:
                limit = rng.randint(1, 6)
                if not p.project_batch(limit):
                    break
                live = model.live_of(db) or f"{NAME}@1"
                cp = model.checkpoint_of(db, live)
                expected = model.fold(rows, cp)
                called = (f"project_batch({limit}) up to position {cp} of "
                          f"{describe(rows, cp)}")
                expect_equal(f"the counts of {live} after {called}", model.counts_of(db, live),
                             expected.shown(),
                             "a start adds 1 to 'started'; a finish takes 1 from 'started' "
                             "and adds 1 to its status (v1 events count for LEGACY_TENANT); "
                             "poison counts for nothing")
                expect_equal(f"the dead letters of {live} after {called}",
                             model.dead_of(db, live), expected.dead,
                             "upcast refuses each poison event, and take sets it aside")
    with lab() as here:
        db = fresh(impl, here)
        model.finish(db, model.start(db, "acme", 1.0), "ok", 1.0)  # acme's 'started' at 0
        model.write_row(db, "run.started", 2, 7, "", "started", 1.0)  # poison: a blank tenant
        model.write_row(db, "run.finished", 2, 7, "acme", "ok", 2.0)
        caught_up(impl, db)
        expect_equal("the counts after projecting a start and a finish of acme, a start set "
                     "aside as a dead letter (a blank tenant), then that run's finish as 'ok' "
                     "for acme",
                     model.counts_of(db, f"{NAME}@1"), model.fold(model.log(db)).shown(),
                     "the finish moves its count without looking at the run: 'started' goes "
                     "to -1. Do not hide it (no clamping at 0): a bucket below 0 is what an "
                     "alarm on a broken view looks for")


@STEP.check(task=2, backs=(LEDGER, IN_TXN))
def each_crossing_is_in_the_ledger_once(impl: ModuleType) -> None:
    """the effects ledger holds one row per crossing of ALERT_AT's multiples, none sent"""
    for seed, size in ((11, 30), (12, 40)):
        with lab() as here:
            db, rows = history_db(impl, here, seed, size=size, poison=1)
            caught_up(impl, db)
            expected = model.fold(rows)
            expect_equal(f"the effects ledger after projecting {describe(rows)}",
                         model.ledger(db),
                         {impl.alert_key(t, f): (t, f, p, False)
                          for (t, f), p in expected.crossings.items()},
                         f"a fail that brings a tenant's failures to a multiple of ALERT_AT "
                         f"({impl.ALERT_AT}) records (alert_key(tenant, fails), tenant, fails, "
                         "the event's position), and nothing else; sent_at stays NULL until "
                         "send_alerts hands it on")


@STEP.check(task=2, backs=(REBUILD, ASIDE, SWITCH, NOT_AGAIN, SAME_KEY, CLEAR))
def a_rebuild_gives_what_incremental_projection_gives(impl: ModuleType) -> None:
    """rebuild(2) over the whole log, old shapes and poison included == incremental"""
    with lab() as here:
        db, rows = history_db(impl, here, 24, size=8)
        projector(impl, db).rebuild(2, every=4)
        expect_equal(f"the live version after rebuild(2) of a view never projected (no row in "
                     f"live_views yet) of {describe(rows)}", model.live_of(db), f"{NAME}@2",
                     "point live_views at it with INSERT ... ON CONFLICT (name) DO UPDATE: an "
                     "UPDATE finds no row to change before the first project_batch")
    for seed, every in ((21, 4), (22, 1000), (23, 1)):
        with lab() as here:
            db, rows = history_db(impl, here, seed)
            caught_up(impl, db)
            ledger = model.ledger(db)
            p = projector(impl, db)
            called = f"rebuild(2, every={every}) of a caught-up view of {describe(rows)}"
            got = p.rebuild(2, every=every)
            expected = model.fold(rows)
            new = f"{NAME}@2"
            expect_equal(f"what {called} returned", got, new,
                         "the new version's name, self.version(2)")
            expect_equal(f"the live version after {called}", model.live_of(db), new,
                         "the switch points live_views at the new version")
            expect_equal(f"the counts of {new} after {called}", model.counts_of(db, new),
                         expected.shown(), "rebuilt from the whole log, the view holds what "
                         "incremental projection holds: old shapes upcast the same way")
            expect_equal(f"(checkpoint, dead letters) of {new} after {called}",
                         (model.checkpoint_of(db, new), model.dead_of(db, new)),
                         (rows[-1][0], expected.dead),
                         "every event taken, the poison ones set aside under the new version")
            expect_equal(f"the effects ledger after {called}", model.ledger(db), ledger,
                         "the new version crosses the same thresholds at the same events: "
                         "their keys are there already, so nothing is added")
            model.start(db, "acme", 99.0)
            caught_up(impl, db)
            expect_equal(f"the counts of {new} after {called}, then a start and project_batch",
                         model.counts_of(db, new), model.fold(model.log(db)).shown(),
                         "project_batch goes on in the live version, the new one")
            # A second rebuild, into version 3, then back into 2: each version starts clean.
            p.rebuild(3, every=every)
            db.execute("INSERT INTO counts (view, tenant, status, n) VALUES (?, 'junk', 'ok', "
                       "5)", (new,))
            db.execute("INSERT INTO dead_letters (view, position, reason) VALUES (?, 999999, "
                       "'junk')", (new,))
            p.rebuild(2, every=every)
            again = model.fold(model.log(db))
            expect_equal(f"(counts, dead letters) of {new} after rebuild(3), rows left in {new} "
                         "(a count and a dead letter), then rebuild(2) again",
                         (model.counts_of(db, new), model.dead_of(db, new)),
                         (again.shown(), again.dead),
                         "clear the new version first: its counts, checkpoint and dead letters "
                         "(a rebuild that died halfway, or an old version, left some)")


@STEP.check(task=2, backs=(SWITCH, ASIDE))
def the_switch_takes_every_event_left(impl: ModuleType) -> None:
    """events committed before the switch are all in the new version when it goes live"""

    def make(here: Lab) -> tuple[Database, Callable[[], object]]:
        db, _ = history_db(impl, here, 55, size=10)
        caught_up(impl, db)
        return db, partial(projector(impl, db).rebuild, 2, every=2)

    def five_more(other: Database) -> None:
        for _ in range(5):
            model.start(other, "globex", 70.0)

    seen = statements_of(make)
    begins = [i for i, sql in enumerate(seen, start=1) if sql.startswith("begin")]
    with lab() as here:
        db, action = make(here)
        total = len(model.log(db))
        tap = Tap()
        run_tapped(db, tap, action)
        folds = sum(1 for sql in tap.seen if sql.startswith("begin"))
        if folds < total // 2 + 1:
            fail(f"rebuild(2, every=2) over a log of {total} events, statements traced",
                 f"{folds} transactions", f"{total // 2 + 1} or more: one to clear, one per "
                 "take of 2 events, one to switch", "fold the log one transaction per "
                 "take(new, every): a transaction over the whole fold holds the write lock "
                 "(SQLite) and the live projector waits for all of it")
    last = begins[-1]
    with lab() as here:
        db, action = make(here)
        run_tapped(db, committing_before(here, db, last, five_more), action)
        log_end = model.log(db)[-1][0]
        called = (f"rebuild(2, every=2), another connection committing five starts just before "
                  f"its last transaction (statement {last}, {seen[last - 1][:40]!r})")
        expect_equal(f"the checkpoint of the live version {model.live_of(db)} after {called}",
                     model.checkpoint_of(db, model.live_of(db) or f"{NAME}@1"), log_end,
                     "the switching transaction takes every event left (take until it returns "
                     "0), however many arrived since the fold: the new version goes live "
                     "caught up")


@STEP.check(task=2, backs=(REBUILD_INPUT,))
def rebuild_refuses_the_live_version_and_bad_input(impl: ModuleType) -> None:
    """rebuild() of the live version, or with a bad version or every, changes nothing"""
    with lab() as here:
        db, _ = history_db(impl, here, 31, size=8)
        caught_up(impl, db)
        p = projector(impl, db)
        p.rebuild(2)
        p.rebuild(3)  # version 3 live; versions 1 and 2 still hold their rows
        cases: list[tuple[str, Callable[[], object], str]] = [
            ("rebuild(3) while version 3 is live", partial(p.rebuild, 3),
             "readers are reading version 3: rebuild into another number")]
        for bad in (0, -1, True, "2", None, 2.0):
            cases.append((f"rebuild({bad!r})", partial(p.rebuild, bad),
                          "a version is an int of 1 or more"))
        for bad in (0, -3, True, 1.5, None, 100_001):
            cases.append((f"rebuild(2, every={bad!r}), version 2 not live",
                          partial(p.rebuild, 2, every=bad),
                          "every is as take's limit: an int from 1 to MAX_BATCH"))
        for called, action, why in cases:
            before = tables(db)
            expect_raises(called, action, (TypeError, ValueError), why)
            expect_equal(f"the database after {called}", tables(db), before,
                         "check both before doing anything")


@STEP.check(task=2, backs=(SWITCH, ASIDE, CLEAR))
def readers_never_see_a_half_built_version(impl: ModuleType) -> None:
    """a reader during every statement of rebuild() sees a whole version, never going back"""

    def make(here: Lab) -> tuple[Database, Callable[[], object]]:
        db, _ = history_db(impl, here, 41, size=14)
        p = projector(impl, db)
        p.project_batch(9)
        return db, partial(p.rebuild, 2, every=5)

    with lab() as here:
        db, action = make(here)
        rows = model.log(db)
        reader = here.again(db)
        seen: list[tuple[int, str, int, object]] = []

        def look(n: int, sql: str) -> None:
            # nothing commits between these two reads: the only writer is stopped here
            live = model.live_of(reader) or f"{NAME}@1"
            cp, counts = model.snapshot(reader, live)
            seen.append((n, live, cp, counts))

        tap = Tap(meanwhile=look)
        run_tapped(db, tap, action)
        look(len(tap.seen) + 1, "")
        last = 0
        for n, live, cp, counts in seen:
            called = (f"rebuild(2, every=5) of a view that had taken 9 events of "
                      f"{describe(rows)}, read on another connection just before statement {n}"
                      + (f" ({tap.seen[n - 1][:50]!r})" if n <= len(tap.seen) else
                         " (after it returned)"))
            expect_equal(f"the live version's counts, at its checkpoint {cp}, {called}",
                         counts, model.fold(rows, cp).shown(),
                         "readers see the old version until the switch commits and the new one "
                         "after it: never a half-built one, nor a cleared one")
            if cp < last:
                fail(called, f"the live version ({live}) at checkpoint {cp}",
                     f"a checkpoint of {last} or more, as a reader saw before",
                     "switch only once the new version has taken every event, in the same "
                     "transaction: readers never see the view go back")
            last = cp


@STEP.check(task=2, backs=(SWITCH,))
def the_switch_holds_the_live_version_still(impl: ModuleType) -> None:
    """the live projector committing during the switch cannot leave the new version behind"""

    def caught_up_first(here: Lab) -> tuple[Database, Callable[[], object]]:
        db, _ = history_db(impl, here, 51, size=4)
        caught_up(impl, db)
        return db, partial(projector(impl, db).rebuild, 2, every=1000)

    def never_projected(here: Lab) -> tuple[Database, Callable[[], object]]:
        db, _ = history_db(impl, here, 51, size=4)
        return db, partial(projector(impl, db).rebuild, 2, every=1000)

    def append_and_project(other: Database) -> None:
        model.start(other, "globex", 60.0)
        with other.transaction():  # the live projector, version 1, one batch
            projector(impl, other).take(f"{NAME}@1", 1000)

    for how, make in (("caught up", caught_up_first), ("never projected", never_projected)):
        seen = statements_of(make)
        for k in last_transaction_cuts(seen):  # before each statement of the switch's transaction
            switched(impl, make, how, k, seen[k - 1], append_and_project)


def switched(impl: ModuleType, make: Callable[[Lab], tuple[Database, Callable[[], object]]],
             how: str, k: int, sql: str, write: Callable[[Database], None]) -> None:
    """rebuild(2) of a live version 1 (``how``), ``write`` committing before statement ``k``."""
    with lab() as here:
        db, action = make(here)
        run_tapped(db, committing_before(here, db, k, write), action)
        old = model.checkpoint_of(db, f"{NAME}@1")
        new = model.checkpoint_of(db, f"{NAME}@2")
        called = (f"rebuild(2) of a version 1 {how}, while, just before statement {k} "
                  f"({sql[:50]!r}) of its switching transaction, another connection "
                  "appended a start and the live projector (version 1) took a batch")
        if model.live_of(db) == f"{NAME}@2" and new < old:
            fail(called, f"version 2 live at checkpoint {new}, version 1 at {old}",
                 f"version 2 at {old} or more",
                 "hold the live version still first in the switching transaction (INSERT "
                 "INTO checkpoints ... ON CONFLICT (view) DO UPDATE SET position = "
                 "checkpoints.position, for the live one: an UPDATE holds nothing while it "
                 "has no checkpoint yet): its projector then waits, and the new version "
                 "takes everything it took")


# Task 3: idempotent under replays, effects recorded once and resent safely ------------------


def crossed(impl: ModuleType, here: Lab, seed: int = 61) -> tuple[Database, list[Row]]:
    """A caught-up view whose log crosses at least two thresholds."""
    db = fresh(impl, here)
    for tenant in ("acme", "globex", "acme"):
        for _ in range(impl.ALERT_AT):
            model.finish(db, model.start(db, tenant, 1.0), "fail", 2.0)
    rows = model.history(db, seed, size=10, legacy=0, poison=1)
    caught_up(impl, db)
    return db, rows


@STEP.check(task=3, backs=(SEND,))
def each_alert_is_handed_on_once_with_its_key(impl: ModuleType) -> None:
    """send_alerts() hands each ledger alert on once, in position order, then marks it sent"""
    with lab() as here:
        db, rows = crossed(impl, here)
        expected = alerts_expected(impl, model.fold(rows))
        clock = Clock(300.0)
        p = impl.Projector(db, name=NAME, clock=clock)
        got: list[Any] = []
        inside: list[str] = []
        tap = Tap()

        def send(alert: Any) -> None:
            got.append(alert)
            if in_transaction(tap.seen):
                inside.append(tap.seen[-1])

        called = f"send_alerts(send) after projecting {describe(rows)}"
        db.before = tap
        try:
            count = p.send_alerts(send)
        finally:
            db.before = None
        if inside:
            fail(f"{called}: the statement before send() was called", show(inside[0]),
                 "send() called with no transaction open",
                 "hand on, then mark it sent in a transaction of its own: a transaction open "
                 "while the receiver answers holds its locks that long (on SQLite, the whole "
                 "database: every command waits for the receiver)")
        expect_equal(f"(key, tenant, fails) of each Alert handed to send by {called}",
                     as_sent(got), expected, "each alert of the ledger not sent yet, in "
                     "position order, as Alert(key, tenant, fails)")
        if not all(isinstance(a, impl.Alert) for a in got):
            fail(called, show(got[:2]), "Alert objects", "send(Alert(key, tenant, fails))")
        expect_equal(f"what {called} returned", count, len(expected),
                     "how many were handed on")
        expect_equal(f"sent_at in the ledger after {called}",
                     sorted(r[0] for r in db.execute("SELECT sent_at FROM effects").fetchall()),
                     [300.0] * len(expected), "mark each sent with self.clock()")
        again, send_again = receiver()
        expect_equal("what send_alerts(send) handed on a second time", as_sent(again), [],
                     "an alert marked sent is never handed on again")
        p.rebuild(2)
        p.send_alerts(send_again)
        expect_equal("what send_alerts(send) handed on after rebuild(2)", as_sent(again), [],
                     "the new version crosses the same thresholds: no new alert")


@STEP.check(task=3, backs=(RESEND, SEND), backends=SQLITE_ONLY)
def a_crash_hands_an_alert_on_again_never_loses_it(impl: ModuleType) -> None:
    """a crash at any statement of send_alerts(): at the next call, nothing lost, same keys"""

    def make(here: Lab) -> tuple[Database, Callable[[], object]]:
        db, _ = crossed(impl, here)
        return db, partial(projector(impl, db).send_alerts, lambda alert: None)

    seen = statements_of(make)
    for k in range(1, len(seen) + 1):
        with lab() as here:
            db, rows = crossed(impl, here)
            expected = alerts_expected(impl, model.fold(rows))
            got, send = receiver()
            run_tapped(db, Tap(crash_at=k), partial(projector(impl, db).send_alerts, send))
            db = crashed(here, db)
            projector(impl, db).send_alerts(send)
            called = (f"send_alerts(send), the process dying just before statement {k} "
                      f"({seen[k - 1][:50]!r}), then send_alerts(send) after a restart")
            keys = [a[0] for a in as_sent(got)]
            missing = [e for e in expected if e[0] not in keys]
            if missing or any(a not in expected for a in as_sent(got)):
                fail(called, show(as_sent(got)), f"every alert of {show(expected)} at least "
                     "once, each time with its own key", "hand on first, then mark sent in a "
                     "transaction of its own: a crash between hands it on again with the "
                     "same key (the receiver drops it), and never loses it")
            if len(keys) > len(expected) + 1:
                fail(called, show(as_sent(got)), f"{show(expected)}, with at most the one the "
                     "crash interrupted handed on twice", "mark each alert sent right after "
                     "handing it on, one transaction each: a crash then repeats one alert, "
                     "not all of them")


@STEP.check(task=3, backs=(SEND_FAILS, SEND_INPUT))
def a_failing_receiver_stops_the_round(impl: ModuleType) -> None:
    """send() raising: the error goes out, that alert and later ones stay for the next call"""
    with lab() as here:
        db, rows = crossed(impl, here)
        expected = alerts_expected(impl, model.fold(rows))
        p = projector(impl, db)
        got: list[Any] = []

        def flaky(alert: Any) -> None:
            if len(got) == 1:
                got.append(None)
                raise ConnectionError("the alerting service is down")
            got.append(alert)

        expect_raises("send_alerts(send), send raising ConnectionError at the second alert",
                      partial(p.send_alerts, flaky), (ConnectionError,),
                      "let the error out: the caller must know the round stopped")
        marked = [k for k, (_, _, _, sent) in model.ledger(db).items() if sent]
        expect_equal("the keys marked sent after send() failed at the second alert", marked,
                     [expected[0][0]], "only the alert send() took is marked; the failed one "
                     "and the ones after it stay unsent")
        rest: list[Any] = []
        p.send_alerts(rest.append)
        expect_equal("what the next send_alerts(send) handed on", as_sent(rest), expected[1:],
                     "the failed alert and the ones after it, for the next call")
        with lab() as other:
            empty = fresh(impl, other)
            expect_raises("send_alerts(None) with nothing in the ledger",
                          partial(projector(impl, empty).send_alerts, None), (TypeError,),
                          "send must be callable, whether or not there is anything to send: "
                          "the mistake is the caller's, and shows the first time")
        for bad in (None, "print", 3):
            with lab() as other:
                db2, _ = crossed(impl, other)
                before = tables(db2)
                expect_raises(f"send_alerts({bad!r})", partial(projector(impl, db2).send_alerts,
                                                                bad),
                              (TypeError,), "send must be callable")
                expect_equal(f"the database after send_alerts({bad!r})", tables(db2), before,
                             "nothing is marked sent when nothing could be handed on")


@STEP.check(task=3, backs=(NO_SEND, SAME_KEY, IN_TXN, RESEND, NOT_AGAIN),
            backends=BACKENDS)
def the_fault_harness_finds_no_lost_or_repeated_alert(impl: ModuleType) -> None:
    """generated crashes, two projectors, rebuilds and a failing receiver: view and alerts hold"""
    from cqrs_kata.steps.step07 import harness

    harness.check(impl)


# Task 4: the consistency contract --------------------------------------------------------------


def promised(impl: ModuleType) -> Any:
    c = impl.contract()
    if not isinstance(c, impl.Contract):
        fail("contract()", show(c), "a Contract(staleness_s, prefix, read_your_writes)",
             "the contract is data the checks and readers read")
    return c


@STEP.check(task=4, backs=(CONTRACT,), backends=())
def the_contract_says_what_the_view_keeps(impl: ModuleType) -> None:
    """contract() is a Contract: a finite staleness, prefixes and read-your-writes offered"""
    c = promised(impl)
    s = c.staleness_s
    if isinstance(s, bool) or not isinstance(s, int | float) or not 0 < s <= 3600:
        fail("contract().staleness_s", show(s), "a number of seconds above 0, an hour at most",
             "how old an answer may be: 0 no projector can keep, and a view an hour behind "
             "is broken, not stale")
    if s < 0.5:
        fail("contract().staleness_s", show(s), "0.5 s or more",
             "promise what the view can keep: a projector polls, takes a batch, commits; a "
             "few seconds is what this one can promise on a busy machine")
    for name in ("prefix", "read_your_writes"):
        expect_equal(f"contract().{name}", getattr(c, name), True,
                     "this view folds one log in order with one checkpoint, and read() takes "
                     "`after`: it offers both, so write them down; readers rely on what the "
                     "contract says, not on what the code happens to do")


def read_all(impl: ModuleType, p: Any, tenants: tuple[str, ...]) -> dict[str, Any]:
    return {t: p.read(t) for t in tenants}


@STEP.check(task=4, backs=(READ, ONE_STATEMENT, HELD))
def every_read_is_a_prefix_of_the_log(impl: ModuleType) -> None:
    """read() gives the live version's counts with the checkpoint they are as of"""
    rng = random.Random(3)
    tenants = (*model.TENANTS, model.LEGACY_TENANT, "nobody")
    with lab() as here:
        db, rows = history_db(impl, here, 71)
        p = projector(impl, db)
        first = p.read("acme")
        expect_equal("read('acme') before any batch", (first.counts, first.position),
                     ({}, 0), "no live version yet: version 1, checkpoint 0, no counts")
        rebuilt = False
        while True:
            taken = p.project_batch(rng.randint(1, 5))
            if not taken and rebuilt:
                break
            if not rebuilt and (not taken
                                or model.checkpoint_of(db, f"{NAME}@1") * 2 >= len(rows)):
                p.rebuild(2, every=4)
                rebuilt = True
                for _ in range(4):  # version 2 takes these; version 1 never does
                    model.finish(db, model.start(db, "acme", 40.0), "ok", 41.0)
                rows = model.log(db)
            for tenant, got in read_all(impl, p, tenants).items():
                cp = got.position
                called = (f"read({tenant!r}) after project_batch" + (" and rebuild(2)"
                                                                     if rebuilt else "")
                          + f", the live version at checkpoint "
                          f"{model.checkpoint_of(db, model.live_of(db) or NAME + '@1')}")
                expect_equal(f"the position {called} returned", cp,
                             model.checkpoint_of(db, model.live_of(db) or f"{NAME}@1"),
                             "the live version's checkpoint")
                expect_equal(f"the counts {called} returned", got.counts,
                             model.tenant_counts(model.fold(rows, cp), tenant),
                             "the tenant's counts in the live version, those not 0: the log "
                             "folded up to the position returned")


@STEP.check(task=4, backs=(ONE_STATEMENT, READ))
def a_read_is_one_snapshot(impl: ModuleType) -> None:
    """a batch or a switch committing during read(): counts and position still agree"""

    def make(here: Lab) -> tuple[Database, Callable[[], object]]:
        db, _ = history_db(impl, here, 81, size=12)
        for _ in range(3):
            model.start(db, "acme", 30.0)
        projector(impl, db).project_batch(5)
        return db, partial(projector(impl, db).read, "acme")

    def batch(other: Database) -> None:
        with other.transaction():
            projector(impl, other).take(f"{NAME}@1", 1000)

    def switch(other: Database) -> None:
        projector(impl, other).rebuild(2, every=1000)

    seen = statements_of(make)
    for what, write in (("took a batch", batch), ("rebuilt version 2 and switched",
                                                        switch)):
        for k in range(1, len(seen) + 1):
            with lab() as here:
                db, action = make(here)
                rows = model.log(db)
                tap = committing_before(here, db, k, write)
                db.before = tap
                try:
                    got = action()
                finally:
                    db.before = None
                called = (f"read('acme') while another connection {what} just before its "
                          f"statement {k} ({seen[k - 1][:50]!r})")
                expect_equal(f"the counts {called} returned, at position "
                             f"{getattr(got, 'position', '?')}", getattr(got, "counts", got),
                             model.tenant_counts(model.fold(rows, getattr(got, "position", 0)),
                                                 "acme"),
                             "read the live version, its checkpoint and its counts in ONE "
                             "statement: at READ COMMITTED each statement sees its own "
                             "snapshot, and a commit between two pairs one position's counts "
                             "with another's")


@STEP.check(task=4, backs=(AGE, HELD, READ_INPUT))
def read_keeps_the_contract(impl: ModuleType) -> None:
    """read() says how old its answer is, refuses a stale one and waits for your write"""
    with lab() as here:
        db = fresh(impl, here)
        clock = Clock(100.0)
        p = impl.Projector(db, name=NAME, clock=clock)
        limit = float(promised(impl).staleness_s)
        runs = [model.start(db, "acme", 100.0) for _ in range(3)]
        p.project_batch(1)
        for now, age in ((99.0, 0.0), (100.0, 0.0), (100.0 + limit / 2, limit / 2),
                         (100.0 + limit, limit)):
            clock.now = now
            got = p.read("acme")
            expect_equal(f"read('acme').age, events 2 and 3 (recorded at 100.0) not taken, "
                         f"the clock at {now}", got.age, age,
                         "clock() minus the recorded_at of the first event after the "
                         "checkpoint, never below 0.0")
        clock.now = 100.0 + limit + 0.5
        expect_raises(f"read('acme') with the oldest untaken event {limit + 0.5} s old, "
                      f"contract().staleness_s being {limit}", partial(p.read, "acme"),
                      (impl.TooStale,), "an answer older than the contract allows is refused, "
                      "not returned")
        expect_raises("read('acme', after=3), the view at checkpoint 1",
                      partial(p.read, "acme", after=3), (impl.NotCaughtUp,),
                      "read-your-writes: the view has not taken position 3 yet")
        while p.project_batch(5):
            pass
        got = p.read("acme", after=3)
        expect_equal("read('acme', after=3) once the view took every event, the clock far "
                     "ahead", (got.counts, got.position, got.age),
                     ({"started": len(runs)}, 3, 0.0),
                     "caught up: the age is 0.0 however late it is, and after=3 is served")
        # A gap in the positions, as a rolled-back append leaves one on PostgreSQL.
        gone = model.start(db, "acme", 100.0)
        model.start(db, "acme", 100.0)
        db.execute("DELETE FROM outbox WHERE position = ?",
                   (model.checkpoint_of(db, f"{NAME}@1") + 1,))
        expect_raises(f"read('acme') with the clock at {clock.now}, the view at position 3, "
                      f"no event at position 4 (a rolled-back append, run {gone}) and the one "
                      "at 5 recorded at 100.0", partial(p.read, "acme"), (impl.TooStale,),
                      "the first event after the checkpoint is the lowest position above it, "
                      "not the checkpoint + 1: positions can have gaps (on PostgreSQL, "
                      "wherever an append rolled back, as a sequence never gives a number back)")
        for called, action in [("read('')", partial(p.read, "")),
                               ("read(None)", partial(p.read, None)),
                               ("read('acme', after=-1)", partial(p.read, "acme", after=-1)),
                               ("read('acme', after=True)", partial(p.read, "acme", after=True)),
                               ("read('acme', after='3')", partial(p.read, "acme", after="3")),
                               ("read('acme') with a clock giving None",
                                partial(impl.Projector(db, name=NAME, clock=lambda: None).read,
                                        "acme")),
                               ("read('acme') with a clock giving nan",
                                partial(impl.Projector(db, name=NAME,
                                                       clock=lambda: math.nan).read, "acme"))]:
            expect_raises(called, action, (TypeError, ValueError),
                          "a tenant validate_name accepts, after an int of 0 or more, a clock "
                          "giving a finite number of seconds")


# Task 5: simpler considered --------------------------------------------------------------------

SIMPLER_OPTIONS = ("table+index", "inline counters", "etl summary")
FIGURES = ("read_mean_s", "write_s", "staleness_s", "refresh_s")


@STEP.check(task=5, backs=(SIMPLER,), backends=())
def the_simpler_options_were_weighed_with_a_measured_figure(impl: ModuleType) -> None:
    """simpler() weighs table+index, inline counters and the ETL summary, each with a figure"""
    got = impl.simpler()
    if not isinstance(got, tuple | list) or not all(isinstance(c, impl.Considered) for c in got):
        fail("simpler()", show(got), "a tuple of Considered(option, figure, measured, why)",
             "one Considered per simpler option")
    expect_equal("the options simpler() weighed", sorted(c.option for c in got),
                 sorted(SIMPLER_OPTIONS), "each of table+index, inline counters and etl "
                 "summary, once")
    for c in got:
        called = f"simpler(): Considered({c.option!r}, {c.figure!r}, {c.measured!r}, ...)"
        if c.figure not in FIGURES:
            fail(called, show(c.figure), f"one of {', '.join(FIGURES)}",
                 "the Figures field of step 06's bench that weighs against the option")
        m = c.measured
        if isinstance(m, bool) or not isinstance(m, int | float) or not 1e-7 <= m <= 3600:
            fail(called, show(m), "the figure's value in seconds, as your bench run measured "
                 "it (from 1e-7 to 3600)", "a number from cqrs-kata bench or notebook 06")
        if c.figure in ("read_mean_s", "write_s") and m >= 0.5:
            fail(called, show(m), "seconds: a read or a write measured by the bench takes "
                 "milliseconds or less", "figures.txt prints ms and µs; Considered.measured is "
                 "in seconds (14.9 ms is 0.0149)")
        if c.figure == "refresh_s" and c.option != "etl summary":
            fail(called, "refresh_s", "a figure this option has",
                 f"{c.option} has nothing to refresh: its refresh_s is None")
        words = c.why.split() if isinstance(c.why, str) else []
        if len(words) < 8:
            fail(called, show(c.why), "a sentence or two (8 words or more) on why",
                 "the number alone does not say what rules the option out for this view")
