"""Step 06's comparison: every way to answer the dashboard, measured on the same workload.

One home for the measurements that ``cqrs-kata bench``, notebook 06 and
``benchmarks/step06_alternatives.py`` print and plot, and for the figures step 06's decision
function reads.

The dashboard question is step 01's: for one tenant, how many runs in each status
(``{status: count}``). Every option below answers it over the same ``runs`` table (and, for the
projector, the same ``outbox``) of ``cqrs_kata.db``, with its SQL kept short so it can be
shown: ``OPTIONS_SQL`` below, or an option's ``build_sql``, ``refresh_sql`` and ``read_sql``.

- :func:`workload` makes the rows (deterministic: a seed, a skewed mix of tenants and statuses;
  a smaller workload is the start of a larger one).
- :func:`options_for` gives the options a backend supports, each able to ``build``,
  ``refresh`` and ``read``; the tests check they all answer what ``truth`` does.
- :func:`measure` loads the workload at one size and measures every option side by side:
  one :class:`Figures` each.
- :func:`table`, :func:`headlines` and :func:`plot` show a list of figures.
"""

from __future__ import annotations

import contextlib
import random
import shutil
import statistics
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, fields
from pathlib import Path

from cqrs_kata.db import (
    EVENT_TYPE,
    EVENT_VERSION,
    Database,
    PostgresDatabase,
    SQLiteDatabase,
    postgres,
)
from cqrs_kata.platform import local_only
from cqrs_kata.steps.step06.figures import OPTIONS as OPTIONS  # measured here, used by callers
from cqrs_kata.steps.step06.figures import Figures as Figures
from cqrs_kata.steps.tables import Table

# The workload ------------------------------------------------------------------------------

SEED = 6
TENANTS = tuple(f"tenant-{i:03d}" for i in range(200))
TENANT_WEIGHTS = tuple(1 / (rank + 1) ** 1.1 for rank in range(len(TENANTS)))
"""Zipf-like: the busiest tenant has about a fifth of all runs, the quietest a few in 10,000."""
STATUSES = ("ok", "fail", "cancelled", "timeout")
STATUS_WEIGHTS = (90, 7, 2, 1)


def workload(rows: int, seed: int = SEED) -> list[tuple[str, str]]:
    """``rows`` runs as ``(tenant, status)`` pairs, the same for the same seed; the first
    ``n`` of a larger workload are the workload of size ``n``."""
    tenants = random.Random(seed).choices(TENANTS, TENANT_WEIGHTS, k=rows)
    statuses = random.Random(seed + 1).choices(STATUSES, STATUS_WEIGHTS, k=rows)
    return list(zip(tenants, statuses, strict=True))


def read_tenants(reads: int, seed: int = SEED) -> list[str]:
    """The tenants readers ask about, as skewed as the writes: busy tenants are read most."""
    return random.Random(seed + 2).choices(TENANTS, TENANT_WEIGHTS, k=reads)


# The options -------------------------------------------------------------------------------

Clock = Callable[[], float]
Holding = Callable[[], None]
"""Called inside a refresh's publishing transaction, just before it commits (with every lock
it takes held): ``measure`` checks there whether a reader on another connection must wait."""

REFRESHES_SQL = ("CREATE TABLE IF NOT EXISTS refreshes (view TEXT PRIMARY KEY, "
                 "refreshed_at {real} NOT NULL)")
RECORD_REFRESH = ("INSERT INTO refreshes (view, refreshed_at) VALUES (?, ?) "
                  "ON CONFLICT (view) DO UPDATE SET refreshed_at = excluded.refreshed_at")


def _as_counts(rows: Sequence[Sequence[object]]) -> dict[str, int]:
    return {str(status): int(str(n)) for status, n in rows if int(str(n))}


class Option:
    """One way to answer the dashboard. Subclasses set the SQL; most need nothing else."""

    name = ""
    build_sql: tuple[str, ...] = ()
    """Run once to set the option up over ``runs`` (idempotent: IF NOT EXISTS)."""
    refresh_sql: tuple[str, ...] = ()
    """Run in one transaction to bring the answer up to date; empty: nothing to refresh."""
    read_sql = ""
    """What a reader runs: ``?`` is the tenant; rows are ``(status, count)``."""
    backends: tuple[str, ...] = ("sqlite", "postgresql")

    def __init__(self, clock: Clock = time.time) -> None:
        self.clock = clock

    @property
    def refreshes(self) -> bool:
        return bool(self.refresh_sql)

    def build(self, db: Database) -> None:
        for sql in self.build_sql:
            db.execute(sql)

    def refresh(self, db: Database, holding: Holding | None = None) -> None:
        """Bring the answer up to date, recording when (its snapshot's start) in ``refreshes``."""
        started = self.clock()
        with db.transaction():
            for sql in self.refresh_sql:
                db.execute(sql)
            db.execute(RECORD_REFRESH, (self.name, started))
            if holding is not None:
                holding()

    def read(self, db: Database, tenant: str) -> dict[str, int]:
        return _as_counts(db.execute(self.read_sql, (tenant,)).fetchall())

    def staleness(self, db: Database, now: float | None = None) -> float:
        """How old the answer readers get is now: ``now`` minus the recorded refresh time
        (0.0 for an option that reads the truth each time)."""
        if not self.refreshes:
            return 0.0
        row = db.execute("SELECT refreshed_at FROM refreshes WHERE view = ?",
                         (self.name,)).fetchone()
        if row is None:
            return float("inf")  # never refreshed: no answer yet
        return (self.clock() if now is None else now) - float(row[0])


