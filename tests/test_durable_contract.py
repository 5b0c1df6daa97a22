"""Step 05's reference against its contract, the same suite on SQLite and on PostgreSQL.

In the spirit of the eventsourcing library's recorder tests: every test gets a fresh database
(a SQLite temp file, or a PostgreSQL database of its own) and ``db_factory``, which opens one
more connection to it, so that writers, projectors and readers can be separate connections as
they are separate processes in use. The kill storms (processes, SIGKILL) are in
tests/test_kill_storm.py; here everything runs in this process, statement by statement.
"""

from __future__ import annotations

import contextlib
import os
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from cqrs_kata.db import Database, DatabaseError, open_database, truth, view_counts
from cqrs_kata.steps.oracle import fold
from cqrs_kata.steps.step05 import pitfalls
from cqrs_kata.steps.step05.projector_process import KillPointError, kill_point
from solutions.step02 import MAX_NAME_LENGTH
from solutions.step03 import Lag
from solutions.step05 import MAX_BATCH, CheckpointMoved, DurableLog, DurableProjector

# make quick leaves these out: two projectors interleaved at every statement, on both
# databases.
pytestmark = pytest.mark.slow

Factory = Callable[[], Database]
TABLES = ("runs", "outbox", "counts", "checkpoints", "dead_letters")


