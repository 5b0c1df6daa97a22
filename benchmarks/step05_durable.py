"""Step 05's figures, side by side in one run, on SQLite and on PostgreSQL:

- the durable projector's throughput (``project_batch(1000)`` until caught up) next to its
  floor: the same counts, already added up, upserted in one transaction per batch of 1000, with
  no reading at all (goals: >= 500,000 events/s on SQLite, >= 100,000 on PostgreSQL);
- ``record()`` with one transaction per run, and ``record_many`` in batches of 1000;
- record-to-visible latency with the projector process running and idle (p50, p99; goal
  p50 <= 50 ms): SQLite polls with back-off, PostgreSQL is woken by LISTEN/NOTIFY;
- the anchor: the ``eventsourcing`` library catching up a projection (one tracking record per
  event, its model) over the same workload, on SQLite and in memory.

    .venv/bin/python benchmarks/step05_durable.py [events]      # default 100000
    .venv/bin/pip install 'eventsourcing>=9.4,<10'               # for the anchor (or '.[bench]')

Prints the numbers; nothing here is a test (timings depend on the machine). PostgreSQL is
``$CQRS_KATA_PG_DSN`` or a throwaway server (cqrs_kata.db.postgres); without one its rows say
why.
"""

from __future__ import annotations

import functools
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cqrs_kata.db import Database, open_database
from cqrs_kata.steps.step05.projector_process import PROJECTOR
from solutions.step05 import DurableLog, DurableProjector

print = functools.partial(print, flush=True)  # figures as they come, even into a pipe

TENANTS = [f"tenant-{i}" for i in range(50)]
STATUSES = ["ok", "ok", "ok", "fail", "cancelled"]
BATCH = 1000
UPSERT = ("INSERT INTO counts (view, tenant, status, n) VALUES (?, ?, ?, ?) ON CONFLICT "
          "(view, tenant, status) DO UPDATE SET n = counts.n + excluded.n")


def history(n: int) -> list[tuple[str, str]]:
    return [(TENANTS[i % len(TENANTS)], STATUSES[i % len(STATUSES)]) for i in range(n)]


def rate(n: int, seconds: float) -> str:
    return f"{n / seconds:>12,.0f}/s"


def median_of(repeat: int, action: Callable[[int], float]) -> float:
    return statistics.median(action(i) for i in range(repeat))


def projector_vs_floor(db: Database, n: int) -> tuple[float, float]:
    """Seconds to project ``n`` events (median of 3, each into a fresh view), and for the
    floor (the same counts pre-added per batch, upserted, one transaction a batch)."""
    def project(i: int) -> float:
        projector = DurableProjector(db, f"bench-{i}")
        start = time.perf_counter()
        while projector.project_batch(BATCH):
            pass
        return time.perf_counter() - start

    runs = history(n)
    batches = []
    for first in range(0, n, BATCH):
        added: dict[tuple[str, str], int] = {}
        for run in runs[first:first + BATCH]:
            added[run] = added.get(run, 0) + 1
        batches.append([(t, s, k) for (t, s), k in added.items()])

    def floor(i: int) -> float:
        view = f"floor-{i}"
        start = time.perf_counter()
        for rows in batches:
            with db.transaction():
                db.executemany(UPSERT, [(view, t, s, k) for t, s, k in rows])
        return time.perf_counter() - start

    return median_of(3, project), median_of(3, floor)


def recording(db: Database, singles: int, n: int) -> tuple[float, float]:
    """Seconds for ``singles`` record() calls, and for ``n`` runs by record_many(1000)."""
    log, runs = DurableLog(db), history(max(singles, n))
    start = time.perf_counter()
    for tenant, status in runs[:singles]:
        log.record(tenant, status)
    one = time.perf_counter() - start
    start = time.perf_counter()
    for first in range(0, n, BATCH):
        log.record_many(runs[first:first + BATCH])
    return one, time.perf_counter() - start


def latency(where: str, samples: int) -> list[float]:
    """Record-to-visible seconds, one run at a time, with the projector process running and
    idle (each run comes 20 to 120 ms after the last was seen)."""
    import random

    rng = random.Random(5)
    db = open_database(where)
    log, view = DurableLog(db), DurableProjector(db, "latency")
    proc = subprocess.Popen([sys.executable, "-m", PROJECTOR, where, "--impl", "solutions",
                             "--view", "latency"],
                            stdout=subprocess.DEVNULL)
    seen: list[float] = []
    try:
        def visible(position: int, started: float) -> float:
            while view.checkpoint() < position:
                if time.perf_counter() - started > 30:
                    raise TimeoutError("the projector process took no event in 30 s")
                time.sleep(0.0002)
            return time.perf_counter() - started

        visible(log.record("warm-up", "ok"), time.perf_counter())  # it has started
        for _ in range(samples):
            time.sleep(rng.uniform(0.02, 0.12))
            started = time.perf_counter()
            seen.append(visible(log.record("latency", "ok"), started))
    finally:
        proc.terminate()
        proc.wait(30)
        db.close()
    return seen


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def one_database(name: str, where: str, n: int, quick: bool) -> None:
    db = open_database(where)
    singles = 200 if quick else (20_000 if name == "SQLite" else 5_000)
    one, many = recording(db, singles, n)
    print(f"{name:<10} record(), one transaction a run  {rate(singles, one)}   "
          f"record_many(1000)  {rate(n, many)}")
    projected, floor = projector_vs_floor(db, singles + n)
    total = singles + n
    goal = 500_000 if name == "SQLite" else 100_000
    print(f"{name:<10} durable projector, batches of 1000 {rate(total, projected)}   "
          f"floor {rate(total, floor)}   (projector/floor {floor / projected:.0%}; goal "
          f"{goal:,}/s: {'met' if total / projected >= goal else 'MISSED'})")
    db.close()
    waits = latency(where, 20 if quick else 200)
    print(f"{name:<10} record-to-visible, projector idle  p50 "
          f"{percentile(waits, 50) * 1000:6.1f} ms   p99 {percentile(waits, 99) * 1000:6.1f} ms"
          f"   ({len(waits)} runs; goal p50 <= 50 ms)")