GROUP_BY_TENANT = "SELECT status, COUNT(*) FROM runs WHERE tenant = ? GROUP BY status"
INDEX_SQL = "CREATE INDEX IF NOT EXISTS runs_tenant_status ON runs (tenant, status)"
BARE_APPEND = "INSERT INTO runs (tenant, status) VALUES (?, ?)"


class NoIndex(Option):
    name = "no index"
    read_sql = GROUP_BY_TENANT


class TableIndex(Option):
    name = "table+index"
    build_sql = (INDEX_SQL,)
    read_sql = GROUP_BY_TENANT


class SqlView(Option):
    name = "sql view"
    build_sql = (INDEX_SQL,
                 "CREATE VIEW IF NOT EXISTS dashboard_view AS SELECT tenant, status, "
                 "COUNT(*) AS n FROM runs GROUP BY tenant, status")
    read_sql = "SELECT status, n FROM dashboard_view WHERE tenant = ?"

    def build(self, db: Database) -> None:
        for sql in self.build_sql:  # PostgreSQL has CREATE OR REPLACE VIEW, not IF NOT EXISTS
            db.execute(sql if db.dialect == "sqlite"
                       else sql.replace("CREATE VIEW IF NOT EXISTS", "CREATE OR REPLACE VIEW"))


class MatviewRefresh(Option):
    name = "matview refresh"
    backends = ("postgresql",)
    build_sql = ("CREATE MATERIALIZED VIEW IF NOT EXISTS dashboard_mv AS SELECT tenant, status, "
                 "COUNT(*) AS n FROM runs GROUP BY tenant, status WITH NO DATA",
                 # CONCURRENTLY needs it: unique, on plain columns, no WHERE. Reads use it too.
                 "CREATE UNIQUE INDEX IF NOT EXISTS dashboard_mv_key ON dashboard_mv "
                 "(tenant, status)",
                 REFRESHES_SQL.format(real="DOUBLE PRECISION"))
    refresh_sql = ("REFRESH MATERIALIZED VIEW dashboard_mv",)
    read_sql = "SELECT status, n FROM dashboard_mv WHERE tenant = ?"


class MatviewConcurrently(MatviewRefresh):
    name = "matview concurrently"
    refresh_sql = ("REFRESH MATERIALIZED VIEW CONCURRENTLY dashboard_mv",)

    def refresh(self, db: Database, holding: Holding | None = None) -> None:
        # CONCURRENTLY refuses a view that was never populated: the first fill is a plain one.
        if not db.execute("SELECT ispopulated FROM pg_matviews WHERE matviewname = "
                          "'dashboard_mv'").fetchone()[0]:
            db.execute("REFRESH MATERIALIZED VIEW dashboard_mv")
        super().refresh(db, holding)


class EtlSummary(Option):
    """A job (cron, a scheduler) recomputes the answer into a table aside, then swaps it in.

    The job is step 06's own (``solutions.step06``): the table built aside and renamed over the
    old one in one transaction, its refresh time recorded with it, so there is one ETL job in
    the course and the bench measures the one the learner builds.
    """

    name = "etl summary"
    build_sql = ("-- solutions.step06.prepare(db): summary, summary_refresh",)
    refresh_sql = ("-- solutions.step06.refresh_summary(db, clock): build summary_next, "
                   "then DROP summary and RENAME summary_next TO summary, in one transaction",)
    read_sql = "SELECT status, n FROM summary WHERE tenant = ?"

    def build(self, db: Database) -> None:
        from solutions.step06 import prepare

        prepare(db)

    def refresh(self, db: Database, holding: Holding | None = None) -> None:
        from solutions.step06 import refresh_summary

        if holding is None:
            refresh_summary(db, self.clock)
            return
        earlier = db.before

        def before(sql: str) -> None:  # hold the swap's transaction open just before COMMIT
            if sql.strip().upper() == "COMMIT":
                holding()
            if earlier is not None:
                earlier(sql)

        db.before = before
        try:
            refresh_summary(db, self.clock)
        finally:
            db.before = earlier

    def staleness(self, db: Database, now: float | None = None) -> float:
        from solutions.step06 import staleness

        return staleness(db, self.clock if now is None else (lambda: now))


class DashboardQuery:
    """A read-side query object: it owns the dashboard's query and caches nothing, so callers
    never write SQL and the query can change (or move to a view) behind it."""

    sql = GROUP_BY_TENANT

    def __init__(self, db: Database) -> None:
        self.db = db

    def summary(self, tenant: str) -> dict[str, int]:
        return _as_counts(self.db.execute(self.sql, (tenant,)).fetchall())