@pytest.fixture(params=["sqlite", "postgresql"])
def where(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Where the fresh database is: a SQLite path or a PostgreSQL DSN."""
    if request.param == "sqlite":
        return str(tmp_path / "step05.db")
    return str(request.getfixturevalue("pg_dsn"))


@pytest.fixture
def db_factory(where: str) -> Iterator[Factory]:
    """Opens a new connection to the test's one fresh database each time it is called."""
    opened: list[Database] = []

    def connect() -> Database:
        opened.append(open_database(where))
        return opened[-1]

    yield connect
    for db in opened:
        db.close()


def snapshot(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table of step 05, in a fixed order: equal snapshots, equal states."""
    return {t: sorted((tuple(r) for r in db.execute(f"SELECT * FROM {t}").fetchall()), key=repr)
            for t in TABLES}


def folded(db: Database, view: str = "dashboard") -> dict[str, dict[str, int]]:
    """What ``view`` must hold: the outbox up to its checkpoint, counted afresh."""
    return fold(db.execute(
        "SELECT tenant, status FROM outbox WHERE position <= COALESCE((SELECT position FROM "
        "checkpoints WHERE view = ?), 0) ORDER BY position", (view,)).fetchall())


def catch_up(projector: DurableProjector) -> int:
    taken = 0
    while n := projector.project_batch():
        taken += n
    return taken


class Crash(Exception):
    """Raised by a ``before`` hook: the process "dies" just before a statement."""


def crash_at(db: Database, k: int) -> list[str]:
    """Make ``db`` raise Crash just before its ``k``-th statement from now; return the SQL
    seen so far (to know when ``k`` went past the end)."""
    seen: list[str] = []

    def before(sql: str) -> None:
        seen.append(sql)
        if len(seen) == k:
            raise Crash(sql)

    db.before = before
    return seen


def runs_for(n: int, start: int = 0) -> list[tuple[str, str]]:
    return [(f"tenant-{(start + i) % 3}", ("ok", "fail", "ok", "cancelled")[(start + i) % 4])
            for i in range(n)]


# Recording -----------------------------------------------------------------------------------

def test_positions_count_from_1_in_commit_order(db_factory: Factory) -> None:
    a, b = db_factory(), db_factory()
    clock = iter(range(100, 200))
    log_a, log_b = DurableLog(a, lambda: float(next(clock))), DurableLog(b)
    assert log_a.record("t1", "ok") == 1
    assert log_b.record_many([("t2", "ok"), ("t1", "fail"), ("t2", "ok")]) == [2, 3, 4]
    assert log_a.record_many([]) == []
    assert log_a.record_many((("t3", "ok"),)) == [5]
    rows = a.execute("SELECT o.position, o.run_id, o.tenant, o.status, r.tenant, r.status "
                     "FROM outbox o JOIN runs r ON r.id = o.run_id ORDER BY o.position").fetchall()
    assert [tuple(r[:1]) + tuple(r[2:4]) for r in rows] == [
        (1, "t1", "ok"), (2, "t2", "ok"), (3, "t1", "fail"), (4, "t2", "ok"), (5, "t3", "ok")]
    assert all(r[2:4] == r[4:6] for r in rows), "an event says other than its run"
    assert len({r[1] for r in rows}) == 5, "two events for one run"
    first = a.execute("SELECT recorded_at FROM outbox WHERE position = 1").fetchone()[0]
    assert first == 100.0, "recorded_at comes from the log's clock"


def test_a_crash_at_any_statement_of_record_many_writes_nothing(db_factory: Factory) -> None:
    db = db_factory()
    log = DurableLog(db)
    log.record("before", "ok")
    k = 0
    while True:
        k += 1
        before = snapshot(db)
        seen = crash_at(db, k)
        try:
            log.record_many(runs_for(3))
        except Crash:
            assert snapshot(db) == before, f"a crash before statement {k} ({seen[-1]!r}) " \
                                           "left part of the runs written"
            continue
        finally:
            db.before = None
        break
    assert k > 5, f"record_many of 3 runs ran only {k - 1} statements"
    assert db_factory().execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 4
    after = log.record("after", "ok")  # the connection is fine after every crash
    # PostgreSQL's sequences are not rolled back: the crashed appends leave gaps, no disorder.
    assert after == 5 if db.dialect == "sqlite" else after > 4


def test_projecting_in_batches_equals_the_truth(db_factory: Factory) -> None:
    writer, reader = db_factory(), db_factory()
    log, projector = DurableLog(writer), DurableProjector(db_factory())
    assert projector.project_batch() == 0 and projector.checkpoint() == 0
    done = 0
    for size, limit in ((5, 1), (7, 2), (30, 7), (1, 1000), (500, 1000), (0, 3)):
        log.record_many(runs_for(size, done))
        done += size
        expected = min(limit, done - projector.checkpoint())
        assert projector.project_batch(limit) == expected
        assert view_counts(reader, "dashboard") == folded(reader)
    catch_up(projector)
    assert projector.checkpoint() == done
    assert view_counts(reader, "dashboard") == truth(reader)
    assert projector.summary("tenant-0") == truth(reader)["tenant-0"]
    assert projector.summary("nobody") == {}


def test_a_crash_at_any_statement_of_project_batch_changes_nothing(db_factory: Factory) -> None:
    db = db_factory()
    log, projector = DurableLog(db_factory()), DurableProjector(db)
    log.record_many(runs_for(10))
    db.execute("INSERT INTO outbox (run_id, tenant, status) VALUES (NULL, '', 'ok')")  # poison
    for round_ in ("first batch (checkpoint inserted)", "later batch (checkpoint updated)"):
        k = 0
        while True:
            k += 1
            before = snapshot(db)
            seen = crash_at(db, k)
            try:
                taken = projector.project_batch(100)
            except Crash:
                assert snapshot(db) == before, f"{round_}: a crash before statement {k} " \
                                               f"({seen[-1]!r}) left part of the batch"
                continue
            finally:
                db.before = None
            break
        assert taken == 11 and k > 5, (round_, taken, k)
        assert view_counts(db, "dashboard") == truth(db)  # poison events have no run
        log.record_many(runs_for(10, 10))
        db.execute("INSERT INTO outbox (run_id, tenant, status) VALUES (NULL, 'x', NULL)")
    assert len(projector.dead_letters()) == 2


def test_a_crash_at_any_statement_of_rebuild_leaves_the_live_view(db_factory: Factory) -> None:
    db = db_factory()
    log, projector = DurableLog(db_factory()), DurableProjector(db)
    log.record_many(runs_for(40))
    catch_up(projector)
    db.execute("UPDATE counts SET n = n + 5")  # wrong, so that only a real rebuild fixes it
    log.record_many(runs_for(5, 40))
    live = "SELECT * FROM counts WHERE view = 'dashboard' ORDER BY tenant, status"
    k = 0
    while True:
        k += 1
        before = db.execute(live).fetchall(), projector.checkpoint()
        seen = crash_at(db, k)
        try:
            projector.rebuild(every=15)
        except Crash:
            db.before = None
            assert (db.execute(live).fetchall(), projector.checkpoint()) == before, \
                f"a crash before statement {k} ({seen[-1]!r}) changed the live view"
            continue
        finally:
            db.before = None
        break
    assert k > 10
    assert view_counts(db, "dashboard") == truth(db) and projector.checkpoint() == 45
    assert db.execute("SELECT COUNT(*) FROM counts WHERE view <> 'dashboard'").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM checkpoints").fetchone()[0] == 1


# Two projectors on one view ------------------------------------------------------------------

class Stepper:
    """Runs ``action(3)`` (a batch of 3) in a thread one statement at a time, as the test
    allows."""

    def __init__(self, db: Database, action: Callable[[int], int]) -> None:
        self.cond = threading.Condition()
        self.allowed, self.seen, self.done = 0, 0, False
        self.result: int | BaseException | None = None
        db.before = self._before
        self.thread = threading.Thread(target=self._run, args=(action,), daemon=True)
        self.thread.start()

    def _before(self, sql: str) -> None:
        with self.cond:
            self.seen += 1
            self.cond.notify_all()
            while self.seen > self.allowed:
                self.cond.wait()

    def _run(self, action: Callable[[int], int]) -> None:
        try:
            self.result = action(3)
        except BaseException as error:  # handed to the test
            self.result = error
        with self.cond:
            self.done = True
            self.cond.notify_all()

    def run_to(self, n: float, wait: float = 0.1) -> None:
        """Let it run statements up to number ``n``; return once it waits before the next,
        has finished, or is held inside one by the database (``wait`` seconds)."""
        with self.cond:
            self.allowed = n  # type: ignore[assignment]
            self.cond.notify_all()
            self.cond.wait_for(lambda: self.done or self.seen > n, wait)

    def finish(self) -> int | BaseException | None:
        """Let it run to its end (and wait for that: call ``run_to(inf)`` on every stepper
        first, as one may be waiting inside the database for another)."""
        self.run_to(float("inf"))
        self.thread.join(30)
        assert not self.thread.is_alive(), "a projector hung"
        return self.result


def test_two_projectors_interleaved_at_every_statement_boundary_never_double_count(
        db_factory: Factory) -> None:
    """A runs k statements, then B runs j, then A ends, then B: for every k and j, both on a
    view's first batch (checkpoint inserted) and on a later one (checkpoint updated)."""
    a, b, reader = db_factory(), db_factory(), db_factory()
    log = DurableLog(db_factory())
    log.record_many(runs_for(20))
    for k in range(7):  # project_batch runs 6 statements (BEGIN ... COMMIT)
        for j in range(7):
            view = f"v{k}{j}"
            for round_ in (1, 2):
                start = DurableProjector(reader, view).checkpoint()
                one = Stepper(a, DurableProjector(a, view).project_batch)
                two = Stepper(b, DurableProjector(b, view).project_batch)
                one.run_to(k)
                two.run_to(j)
                one.run_to(float("inf"))  # A may now wait for B's lock: B goes on regardless
                two.run_to(float("inf"))
                results = [one.finish(), two.finish()]
                taken = [r for r in results if isinstance(r, int)]
                other = [r for r in results if not isinstance(r, int | CheckpointMoved)]
                assert not other, f"k={k} j={j} round {round_}: {other}"
                moved = DurableProjector(reader, view).checkpoint() - start
                assert sum(taken) == moved, f"k={k} j={j} round {round_}: took {taken}, " \
                                            f"checkpoint moved {moved}"
                assert 3 <= moved <= 6
                assert view_counts(reader, view) == folded(reader, view), (k, j, round_)
            a.before = b.before = None


def test_two_projectors_in_threads_at_once_with_a_writer(db_factory: Factory) -> None:
    log = DurableLog(db_factory())
    stop = threading.Event()
    errors: list[BaseException] = []
    taken = [0, 0]

    def project(i: int) -> None:
        projector = DurableProjector(db_factory())
        try:
            while not stop.is_set() or projector.lag().events:
                with contextlib.suppress(CheckpointMoved):
                    taken[i] += projector.project_batch(7)
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=project, args=(i,)) for i in (0, 1)]
    for t in threads:
        t.start()
    for i in range(150):
        log.record_many(runs_for(1 + i % 4, i))
    stop.set()
    for t in threads:
        t.join(60)
    assert not errors
    reader = db_factory()
    total = reader.execute("SELECT COUNT(*) FROM outbox").fetchone()[0]
    assert sum(taken) == total and view_counts(reader, "dashboard") == truth(reader)