def eventsourcing_anchor(n: int, folder: Path) -> None:
    """The eventsourcing library's projection over ``n`` runs (one aggregate, one event each),
    caught up from the start into a counts view, on SQLite and in memory. (Its ProjectionRunner
    needs a recorder with subscriptions, which SQLite's has not: the catch-up reads the
    notifications itself, in pages of 1000, as a subscription would.)"""
    try:
        from eventsourcing.application import Application
        from eventsourcing.domain import Aggregate
        from eventsourcing.persistence import InfrastructureFactory, Tracking
        from eventsourcing.popo import POPOTrackingRecorder
        from eventsourcing.projection import Projection
        from eventsourcing.sqlite import SQLiteTrackingRecorder
        from eventsourcing.utils import Environment, get_topic
    except ImportError:
        print("eventsourcing anchor: not installed; pip install 'eventsourcing>=9.4,<10'")
        return

    class RunAgg(Aggregate):
        def __init__(self, tenant: str, status: str) -> None:
            self.tenant, self.status = tenant, status

    class SQLiteCounts(SQLiteTrackingRecorder):
        def construct_create_table_statements(self) -> list[str]:
            return [*super().construct_create_table_statements(),
                    "CREATE TABLE IF NOT EXISTS run_counts (tenant TEXT, status TEXT, "
                    "n INTEGER, PRIMARY KEY (tenant, status))"]

        def incr(self, tenant: str, status: str, tracking: Tracking) -> None:
            with self.datastore.transaction(commit=True) as c:
                c.execute("INSERT INTO run_counts VALUES (?, ?, 1) ON CONFLICT (tenant, "
                          "status) DO UPDATE SET n = n + 1", (tenant, status))
                self._insert_tracking(c, tracking)

    class MemoryCounts(POPOTrackingRecorder):
        def __init__(self) -> None:
            super().__init__()
            self.counts: dict[tuple[str, str], int] = {}

        def incr(self, tenant: str, status: str, tracking: Tracking) -> None:
            with self._database_lock:
                self._assert_tracking_uniqueness(tracking)
                key = (tenant, status)
                self.counts[key] = self.counts.get(key, 0) + 1
                self._insert_tracking(tracking)

    class RunCounts(Projection[Any]):
        name = "runcounts"
        topics = (get_topic(RunAgg.Created),)

        def process_event(self, domain_event: Any, tracking: Tracking) -> None:
            self.view.incr(domain_event.tenant, domain_event.status, tracking)

    def fill(app: Application[Any]) -> None:
        runs = history(n)
        for first in range(0, n, BATCH):
            app.save(*(RunAgg(t, s) for t, s in runs[first:first + BATCH]))

    def catch_up(app: Application[Any], view: Any) -> float:
        """Seconds to take every event into ``view`` from the start, as a subscription does:
        notifications in pages, each event processed with its tracking record."""
        projection = RunCounts(view)
        start = time.perf_counter()
        after: int | None = None
        while page := app.recorder.select_notifications(after, BATCH,
                                                        inclusive_of_start=after is None):
            for note in page:
                projection.process_event(app.mapper.to_domain_event(note),
                                         Tracking(app.name, note.id))
            after = page[-1].id
        seconds = time.perf_counter() - start
        assert view.max_tracking_id(app.name) == app.recorder.max_notification_id()
        return seconds

    env = {"PERSISTENCE_MODULE": "eventsourcing.sqlite",
           "SQLITE_DBNAME": str(folder / "eventsourcing.db")}
    app: Application[Any] = Application(env)
    fill(app)
    factory = InfrastructureFactory[Any].construct(env=Environment(RunCounts.name, env))
    sqlite_seconds = catch_up(app, factory.tracking_recorder(SQLiteCounts))

    app = Application({"PERSISTENCE_MODULE": "eventsourcing.popo"})
    fill(app)
    view = MemoryCounts()
    memory_seconds = catch_up(app, view)
    assert sum(view.counts.values()) == n
    print(f"eventsourcing projection catch-up ({n:,} events, a transaction per event): SQLite "
          f"{rate(n, sqlite_seconds)} (its defaults: WAL, synchronous=FULL)   in memory "
          f"{rate(n, memory_seconds)}")


def main(n: int) -> None:
    quick = n < 10_000
    folder = Path(tempfile.mkdtemp(prefix="step05-bench-"))
    print(f"step 05, {n:,} events a run of each figure (Python {sys.version.split()[0]}, "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)")
    one_database("SQLite", str(folder / "bench.db"), n, quick)
    try:
        from cqrs_kata.db.postgres import PostgresUnavailable, fresh_database

        dsn = fresh_database("bench05")
    except (ImportError, PostgresUnavailable) as error:
        print(f"PostgreSQL: not measured: {error}")
    else:
        one_database("PostgreSQL", dsn, n, quick)
    eventsourcing_anchor(min(n, 20_000), folder)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000)