class QueryObject(Option):
    name = "query object"
    build_sql = (INDEX_SQL,)
    read_sql = DashboardQuery.sql

    def read(self, db: Database, tenant: str) -> dict[str, int]:
        return DashboardQuery(db).summary(tenant)


INLINE_COUNTS = ("CREATE TABLE IF NOT EXISTS inline_counts (tenant TEXT NOT NULL, "
                 "status TEXT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (tenant, status))")
INLINE_COUNT_RUN = ("INSERT INTO inline_counts (tenant, status, n) VALUES (?, ?, 1) "
                    "ON CONFLICT (tenant, status) DO UPDATE SET n = inline_counts.n + 1")
"""What the writer adds to each append, in the same transaction, to keep the counts."""


class InlineCounters(Option):
    """Step 02's inline projection on a database: each run's writer bumps its tenant's counter
    in the transaction that appends the run, so a reader never sees one without the other.
    Building it over existing runs is a backfill: one ``GROUP BY``."""

    name = "inline counters"
    build_sql = (INLINE_COUNTS,
                 "DELETE FROM inline_counts",
                 "INSERT INTO inline_counts (tenant, status, n) "
                 "SELECT tenant, status, COUNT(*) FROM runs GROUP BY tenant, status")
    read_sql = "SELECT status, n FROM inline_counts WHERE tenant = ?"

    def build(self, db: Database) -> None:
        with db.transaction():
            super().build(db)

    @staticmethod
    def record(db: Database, tenant: str, status: str) -> None:
        """The write path: the run and its counter, one transaction."""
        with db.transaction():
            db.execute(BARE_APPEND, (tenant, status))
            db.execute(INLINE_COUNT_RUN, (tenant, status))


class ProjectorCounters(Option):
    """Step 05: ``DurableLog.record`` writes each run with its outbox event; a
    ``DurableProjector`` folds the outbox into ``counts``; a read is a lookup by key."""

    name = "projector counters"
    view = "dashboard"
    catch_up_batch = 10_000
    read_sql = ("SELECT status, n FROM counts WHERE view = 'dashboard' AND tenant = ? "
                "AND n <> 0 ORDER BY status")

    @property
    def refreshes(self) -> bool:
        return True

    def refresh(self, db: Database, holding: Holding | None = None) -> None:
        """Catch up: ``project_batch`` until the view has every event (``holding`` is called
        before the first batch commits)."""
        from solutions.step05 import DurableProjector

        projector = DurableProjector(db, self.view, clock=self.clock)
        if holding is not None:
            pending = [holding]

            def before(sql: str) -> None:
                if sql == "COMMIT" and pending:
                    pending.pop()()
            db.before = before
        try:
            while projector.project_batch(self.catch_up_batch):
                pass
        finally:
            db.before = None

    def staleness(self, db: Database, now: float | None = None) -> float:
        """The age of the oldest event the view has not taken (step 05's ``lag()``)."""
        from solutions.step05 import DurableProjector

        clock = self.clock if now is None else (lambda: now)
        return DurableProjector(db, self.view, clock=clock).lag().oldest_age


ALL_OPTIONS: tuple[type[Option], ...] = (NoIndex, TableIndex, SqlView, MatviewRefresh,
                                        MatviewConcurrently, EtlSummary, QueryObject,
                                        InlineCounters, ProjectorCounters)
assert tuple(o.name for o in ALL_OPTIONS) == OPTIONS


def options_for(dialect: str, clock: Clock = time.time) -> list[Option]:
    """The options a backend (``"sqlite"`` or ``"postgresql"``) supports, in OPTIONS order."""
    return [cls(clock) for cls in ALL_OPTIONS if dialect in cls.backends]


OPTIONS_SQL = {cls.name: {"build": cls.build_sql, "refresh": cls.refresh_sql,
                          "read": cls.read_sql} for cls in ALL_OPTIONS}
"""Each option's SQL by name, to show (the projector's is step 05's: ``solutions/step05.py``)."""


# Loading and connections -------------------------------------------------------------------

def load(db: Database, runs: Sequence[tuple[str, str]], dsn: str | None = None,
         recorded_at: float = 0.0) -> None:
    """Append ``runs`` to ``runs`` and their events to ``outbox`` (as ``DurableLog`` would,
    in bulk). On PostgreSQL pass the database's ``dsn``: rows go in by COPY."""
    first = int(db.execute("SELECT COALESCE(MAX(id), 0) FROM runs").fetchone()[0]) + 1
    events = [(str(uuid.uuid4()), EVENT_TYPE, EVENT_VERSION, first + i, tenant, status,
               recorded_at) for i, (tenant, status) in enumerate(runs)]
    if db.dialect == "postgresql" and dsn is not None:
        import psycopg

        with psycopg.connect(dsn) as conn, conn.cursor() as cursor:
            with cursor.copy("COPY runs (tenant, status) FROM STDIN") as copy:
                for run in runs:
                    copy.write_row(run)
            with cursor.copy("COPY outbox (event_id, type, version, run_id, tenant, status, "
                             "recorded_at) FROM STDIN") as copy:
                for event in events:
                    copy.write_row(event)
        for table in ("runs", "outbox"):
            # No autovacuum starting mid-measurement: VACUUM now, for the planner's statistics
            # and for index-only scans.
            db.execute(f"ALTER TABLE {table} SET (autovacuum_enabled = false)")
            db.execute(f"VACUUM ANALYZE {table}")
    else:
        with db.transaction():
            db.executemany("INSERT INTO runs (tenant, status) VALUES (?, ?)", runs)
            db.executemany("INSERT INTO outbox (event_id, type, version, run_id, tenant, "
                           "status, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)", events)
    settle(db)