# Lag, rebuild, dead letters ------------------------------------------------------------------

def test_lag_counts_events_after_the_checkpoint_and_the_age_of_the_first(
        db_factory: Factory) -> None:
    now = [1000.0]
    log = DurableLog(db_factory(), lambda: now[0])
    projector = DurableProjector(db_factory(), clock=lambda: now[0])
    assert projector.lag() == Lag(0, 0.0)
    for t in (1000.0, 1002.5, 1007.0):
        now[0] = t
        log.record("t", "ok")
    now[0] = 1010.0
    assert projector.lag() == Lag(3, 10.0)
    projector.project_batch(2)
    assert projector.lag() == Lag(1, 3.0)
    now[0] = 900.0  # a clock that went back: never a negative age
    assert projector.lag() == Lag(1, 0.0)
    projector.project_batch()
    assert projector.lag() == Lag(0, 0.0)


def test_rebuild_swaps_in_the_new_view_at_once_for_a_reader(db_factory: Factory) -> None:
    db, reader, writer = db_factory(), db_factory(), db_factory()
    log, projector = DurableLog(writer), DurableProjector(db)
    log.record_many(runs_for(300))
    catch_up(projector)
    db.execute("UPDATE counts SET n = n * 2")  # a view gone wrong: what a rebuild is for
    old = view_counts(reader, "dashboard")
    progress: list[tuple[int, int]] = []

    def on_progress(done: int, total: int) -> None:
        progress.append((done, total))
        assert view_counts(reader, "dashboard") == old, "a reader saw a half-built view"
        log.record("late", "ok")  # writers go on meanwhile

    swapped = False

    def before(sql: str) -> None:
        nonlocal swapped
        swapped = swapped or sql.startswith("UPDATE counts SET view")
        if swapped and sql == "COMMIT":  # the swap is done but not committed
            assert view_counts(reader, "dashboard") == old

    db.before = before
    projector.rebuild(on_progress, every=70)
    db.before = None
    assert progress == [(70, 300), (140, 300), (210, 300), (280, 300), (300, 300)]
    assert view_counts(reader, "dashboard") == truth(reader)
    assert projector.checkpoint() == 305
    empty = DurableProjector(db_factory(), "elsewhere")
    seen: list[tuple[int, int]] = []
    DurableLog(db).record  # noqa: B018 - the outbox is not empty; a view of its own is
    empty.rebuild(lambda d, t: seen.append((d, t)))
    assert seen == [(305, 305)] and view_counts(reader, "elsewhere") == truth(reader)


