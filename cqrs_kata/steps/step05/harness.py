"""Step 05's model-based check: the learner's durable projector beside a plain model of it.

Hypothesis generates sequences of what happens to a database shared by processes: writers
append runs (through the learner's ``DurableLog`` when ``full``, else with plain SQL), a buggy
writer puts poison events in the outbox, two projectors on their own connections take batches
of every size, a process dies before any statement of a batch (or of a record, or of a
rebuild) and is restarted, bad limits are refused, ``lag()`` is asked and the view is rebuilt.
The same sequence is played against a model made of plain lists. After every step what the
database committed is read on a connection of its own and compared with the model: the view's
counts, its checkpoint, its dead letters, and (``full``) the runs and the outbox.

A difference is reported as a short failing sequence (greedily shortened, within a time cap, so
that a check stays within its time limit) in numbered plain steps, with what the database says
and what the model says (:class:`HarnessFailure`, as in step 04).
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar

from hypothesis import strategies as st

from cqrs_kata.db import Database, SQLiteDatabase, truth, view_counts
from cqrs_kata.platform import scratch_folder
from cqrs_kata.steps.driver import HarnessFailure, Player, search
from cqrs_kata.steps.oracle import Counts, fold
from cqrs_kata.steps.step05.lab import (
    VIEW,
    Clock,
    Tap,
    append,
    quick,
    run_tapped,
    valid,
)

TENANTS = ("t1", "t2")
STATUSES = ("ok", "fail")
POISON: tuple[tuple[object, object], ...] = (("", "ok"), (None, "ok"), ("t1", "x" * 101),
                                             ("t\x002", "ok"), (b"t1", "fail"))
BAD_LIMITS: tuple[object, ...] = (0, -1, True, 1.5, "2", None)
DEFAULT_EXAMPLES = 100
SHRINK_SECONDS = 2.0
"""Longest spent shortening a failing sequence (the check itself has 10 s)."""


# Operations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    runs: tuple[tuple[str, str], ...]
    later: float


@dataclass(frozen=True)
class Poison:
    kind: int


@dataclass(frozen=True)
class Batch:
    who: int
    limit: int | None


@dataclass(frozen=True)
class CrashBatch:
    who: int
    at: int
    limit: int


@dataclass(frozen=True)
class Restart:
    who: int


@dataclass(frozen=True)
class BadLimit:
    limit: object


@dataclass(frozen=True)
class CrashWrite:
    at: int
    runs: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class Lag:
    later: float


@dataclass(frozen=True)
class Rebuild:
    every: int


@dataclass(frozen=True)
class CrashRebuild:
    at: int
    every: int


Operation = (Write | Poison | Batch | CrashBatch | Restart | BadLimit | CrashWrite | Lag | Rebuild
             | CrashRebuild)


def operations(full: bool) -> st.SearchStrategy[list[Operation]]:
    run = st.tuples(st.sampled_from(TENANTS), st.sampled_from(STATUSES))
    who = st.integers(0, 1)
    some: list[st.SearchStrategy[Any]] = [
        st.builds(Write, st.lists(run, min_size=1, max_size=1 if not full else 3).map(tuple),
                  st.sampled_from((0.0, 1.0, 2.5))),
        st.builds(Write, st.lists(run, min_size=1, max_size=1).map(tuple), st.just(1.0)),
        st.builds(Poison, st.integers(0, len(POISON) - 1)),
        st.builds(Batch, who, st.one_of(st.none(), st.integers(1, 4))),
        st.builds(CrashBatch, who, st.integers(1, 9), st.integers(1, 4)),
        st.builds(Restart, who),
        st.builds(BadLimit, st.sampled_from(BAD_LIMITS)),
    ]
    if full:
        some += [
            st.builds(CrashWrite, st.integers(1, 8), st.lists(run, min_size=1, max_size=2)
                      .map(tuple)),
            st.builds(Lag, st.sampled_from((0.0, 3.0))),
            st.builds(Rebuild, st.integers(1, 3)),
            st.builds(CrashRebuild, st.integers(1, 12), st.integers(1, 3)),
        ]
    return st.lists(st.one_of(*some), max_size=12)


# The model ----------------------------------------------------------------------------------


@dataclass
class Model:
    """Events as (tenant, status, recorded_at, is a run); position i + 1 is events[i]."""

    events: list[tuple[object, object, float, bool]] = field(default_factory=list)
    checkpoint: int = 0
    dead: set[int] = field(default_factory=set)
    """Poison positions a batch took: they must be in dead_letters."""

    def view(self) -> Counts:
        return fold((str(t), str(s)) for t, s, _, _ in self.events[: self.checkpoint]
                    if valid(t, s))

    def poison(self, upto: int) -> set[int]:
        return {i for i, (t, s, _, _) in enumerate(self.events[:upto], 1) if not valid(t, s)}

    def batch(self, limit: int) -> int:
        taken = range(self.checkpoint + 1, min(self.checkpoint + limit, len(self.events)) + 1)
        if taken:
            self.dead |= self.poison(taken[-1]) - self.poison(self.checkpoint)
            self.checkpoint = taken[-1]
        return len(taken)

    def truth(self) -> Counts:
        return fold((str(t), str(s)) for t, s, _, run in self.events if run)


_WHY = {
    "write": "record_many() commits each run with its event, at the next positions, with "
             "self.clock() as recorded_at.",
    "poison": "A poison event goes to dead_letters when a batch takes it; it is never counted.",
    "batch": "project_batch(limit) takes the next limit events after the checkpoint row (BATCH "
             "with no limit), counts the valid ones, dead-letters the others, moves the "
             "checkpoint to the last one, in one transaction, and returns how many it took.",
    "crash": "A process killed before any statement leaves only what its transactions "
             "committed: a batch (or a record, or the rebuild's swap) is all there or not at "
             "all, and a new process on the same database carries on.",
    "bad": "A bad limit raises TypeError or ValueError and changes nothing.",
    "lag": "lag() counts the events after the checkpoint and ages the lowest of them with "
           "self.clock(), never below 0.0.",
    "rebuild": "rebuild() recomputes the live view from the whole outbox and sets its "
               "checkpoint to the last position, in one final transaction.",
}


@dataclass
class _Play(Player):
    impl: ModuleType
    full: bool
    folder: Path
    clock: Clock = field(default_factory=lambda: Clock(100.0))
    model: Model = field(default_factory=Model)
    steps: list[str] = field(default_factory=list)
    cause: str = ""
    opened: list[Database] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.path = self.folder / "harness.db"
        self.observer = self.open()
        self.dbs = [self.open(), self.open()]
        self.projectors = [self.projector(0), self.projector(1)]
        self.wdb = self.open()
        self.log: Any = self.impl.DurableLog(self.wdb, clock=self.clock) if self.full else None

    def open(self) -> SQLiteDatabase:
        db = quick(SQLiteDatabase(self.path, busy_seconds=2.0))
        self.opened.append(db)
        return db

    def projector(self, who: int) -> Any:
        return self.impl.DurableProjector(self.dbs[who], view=VIEW, clock=self.clock)

    def restart(self, who: int) -> None:
        self.dbs[who].before = None
        self.dbs[who].close()
        self.dbs[who] = self.open()
        self.projectors[who] = self.projector(who)

    def close(self) -> None:
        for db in self.opened:
            db.before = None
            with suppress(Exception):
                db.close()

    WHY: ClassVar[Mapping[str, str]] = _WHY
    UNEXPECTED: ClassVar[str] = ("no error: each step is something that happens to a shared "
                                 "database")

    def shown(self, value: object) -> str:
        return f"{value!r:.300}"

    def look(self) -> None:
        """Compare what the database committed with the model."""
        db, model = self.observer, self.model
        row = db.execute("SELECT position FROM checkpoints WHERE view = ?", (VIEW,)).fetchone()
        self.expect("the checkpoint row", int(row[0]) if row else 0, model.checkpoint)
        self.expect("the view (every tenant's counts)", view_counts(db, VIEW), model.view())
        dead = {int(p) for (p,) in db.execute("SELECT position FROM dead_letters WHERE view = ?",
                                              (VIEW,)).fetchall()}
        # A rebuild may set aside poison events it folds before its swap commits (or never).
        allowed = model.poison(len(model.events) if self.full else model.checkpoint)
        if not model.dead <= dead <= allowed:
            raise self.fail(f"the dead letters' positions are {sorted(dead)}",
                            f"{sorted(model.dead)} (every poison event a batch took)"
                            + (f", and at most {sorted(allowed)}" if allowed != model.dead
                               else ""))
        if self.full:
            self.expect("the runs (GROUP BY tenant, status)", truth(db), model.truth())
            rows = [tuple(r) for r in db.execute("SELECT tenant, status, recorded_at FROM "
                                                 "outbox ORDER BY position").fetchall()]
            self.expect("the outbox (tenant, status, recorded_at)", rows,
                        [(t, s, at) for t, s, at, _ in model.events])

    def call(self, called: str, action: Callable[[], object], expected: object) -> None:
        got = action()
        self.expect(f"what {called} returned", got, expected)

    def crash(self, db: Database, at: int, action: Callable[[], object]) -> Tap:
        tap = Tap(at)
        try:
            run_tapped(db, tap, action)
        except NotImplementedError:
            raise
        except Exception as error:  # raised before the tap crashed it
            raise self.fail(f"it raised {type(error).__name__}: {error}", "no error") from error
        return tap

    def write(self, runs: tuple[tuple[str, str], ...]) -> None:
        for tenant, status in runs:
            self.model.events.append((tenant, status, self.clock.now, True))

    def perform(self, op: Operation) -> None:
        model, clock = self.model, self.clock
        if isinstance(op, Write):
            clock.now += op.later
            first = len(model.events) + 1
            log = self.log
            if log is not None:
                self.step("write", f"at t={clock.now:g}: record_many({list(op.runs)})")
                self.call(f"record_many({list(op.runs)})", lambda: log.record_many(list(op.runs)),
                          list(range(first, first + len(op.runs))))
            else:
                self.step("write", f"at t={clock.now:g}: a writer commits {list(op.runs)}")
                for tenant, status in op.runs:
                    append(self.wdb, tenant, status, clock.now, True)
            self.write(op.runs)
        elif isinstance(op, Poison):
            bad_tenant, bad_status = POISON[op.kind]
            self.step("poison", f"a buggy writer puts ({bad_tenant!r:.12}, {bad_status!r:.12}) "
                      "in the outbox")
            append(self.wdb, bad_tenant, bad_status, clock.now, False)
            model.events.append((bad_tenant, bad_status, clock.now, False))
        elif isinstance(op, Batch):
            limit = op.limit
            called = f"projector {'ab'[op.who]}: project_batch({'' if limit is None else limit})"
            self.step("batch", called)
            p = self.projectors[op.who]
            action = p.project_batch if limit is None else (lambda: p.project_batch(limit))
            self.call(called, action, model.batch(self.impl.BATCH if limit is None else limit))
        elif isinstance(op, CrashBatch):
            self.step("crash", f"projector {'ab'[op.who]}: project_batch({op.limit}), killed "
                      f"just before its statement {op.at}; restarted")
            p = self.projectors[op.who]
            tap = self.crash(self.dbs[op.who], op.at, lambda: p.project_batch(op.limit))
            if not tap.dead or tap.committed:
                model.batch(op.limit)
            self.restart(op.who)
        elif isinstance(op, Restart):
            self.step("crash", f"projector {'ab'[op.who]} restarted (a new process)")
            self.restart(op.who)
        elif isinstance(op, BadLimit):
            called = f"project_batch({op.limit!r})"
            self.step("bad", called)
            try:
                self.projectors[0].project_batch(op.limit)
            except (TypeError, ValueError):
                pass
            else:
                raise self.fail(f"{called} returned without an error", "TypeError or ValueError")
        elif isinstance(op, CrashWrite):
            assert self.log is not None
            self.step("crash", f"record_many({list(op.runs)}), killed just before its "
                      f"statement {op.at}; restarted")
            log = self.log
            tap = self.crash(self.wdb, op.at, lambda: log.record_many(list(op.runs)))
            if not tap.dead or tap.committed:
                self.write(op.runs)
            self.wdb.close()
            self.wdb = self.open()
            self.log = self.impl.DurableLog(self.wdb, clock=clock)
        elif isinstance(op, Lag):
            clock.now += op.later
            self.step("lag", f"at t={clock.now:g}: lag()")
            got = self.projectors[0].lag()
            waiting = model.events[model.checkpoint:]
            age = max(0.0, clock.now - waiting[0][2]) if waiting else 0.0
            self.expect("lag() (events, oldest_age)",
                        (getattr(got, "events", got), getattr(got, "oldest_age", got)),
                        (len(waiting), age))
        elif isinstance(op, Rebuild):
            self.step("rebuild", f"projector a: rebuild(every={op.every})")
            self.projectors[0].rebuild(None, op.every)
            model.checkpoint = len(model.events)
        else:
            self.step("crash", f"projector a: rebuild(every={op.every}), killed just before its "
                      f"statement {op.at}; restarted")
            p = self.projectors[0]
            self.crash(self.dbs[0], op.at, lambda: p.rebuild(None, op.every))
            self.restart(0)
            row = self.observer.execute("SELECT position FROM checkpoints WHERE view = ?",
                                        (VIEW,)).fetchone()
            now = int(row[0]) if row else 0
            if now == len(model.events):
                model.checkpoint = now  # the swap committed: the new view is live
            elif now != model.checkpoint:
                raise self.fail(f"the checkpoint row is {now}",
                                f"{model.checkpoint} (the old view) or {len(model.events)} "
                                "(the rebuilt one)")



def play(impl: ModuleType, ops: list[Operation], full: bool) -> None:
    with tempfile.TemporaryDirectory(prefix="cqrs-kata-05-harness-", dir=scratch_folder(),
                                     ignore_cleanup_errors=True) as folder:
        world = _Play(impl, full, Path(folder))
        try:
            world.play(ops)
        finally:
            world.close()


def find(impl: ModuleType, full: bool, max_examples: int | None = None
         ) -> HarnessFailure | None:
    """Play generated sequences; return the failure of a short failing one, or None."""
    try:
        search(operations(full), lambda ops: play(impl, ops, full), max_examples,
               default=DEFAULT_EXAMPLES, shrink_seconds=SHRINK_SECONDS)
    except HarnessFailure as failure:
        return failure
    return None


def check(impl: ModuleType, full: bool) -> None:
    """Fail the course check with the shortest failing sequence found, if any."""
    failure = find(impl, full)
    if failure is not None:
        if full and failure.steps and "record_many(" in failure.steps[-1]:
            failure.why += (" It showed up in record_many, which is task 1's: if task 1's "
                            "checks fail, fix those first; if they pass, look for a "
                            "transaction or a lock that another call left open.")
        failure.fail_check()