def settle(db: Database) -> None:
    """Write out what a bulk change left in the write-ahead log now, so that the next commit
    measured does not pay for it (SQLite's WAL checkpoint; PostgreSQL's CHECKPOINT, which needs
    a superuser or pg_checkpoint: skipped without)."""
    if db.dialect == "sqlite":
        db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        return
    with contextlib.suppress(Exception):
        db.execute("CHECKPOINT")


@contextlib.contextmanager
def scratch_database(dsn: str | None = None) -> Iterator[tuple[Database, Callable[[], Database],
                                                               str | None]]:
    """A new, empty database of step 05's schema, deleted afterwards: a SQLite file in a
    temporary folder, or (given a server's ``dsn``) a database created on that server.
    Yields ``(db, open_another, its_dsn)``: ``open_another()`` is a second connection."""
    if dsn is None:
        folder = Path(tempfile.mkdtemp(prefix="cqrs-kata-bench-"))
        path = folder / "bench.sqlite"
        db: Database = SQLiteDatabase(path)
        try:
            yield db, lambda: SQLiteDatabase(path, busy_seconds=0), None
        finally:
            db.close()
            shutil.rmtree(folder, ignore_errors=True)
        return
    name, where = postgres.create_database(dsn, "cqrs_kata_bench")
    try:
        db = PostgresDatabase(where)
        try:
            yield db, lambda: PostgresDatabase(where), where
        finally:
            db.close()
    finally:
        postgres.drop_database(dsn, name)


# Is a reader blocked? ----------------------------------------------------------------------

@dataclass(frozen=True)
class Blocking:
    """What a reader (or a writer) on another connection met while a refresh held its locks."""

    waited: bool
    """PostgreSQL: the reader's backend showed ``wait_event_type = 'Lock'`` in
    ``pg_stat_activity``. SQLite: its statement, with no busy timeout, failed "database is
    locked"."""
    blocked_by: tuple[int, ...] = ()
    """PostgreSQL: ``pg_blocking_pids`` of the reader (the refreshing backend)."""
    read: dict[str, int] | None = None
    """What the reader got in the end (after the refresh committed, if it waited)."""


def reader_during_refresh(option: Option, db: Database, open_reader: Callable[[], Database],
                          tenant: str, timeout_s: float = 10.0) -> Blocking:
    """Refresh ``option`` on ``db`` and, while its publishing transaction holds every lock it
    takes, read on another connection: does the reader wait for a lock? Looked up, not timed."""
    return during_refresh(option, db, open_reader, lambda other: option.read(other, tenant),
                          timeout_s)


def writer_during_refresh(option: Option, db: Database, open_writer: Callable[[], Database],
                          run: tuple[str, str], timeout_s: float = 10.0) -> Blocking:
    """The same with a writer appending ``run`` to ``runs`` on another connection: does it wait
    for the refresh? (The caller removes the run afterwards.)"""
    return during_refresh(option, db, open_writer,
                          lambda other: other.execute(BARE_APPEND, run), timeout_s)


def during_refresh(option: Option, db: Database, open_other: Callable[[], Database],
                   act: Callable[[Database], object], timeout_s: float = 10.0) -> Blocking:
    """Refresh ``option`` on ``db`` and, while its publishing transaction holds every lock it
    takes, ``act`` on another connection: does it wait for a lock? Looked up, not timed."""
    reader = open_other()
    watcher = open_other() if reader.dialect == "postgresql" else None
    found: list[Blocking] = []
    answers: list[object] = []
    threads: list[threading.Thread] = []

    def read() -> None:
        try:
            answers.append(act(reader))
        except BaseException as error:  # kept for the caller: a thread's error is lost
            answers.append(error)

    def holding() -> None:
        if watcher is None:  # SQLite: no busy timeout, so a lock shows as an error at once
            read()
            answer = answers[-1]
            locked = isinstance(answer, Exception) and "locked" in str(answer)
            if isinstance(answer, BaseException) and not locked:
                raise answer
            found.append(Blocking(locked, (), answer if isinstance(answer, dict) else None))
            return
        thread = threading.Thread(target=read, daemon=True)
        thread.start()
        threads.append(thread)
        deadline = time.monotonic() + timeout_s
        while thread.is_alive() and time.monotonic() < deadline:
            kind, blockers = watcher.execute(
                "SELECT wait_event_type, pg_blocking_pids(pid) FROM pg_stat_activity "
                "WHERE pid = ?", (pid,)).fetchone()
            if kind == "Lock":
                found.append(Blocking(True, tuple(blockers)))
                return  # the reader goes on once this transaction commits
            time.sleep(0.002)
        found.append(Blocking(False))

    try:
        if watcher is not None:
            pid = int(reader.execute("SELECT pg_backend_pid()").fetchone()[0])
            reader.execute(f"SET lock_timeout = '{int(timeout_s * 1000)}ms'")
        option.refresh(db, holding)
        for thread in threads:
            thread.join(timeout_s)
    finally:
        reader.close()
        if watcher is not None:
            watcher.close()
    if not found:
        raise RuntimeError(f"{option.name}: its refresh never reached its commit")
    answer = answers[-1] if answers else None
    if isinstance(answer, BaseException) and watcher is not None:
        raise answer
    return Blocking(found[0].waited, found[0].blocked_by,
                    answer if isinstance(answer, dict) else None)