def test_rebuild_of_an_empty_outbox_reports_once(db_factory: Factory) -> None:
    projector = DurableProjector(db_factory())
    seen: list[tuple[int, int]] = []
    projector.rebuild(lambda d, t: seen.append((d, t)))
    assert seen == [(0, 0)] and projector.checkpoint() == 0


def test_two_rebuilds_at_once_never_mix(db_factory: Factory) -> None:
    db = db_factory()
    DurableLog(db).record_many(runs_for(3000))
    other = DurableProjector(db_factory())

    def meanwhile(done: int, total: int) -> None:
        if done == 1500:
            other.rebuild(every=1000)

    with pytest.raises(CheckpointMoved, match="another rebuild"):
        DurableProjector(db).rebuild(meanwhile, every=500)
    assert view_counts(db, "dashboard") == truth(db)


def test_poison_events_become_dead_letters_once(db_factory: Factory) -> None:
    db = db_factory()
    log, projector = DurableLog(db), DurableProjector(db_factory())
    log.record("a", "ok")
    poison = [(None, "ok"), ("", "ok"), ("b", "   "), ("x" * (MAX_NAME_LENGTH + 1), "ok"),
              ("tab\there", "ok"), ("c", None)]
    for tenant, status in poison:
        db.execute("INSERT INTO outbox (run_id, tenant, status, recorded_at) "
                   "VALUES (NULL, ?, ?, 0)", (tenant, status))
    log.record("a", "fail")
    assert projector.project_batch(3) == 3 and projector.project_batch() == 5
    dead = projector.dead_letters()
    assert [d.position for d in dead] == [2, 3, 4, 5, 6, 7]
    assert "tenant" in dead[0].reason and "status" in dead[2].reason
    assert view_counts(db, "dashboard") == {"a": {"ok": 1, "fail": 1}}
    assert projector.checkpoint() == 8 and projector.lag().events == 0
    projector.rebuild(every=2)
    assert projector.dead_letters() == dead
    assert view_counts(db, "dashboard") == {"a": {"ok": 1, "fail": 1}}