# Measuring ---------------------------------------------------------------------------------

READ_BUDGET_S = 2.0
"""Seconds of reads per option and size at most (at least MIN_READS are taken): a GROUP BY over
10^6 rows takes ~0.1 s a read, a lookup ~10 µs. Below this every option reads the same tenants,
so their p50 and p99 compare alike; only a full scan (whose cost is the same for every tenant)
is cut short at 10^6 rows."""
MIN_READS = 5

Progress = Callable[[str, int, int], None]
"""Called as ``progress(what, done, total)`` as ``measure`` goes through its steps."""


def _latencies(option: Option, db: Database,
               tenants: Sequence[str]) -> tuple[float, float, float]:
    """p50, p99 and mean seconds of reading ``tenants``' summaries through ``option``."""
    option.read(db, tenants[0])  # warm the cache and the statement cache
    times: list[float] = []
    for tenant in tenants:
        start = time.perf_counter()
        option.read(db, tenant)
        times.append(time.perf_counter() - start)
        if len(times) >= MIN_READS and sum(times) > READ_BUDGET_S:
            break
    cut = statistics.quantiles(times, n=100, method="inclusive")
    return statistics.median(times), cut[98], statistics.fmean(times)


TWIN = {
    "sqlite": ("CREATE TABLE runs_indexed (id INTEGER PRIMARY KEY, tenant TEXT NOT NULL, "
               "status TEXT NOT NULL)",),
    "postgresql": ("CREATE TABLE runs_indexed (LIKE runs INCLUDING ALL) "
                   "WITH (autovacuum_enabled = false)",),
}
"""A copy of ``runs`` with step 01's index, to time appends with an index next to without."""
TWIN_FILL = ("INSERT INTO runs_indexed (tenant, status) SELECT tenant, status FROM runs "
             "ORDER BY id",
             "CREATE INDEX runs_indexed_tenant_status ON runs_indexed (tenant, status)")


def _per_write(db: Database, write: Callable[[str, str], object],
               runs: Sequence[tuple[str, str]]) -> list[float]:
    times = []
    for tenant, status in runs:
        start = time.perf_counter()
        write(tenant, status)
        times.append(time.perf_counter() - start)
    return times


def _refreshed(option: Option, db: Database, times: int = 3) -> tuple[float, float]:
    """The median and the longest seconds of ``times`` refreshes."""
    took = []
    for _ in range(times):
        start = time.perf_counter()
        option.refresh(db)
        took.append(time.perf_counter() - start)
    return statistics.median(took), max(took)


def measure(rows: int, *, dsn: str | None = None, reads: int = 200, writes: int = 100,
            progress: Progress | None = None, seed: int = SEED) -> list[Figures]:
    """Every option the backend supports, measured side by side at ``rows`` runs.

    SQLite (a temporary file) unless ``dsn`` names a PostgreSQL server, on which a database is
    created for the measurement and dropped after it. The workload is :func:`workload`'s, with
    as many outbox events as runs. Per option (``Figures`` defines each figure):

    - reads: p50, p99 and mean of ``reads`` reads of one tenant's summary (the tenants as
      skewed as the writes), cut short after ``READ_BUDGET_S`` seconds (at least 5 reads);
    - writes: the mean seconds to record one run (one transaction each, ``writes`` of them)
      on each write path, the paths taking turns run by run so that all see the machine at the
      same moment: the bare append (the views, the refreshed options), the append with the
      index (on a copy of ``runs`` that has it), the append with its counter (inline), and
      ``DurableLog.record`` (the projector's);
    - refresh: seconds to refresh the whole view (matview, ETL: the median of 3) or for the
      projector to catch up from nothing on every event (once);
    - staleness: 0 for what reads the truth or is kept in the writer's transaction; two of the
      longest of the 3 refreshes for a refresh run back to back; for the projector, its longest
      idle sleep between polls (``MAX_SLEEP``) plus the time from recording a run to the view
      showing it, for a projector that wakes at once;
    - blocks readers, blocks writers: :func:`reader_during_refresh` and
      :func:`writer_during_refresh`, a reader or a writer on another connection while the
      refresh holds its locks (a lock looked up, not a timing).
    """
    from cqrs_kata.steps.step05.projector_process import MAX_SLEEP
    from solutions.step05 import DurableLog

    runs = workload(rows, seed)
    tenants = read_tenants(reads, seed)
    writes_runs = workload(writes, seed + 3)
    probes = workload(3, seed + 4)  # runs recorded to watch the projector at work
    steps: list[str] = []
    backend = "postgresql" if dsn is not None else "sqlite"
    step = 0

    def say(what: str) -> None:
        nonlocal step
        if progress is not None:
            progress(f"{backend} {rows:,}: {what}", step, len(steps))
        step += 1

    figures: dict[str, Figures] = {}
    with scratch_database(dsn) as (db, open_other, where):
        options = {o.name: o for o in options_for(db.dialect)}
        refreshed = [name for name in ("matview refresh", "matview concurrently", "etl summary")
                     if name in options]
        steps += ["load", "writes", "no index", *refreshed, "projector counters",
                  "inline counters", "index", "table+index, sql view, query object"]
        say("load")
        load(db, runs, where, recorded_at=time.time())
        tidy = (("DELETE FROM runs WHERE id > ?", (rows,)),
                ("DELETE FROM outbox WHERE position > ?", (rows,)))

        def tidied() -> None:
            for sql, params in tidy:
                db.execute(sql, params)

        say("writes")

        def bare(tenant: str, status: str) -> None:
            with db.transaction():
                db.execute(BARE_APPEND, (tenant, status))

        def indexed(tenant: str, status: str) -> None:
            with db.transaction():
                db.execute(BARE_APPEND.replace("runs", "runs_indexed"), (tenant, status))

        def inline(tenant: str, status: str) -> None:
            InlineCounters.record(db, tenant, status)

        # The index's cost is measured on a twin of `runs` that has it, so that every write
        # path takes turns, one run each, and sees the same machine at the same moment.
        for sql in (*TWIN[db.dialect], *TWIN_FILL, INLINE_COUNTS):
            db.execute(sql)
        settle(db)
        log = DurableLog(db)
        paths: dict[str, Callable[[str, str], object]] = {
            "bare": bare, "indexed": indexed, "inline": inline, "logged": log.record}
        took: dict[str, list[float]] = {path: [] for path in paths}
        for run in writes_runs:
            for path, write in paths.items():
                took[path] += _per_write(db, write, [run])
        write_s = {path: statistics.fmean(times) for path, times in took.items()}
        db.execute("DROP TABLE runs_indexed")
        tidied()

        def add(name: str, write: str = "bare", staleness: float = 0.0,
                refresh: float | None = None, blocks: tuple[bool, bool] | None = None) -> None:
            p50, p99, mean = _latencies(options[name], db, tenants)
            figures[name] = Figures(name, backend, rows, p50, p99, mean, write_s[write],
                                    staleness, refresh, None if blocks is None else blocks[0],
                                    None if blocks is None else blocks[1])

        def blocking(option: Option) -> tuple[bool, bool]:
            readers = reader_during_refresh(option, db, open_other, tenants[0]).waited
            writers = writer_during_refresh(option, db, open_other, writes_runs[0]).waited
            tidied()
            return readers, writers

        say("no index")
        add("no index")

        for name in refreshed:
            say(name)
            option = options[name]
            option.build(db)
            option.refresh(db)  # populated: CONCURRENTLY needs it, and the first fill is no test
            refresh, longest = _refreshed(option, db)
            add(name, staleness=2 * longest, refresh=refresh, blocks=blocking(option))

        say("projector counters")
        counters = options["projector counters"]
        start = time.perf_counter()
        counters.refresh(db)
        caught_up = time.perf_counter() - start
        p50, p99, mean = _latencies(counters, db, tenants)
        # A run written now: how long until a projector that wakes at once shows it?
        written = time.perf_counter()
        log.record(*probes[0])
        counters.refresh(db)
        visible = time.perf_counter() - written
        log.record(*probes[1])
        readers = reader_during_refresh(counters, db, open_other, probes[1][0]).waited
        log.record(*probes[2])
        writers = writer_during_refresh(counters, db, open_other, probes[2]).waited
        figures[counters.name] = Figures(counters.name, backend, rows, p50, p99, mean,
                                         write_s["logged"], MAX_SLEEP + visible, caught_up,
                                         readers, writers)
        tidied()

        say("inline counters")
        options["inline counters"].build(db)
        add("inline counters", write="inline")

        say("index")
        options["table+index"].build(db)
        db.execute("ANALYZE")

        say("table+index, sql view, query object")
        for read_live in ("table+index", "sql view", "query object"):
            options[read_live].build(db)
            add(read_live, write="indexed")
    if progress is not None:
        progress(f"{backend} {rows:,}: done", len(steps), len(steps))
    return [figures[name] for name in OPTIONS if name in figures]


# Showing -----------------------------------------------------------------------------------

def seconds(value: float | None) -> str:
    """``value`` seconds in a unit a reader takes in at a glance (µs, ms, s)."""
    if value is None:
        return "-"
    if value == 0:
        return "0"
    if value < 1e-3:
        return f"{value * 1e6:.0f} µs"
    if value < 1:
        return f"{value * 1e3:.1f} ms"
    return f"{value:.2f} s"


def _ordered(figures: Sequence[Figures]) -> list[Figures]:
    return sorted(figures, key=lambda f: (f.backend != "sqlite", f.rows, OPTIONS.index(f.option)))