# PostgreSQL's out-of-order commits -----------------------------------------------------------

@pytest.mark.parametrize("record", ["unserialised_record", "DurableLog.record"])
def test_an_append_that_commits_late_is_never_skipped(record: str, pg_dsn: str) -> None:
    """Two writers on PostgreSQL: the first takes position p, then waits before its COMMIT;
    the second takes p + 1 and commits; a projector runs; then the first commits."""
    slow, fast, proj = (open_database(pg_dsn) for _ in range(3))
    projector = DurableProjector(proj)

    def write(db: Database, tenant: str) -> None:
        if record == "unserialised_record":
            pitfalls.unserialised_record(db, tenant, "ok")
        else:
            DurableLog(db).record(tenant, "ok")

    write(fast, "warm-up")
    at_commit, go_on = threading.Event(), threading.Event()

    def hold_commit(sql: str) -> None:
        if sql == "COMMIT":
            at_commit.set()
            go_on.wait(10)

    slow.before = hold_commit
    first = threading.Thread(target=write, args=(slow, "slow"))
    first.start()
    assert at_commit.wait(10)
    second = threading.Thread(target=write, args=(fast, "fast"))
    second.start()
    second.join(0.5)  # unserialised: done; with lock_appends: waits for the first
    catch_up(projector)
    go_on.set()
    first.join(10)
    second.join(10)
    for _ in range(3):
        write(fast, "later")
        catch_up(projector)
    lost = {t: s for t, s in truth(proj).items() if view_counts(proj, "dashboard").get(t) != s}
    if record == "unserialised_record":
        assert lost == {"slow": {"ok": 1}}, "the late commit should have been skipped"
        assert projector.lag().events == 0, "and lag() cannot even see it"
    else:
        assert lost == {}
    for db in (slow, fast, proj):
        db.close()


# Bad input -----------------------------------------------------------------------------------