COLUMNS = (
    "read p50, p99, mean: seconds per read of one tenant's summary",
    "write: mean seconds to record one run (its own transaction) with the option's write path",
    "staleness: the oldest an answer can be with the view kept up as fast as it can be (two "
    "of the longest refreshes measured, back to back; the projector's longest idle sleep plus "
    "the time to show a run)",
    "refresh: seconds to refresh or catch up the whole view",
    "blocks readers, blocks writers: whether a reader or a writer of runs on another connection "
    "waited for the refresh's locks (SQLite in WAL mode, as the kata opens it)",
    "SQLite commits here with synchronous=NORMAL (a power cut may lose the last commits) and "
    "PostgreSQL waits for its disk: compare options within a backend, not across",
)
"""What each column of :func:`table` means, printed under it."""


def _yes(value: bool | None) -> str:
    return "-" if value is None else "yes" if value else "no"


def table(figures: Sequence[Figures]) -> Table:
    """The figures as a table grouped by backend, then by rows and option: styled in a notebook,
    aligned text where printed; what each column means is said under it."""
    head = ("backend", "rows", "option", "read p50", "read p99", "read mean", "write",
            "staleness", "refresh", "blocks readers", "blocks writers")
    rows = tuple((f.backend, f"{f.rows:,}", f.option, seconds(f.read_p50_s),
                  seconds(f.read_p99_s), seconds(f.read_mean_s), seconds(f.write_s),
                  seconds(f.staleness_s), seconds(f.refresh_s), _yes(f.blocks_readers),
                  _yes(f.blocks_writers))
                 for f in _ordered(figures))
    return Table(head, rows, right=frozenset({1, 3, 4, 5, 6, 7, 8}), group=0,
                 note="; ".join(COLUMNS) + ".")


def _largest(figures: Sequence[Figures], backend: str) -> dict[str, Figures]:
    """The figures of ``backend`` at its largest size, by option ({} for none)."""
    mine = [f for f in figures if f.backend == backend]
    top = max((f.rows for f in mine), default=0)
    return {f.option: f for f in mine if f.rows == top}


def _ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a is not None and b else None


def ratios(figures: Sequence[Figures]) -> dict[str, float]:
    """The headline ratios, per backend at its largest size, keyed ``"<backend> <what>"``:

    - ``rows``: that largest size;
    - ``counter vs no index``: how many times faster the counter's p50 read is than GROUP BY
      with no index; ``index speed-up``: GROUP BY's p50 without the index over with it;
    - ``matview read vs counter``: the matview's p50 read over the counter's;
    - ``concurrently vs refresh time``: REFRESH CONCURRENTLY's time over plain REFRESH's;
    - ``write x <option>``: each option's mean write over that of a bare append (the
      ``"no index"`` option's write path).
    """
    found: dict[str, float] = {}
    for backend in ("sqlite", "postgresql"):
        by = _largest(figures, backend)
        if not by:
            continue
        p50 = {name: f.read_p50_s for name, f in by.items()}
        refresh = {name: f.refresh_s for name, f in by.items()}
        pairs = {
            "counter vs no index": (p50.get("no index"), p50.get("projector counters")),
            "index speed-up": (p50.get("no index"), p50.get("table+index")),
            "matview read vs counter": (p50.get("matview refresh"),
                                        p50.get("projector counters")),
            "concurrently vs refresh time": (refresh.get("matview concurrently"),
                                             refresh.get("matview refresh")),
        }
        found[f"{backend} rows"] = float(next(iter(by.values())).rows)
        for what, (a, b) in pairs.items():
            value = _ratio(a, b)
            if value is not None:
                found[f"{backend} {what}"] = value
        bare = by["no index"].write_s if "no index" in by else None
        for name, f in by.items():
            value = _ratio(f.write_s, bare)
            if value is not None:
                found[f"{backend} write x {name}"] = value
    return found


def headlines(figures: Sequence[Figures]) -> str:
    """The comparison in a few lines, per backend at its largest size."""
    r = ratios(figures)
    lines = []
    for backend in ("sqlite", "postgresql"):
        by = _largest(figures, backend)
        if not by:
            continue
        lines.append(f"{backend}, {int(r[backend + ' rows']):,} rows:")
        said = {
            "counter vs no index": "the counter read is {:,.0f}x faster than GROUP BY with no "
                                   "index (p50)",
            "index speed-up": "the index makes GROUP BY {:,.1f}x faster (p50)",
            "matview read vs counter": "a matview read takes {:.1f}x the counter's (p50)",
        }
        for what, text in said.items():
            if f"{backend} {what}" in r:
                lines.append("  " + text.format(r[f"{backend} {what}"]))
        if f"{backend} concurrently vs refresh time" in r:
            plain, conc = by["matview refresh"], by["matview concurrently"]
            lines.append(
                f"  REFRESH {seconds(plain.refresh_s)}, REFRESH CONCURRENTLY "
                f"{seconds(conc.refresh_s)} "
                f"({r[backend + ' concurrently vs refresh time']:.1f}x); a reader waited on a "
                f"lock: {'yes' if plain.blocks_readers else 'no'} during REFRESH, "
                f"{'yes' if conc.blocks_readers else 'no'} during CONCURRENTLY")
        lines.append("  a write takes (x a bare append): " + ", ".join(
            f"{name} {r[f'{backend} write x {name}']:.2f}" for name in by
            if f"{backend} write x {name}" in r))
    return "\n".join(lines)