BAD_INPUT: dict[str, tuple[Callable[[DurableLog, DurableProjector], object], type[Exception],
                           str]] = {
    "tenant not a str": (lambda log, p: log.record(5, "ok"),  # type: ignore[arg-type]
                         TypeError, "pass the tenant as text"),
    "status None": (lambda log, p: log.record("t", None),  # type: ignore[arg-type]
                    TypeError, "pass the status as text"),
    "empty tenant": (lambda log, p: log.record("", "ok"), ValueError, "pass the tenant's name"),
    "blank status": (lambda log, p: log.record("t", " \u3000 "), ValueError,
                     "pass the status's name"),
    "over-long tenant": (lambda log, p: log.record("x" * (MAX_NAME_LENGTH + 1), "ok"),
                         ValueError, "pass a short tenant name"),
    "NUL in a name": (lambda log, p: log.record("a\x00b", "ok"), ValueError, "pass plain text"),
    "newline in a name": (lambda log, p: log.record("t", "ok\n"), ValueError, "plain text"),
    "lone surrogate": (lambda log, p: log.record("\ud800", "ok"), ValueError, "plain text"),
    "runs not a list": (lambda log, p: log.record_many(iter([("t", "ok")])),  # type: ignore
                        TypeError, "list of (tenant, status) pairs"),
    "runs a str": (lambda log, p: log.record_many("ab"),  # type: ignore[arg-type]
                   TypeError, "list of (tenant, status) pairs"),
    "one pair, unwrapped": (lambda log, p: log.record_many(("t", "ok")),  # type: ignore
                            TypeError, "(tenant, status) pair"),
    "a triple": (lambda log, p: log.record_many([("t", "ok", 1)]),  # type: ignore[list-item]
                 TypeError, "(tenant, status) pair"),
    "bad last run of many": (lambda log, p: log.record_many([("t", "ok")] * 3 + [("t", "")]),
                             ValueError, "pass the status's name"),
    "limit 0": (lambda log, p: p.project_batch(0), ValueError, f"1 to {MAX_BATCH}"),
    "negative limit": (lambda log, p: p.project_batch(-5), ValueError, f"1 to {MAX_BATCH}"),
    "limit True": (lambda log, p: p.project_batch(True), TypeError, "an int"),
    "limit a float": (lambda log, p: p.project_batch(10.0),  # type: ignore[arg-type]
                      TypeError, "an int"),
    "limit a str": (lambda log, p: p.project_batch("10"),  # type: ignore[arg-type]
                    TypeError, "an int"),
    "limit too big": (lambda log, p: p.project_batch(MAX_BATCH + 1), ValueError,
                      f"1 to {MAX_BATCH}"),
    "every 0": (lambda log, p: p.rebuild(every=0), ValueError, "1 or more"),
    "negative every": (lambda log, p: p.rebuild(every=-1), ValueError, "1 or more"),
    "every a float": (lambda log, p: p.rebuild(every=1.5),  # type: ignore[arg-type]
                      TypeError, "an int"),
    "on_progress not callable": (lambda log, p: p.rebuild("print"),  # type: ignore[arg-type]
                                 TypeError, "a function taking (done, total)"),
    "view not a str": (lambda log, p: DurableProjector(log.db, 7),  # type: ignore[arg-type]
                       TypeError, "pass the view as text"),
    "blank view": (lambda log, p: DurableProjector(log.db, " "), ValueError, "view's name"),
    "a sqlite3 connection as the database": (
        lambda log, p: DurableLog(sqlite3.connect(":memory:")).record("t", "ok"),  # type: ignore[arg-type]
        TypeError, "pass open_database(path)"),
    "a path as the database": (lambda log, p: DurableProjector("kata.db"),  # type: ignore[arg-type]
                               TypeError, "pass open_database(path)"),
    "a clock that returns NaN": (
        lambda log, p: DurableLog(log.db, clock=lambda: float("nan")).record("t", "ok"),
        ValueError, "finite number of seconds"),
    "a clock that returns None": (
        lambda log, p: DurableLog(log.db, clock=lambda: None).record("t", "ok"),  # type: ignore[arg-type, return-value]
        TypeError, "a clock returns a float"),
    "nested transaction": (lambda log, p: _nested(log.db), DatabaseError,
                           "put everything in the outer one"),
    "malformed kill point": (lambda log, p: kill_point("COMMIT#0"), KillPointError,
                             "e.g. 'UPDATE checkpoints'"),
}
"""Each kind of bad input: what is done, the error it must raise, and a piece of its message
that says what to do instead. Every one leaves all five tables exactly as they were.

The kinds (31 here, on both databases; 8 more about the database file and server below): a
sqlite3 connection or a path as the database, a clock returning NaN or None, tenant not a str,
status None, empty tenant, blank status (Unicode space), over-long tenant, NUL in a name,
newline in a name, lone surrogate, runs not a list (an iterator), runs a str, one (tenant,
status) pair not wrapped in a list, a triple, a bad last run among good ones, limit 0, negative
limit, limit True, limit a float, limit a str, limit above MAX_BATCH, every 0, negative every,
every a float, on_progress not callable, view not a str, blank view, a nested transaction, a
malformed kill point; and below: a missing folder, a directory in place of the file, a corrupt
file (random bytes), a read-only file, a full database on record and on project_batch (SQLite's
max_page_count), a read-only PostgreSQL transaction, a PostgreSQL server that is not there. SQL
text as a name is no error: it is stored verbatim.
"""


def _nested(db: Database) -> None:
    with db.transaction(), db.transaction():
        pass


@pytest.mark.parametrize("kind", BAD_INPUT)
def test_bad_input_is_refused_clearly_and_changes_nothing(kind: str,
                                                          db_factory: Factory) -> None:
    action, error, advice = BAD_INPUT[kind]
    db = db_factory()
    log, projector = DurableLog(db), DurableProjector(db)
    log.record_many(runs_for(9))
    projector.project_batch(4)
    before = snapshot(db)
    with pytest.raises(error) as raised:
        action(log, projector)
    assert advice in str(raised.value), f"{kind}: {raised.value}"
    assert snapshot(db_factory()) == before and snapshot(db) == before
    assert log.record("t", "ok") >= 10  # and the connection still works


def test_bad_input_kinds_are_at_least_20() -> None:
    assert len(BAD_INPUT) + 8 >= 20


def test_sql_text_as_a_name_is_stored_verbatim(db_factory: Factory) -> None:
    db = db_factory()
    names = ["x'); DROP TABLE runs; --", 'Robert"; DELETE FROM counts WHERE ("1"="1',
             "50% off ?", "%s %(x)s ?"]
    log, projector = DurableLog(db), DurableProjector(db, names[3])
    for name in names:
        log.record(name, name)
    catch_up(projector)
    assert truth(db) == {name: {name: 1} for name in names}
    assert view_counts(db, names[3]) == truth(db)
    assert projector.summary(names[0]) == {names[0]: 1}


def _filled(path: Path) -> dict[str, list[tuple[Any, ...]]]:
    db = open_database(path)
    DurableLog(db).record_many(runs_for(9))
    DurableProjector(db).project_batch(4)
    state = snapshot(db)
    db.close()
    return state


@pytest.mark.parametrize("kind", ["missing folder", "directory in place of the file",
                                  "corrupt file"])
def test_a_path_that_is_no_database_is_refused_and_left_alone(kind: str,
                                                              tmp_path: Path) -> None:
    path = tmp_path / "step05.db"
    if kind == "missing folder":
        path = tmp_path / "nowhere" / "step05.db"
    elif kind == "directory in place of the file":
        path.mkdir()
    else:
        path.write_bytes(os.urandom(8192))
    before = path.read_bytes() if path.is_file() else None
    with pytest.raises(DatabaseError, match=r"[Gg]ive another path"):
        open_database(path)
    if kind == "missing folder":
        assert not path.parent.exists()
    elif kind == "directory in place of the file":
        assert path.is_dir() and not any(path.iterdir())
    else:
        assert path.read_bytes() == before


def test_a_read_only_database_file_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "step05.db"
    before = _filled(path)
    if os.geteuid() == 0:  # root writes any file it may read, unless the file is immutable
        if subprocess.run(["chattr", "+i", str(path)], capture_output=True).returncode:
            pytest.skip("running as root on a file system without chattr +i")
    else:
        path.chmod(0o444)
    try:
        db = open_database(path)
        with pytest.raises(DatabaseError, match="make it writable"):
            DurableLog(db).record("t", "ok")
        with pytest.raises(DatabaseError, match="make it writable"):
            DurableProjector(db).project_batch()
        assert snapshot(db) == before
        db.close()
    finally:
        if os.geteuid() == 0:
            subprocess.run(["chattr", "-i", str(path)], check=True)
        path.chmod(0o644)


def test_a_full_database_is_refused_and_left_alone(tmp_path: Path) -> None:
    path = tmp_path / "step05.db"
    _filled(path)
    db = open_database(path)
    log = DurableLog(db)
    log.record_many([(f"tenant {i}", "ok") for i in range(3000)])  # 3000 counts to come
    pages = db.execute("PRAGMA page_count").fetchone()[0]
    db.execute(f"PRAGMA max_page_count = {pages}")
    before = snapshot(db)
    with pytest.raises(DatabaseError, match="free space, or raise the limit"):
        log.record_many(runs_for(5000))
    assert snapshot(db) == before
    with pytest.raises(DatabaseError, match="free space, or raise the limit"):
        DurableProjector(db).project_batch(MAX_BATCH)
    assert snapshot(db) == before
    db.execute(f"PRAGMA max_page_count = {pages * 4}")
    assert log.record("t", "ok") == 3010
    assert catch_up(DurableProjector(db)) == 3006
    db.close()


def test_a_read_only_postgresql_transaction_is_refused_and_changes_nothing(pg_dsn: str) -> None:
    db = open_database(pg_dsn)
    DurableLog(db).record_many(runs_for(9))
    before = snapshot(db)
    db.execute("SET default_transaction_read_only = on")
    with pytest.raises(DatabaseError, match="make it writable"):
        DurableLog(db).record("t", "ok")
    with pytest.raises(DatabaseError, match="make it writable"):
        DurableProjector(db).project_batch()
    assert snapshot(db) == before
    db.close()


def test_a_postgresql_server_that_is_not_there_is_refused_clearly(tmp_path: Path) -> None:
    pytest.importorskip("psycopg")
    dsn = f"postgresql://nobody@/x?host={tmp_path}&connect_timeout=2"
    started = time.monotonic()
    with pytest.raises(DatabaseError, match="is the server running"):
        open_database(dsn)
    assert time.monotonic() - started < 10