def plot(figures: Sequence[Figures], folder: str | Path) -> list[Path]:
    """PNG files in ``folder`` (made if missing): read latency against rows per option
    (log-log, p50 and p99 side by side, per backend), the mean time to record a run at the
    largest size (bars), and refresh or catch-up time against rows (log-log). Returns their
    paths: none where matplotlib is missing (a browser kernel), which it then says in a sentence."""
    why = local_only(("matplotlib",))
    if why is not None:
        print(f"Plotting {why}. The table above has the same figures.")
        return []
    import matplotlib

    matplotlib.use("Agg")  # files only: no display needed, none opened
    import matplotlib.pyplot as plt
    import matplotlib.ticker

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    backends = [b for b in ("sqlite", "postgresql") if any(f.backend == b for f in figures)]
    colors = {name: plt.get_cmap("tab10")(i) for i, name in enumerate(OPTIONS)}
    made = []

    def series(backend: str, name: str) -> list[Figures]:
        return sorted((f for f in figures if f.backend == backend and f.option == name),
                      key=lambda f: f.rows)

    # One panel per backend and percentile (p50 and p99 apart: drawn together, 16 lines hid
    # each other), and one legend outside the panels, where it covers no data.
    fig, axes = plt.subplots(len(backends), 2, figsize=(7.0, 2.8 * len(backends)),
                             squeeze=False, sharex=True, sharey=True)
    percentiles: tuple[tuple[str, Callable[[Figures], float]], ...] = (
        ("p50", lambda f: f.read_p50_s), ("p99", lambda f: f.read_p99_s))
    for row, backend in zip(axes, backends, strict=True):
        for ax, (what, pick) in zip(row, percentiles, strict=True):
            for name in OPTIONS:
                points = series(backend, name)
                if points:
                    ax.plot([f.rows for f in points], [pick(f) for f in points], "o-",
                            markersize=3.5, color=colors[name], label=name)
            ax.set(xscale="log", yscale="log")
            ax.set_title(f"{backend}: read {what}", fontsize=10)
            ax.grid(True, which="both", alpha=0.3)
        row[0].set_ylabel("seconds per read")
    sizes = sorted({f.rows for f in figures})
    for ax in axes[-1]:
        ax.set_xlabel("rows")
        ax.set_xticks(sizes, [f"{n:,}" for n in sizes])  # the sizes measured, nothing between
        ax.xaxis.set_minor_locator(matplotlib.ticker.NullLocator())
    shown = {label: handle for ax in axes.flat
             for handle, label in zip(*ax.get_legend_handles_labels(), strict=True)}
    fig.legend(list(shown.values()), list(shown), loc="center left", bbox_to_anchor=(1.0, 0.5),
               fontsize=9, frameon=False)
    fig.tight_layout()
    made.append(folder / "read_latency.png")
    fig.savefig(made[-1], dpi=110, bbox_inches="tight")
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(8, 4.5))
    width = 0.8 / len(backends)
    for i, backend in enumerate(backends):
        by = _largest(figures, backend)
        top = next(iter(by.values())).rows
        xs: list[float] = [j + i * width for j, name in enumerate(OPTIONS) if name in by]
        ax.bar(xs, [by[name].write_s * 1e6 for name in OPTIONS if name in by], width,
               label=f"{backend} ({top:,} rows)")
    ax.set_xticks([j + width * (len(backends) - 1) / 2 for j in range(len(OPTIONS))],
                  OPTIONS, rotation=30, ha="right")
    ax.set(ylabel="µs to record a run (mean)", title="the write path of each option")
    ax.legend(fontsize=8)
    fig.tight_layout()
    made.append(folder / "write_path.png")
    fig.savefig(made[-1], dpi=110)
    plt.close(fig)

    fig, ax = plt.subplots(figsize=(7, 4.5))
    for backend, style in zip(backends, ("o-", "s--"), strict=False):
        for name in OPTIONS:
            points = [f for f in series(backend, name) if f.refresh_s is not None]
            if points:
                ax.plot([f.rows for f in points], [f.refresh_s or 0.0 for f in points], style,
                        color=colors[name], label=f"{name} ({backend})")
    ax.set(xscale="log", yscale="log", xlabel="rows", ylabel="seconds",
           title="refresh / catch-up of the whole view")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    made.append(folder / "refresh.png")
    fig.savefig(made[-1], dpi=110)
    plt.close(fig)
    return made


def to_csv(figures: Sequence[Figures]) -> str:
    """The figures as CSV, one row each, columns named as :class:`Figures`' fields."""
    import csv
    import io

    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([f.name for f in fields(Figures)])
    for figure in _ordered(figures):
        writer.writerow(["" if getattr(figure, f.name) is None else getattr(figure, f.name)
                         for f in fields(Figures)])
    return out.getvalue()
