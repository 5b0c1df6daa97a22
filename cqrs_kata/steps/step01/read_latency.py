"""Read latency of the dashboard against the number of runs: step 01's GROUP BY on one table,
without and with its covering index, next to step 02's counters kept in a table of the same
database (one row per tenant and status, updated with each insert: an inline projection).

Notebook 01 plots these figures (:func:`plot`) and ``benchmarks/step01_read_latency.py`` prints
them; both call :func:`measure`, so the notebook and the benchmark cannot disagree about how
they are taken.
Every figure is one tenant's summary through the same driver, on an in-memory SQLite database:
no disk, and every way pays the same fixed cost of a query (the call into the driver, parsing,
the cursor), so what differs between them is what each query reads.
"""

from __future__ import annotations

import sqlite3
import time
import timeit
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass

from cqrs_kata import platform
from solutions.step01 import add_index, connect, summary

TENANTS = 100
"""Runs are spread over this many tenants, so the tenant asked about holds 1 % of them."""

STATUSES = ("ok", "ok", "ok", "fail", "cancelled")
COUNTS_SCHEMA = """CREATE TABLE counts (
    tenant TEXT NOT NULL,
    status TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (tenant, status)
) WITHOUT ROWID"""
"""Step 02's view as a table: one row per tenant and status, found by its primary key."""
COUNTS_SQL = "SELECT status, n FROM counts WHERE tenant = ?"
COUNT_RUN_SQL = ("INSERT INTO counts (tenant, status, n) VALUES (?, ?, 1) "
                 "ON CONFLICT (tenant, status) DO UPDATE SET n = n + 1")
"""What a writer adds to each insert to keep ``counts`` in its own transaction."""
ASKED = "tenant-7"
"""The tenant whose dashboard is timed."""


@dataclass(frozen=True)
class Latency:
    """Seconds per ``summary`` call at ``rows`` runs, each way of answering it."""

    rows: int
    no_index: float
    index: float
    counter: float
    """Seconds per read of the ``counts`` table (the view), in the same database."""

    @property
    def index_speedup(self) -> float:
        """How many times faster the covering index answers than GROUP BY over the table."""
        return self.no_index / self.index

    @property
    def counter_speedup(self) -> float:
        """How many times faster the counter answers than GROUP BY over the table."""
        return self.no_index / self.counter


def history(start: int, stop: int) -> Iterator[tuple[str, str, float]]:
    """Runs ``start`` to ``stop`` (exclusive) of a fixed, made-up history."""
    for i in range(start, stop):
        yield f"tenant-{i % TENANTS}", STATUSES[(i // TENANTS) % len(STATUSES)], float(i)


def per_call(action: Callable[[], object], seconds: float = 0.2,
             clock: Callable[[], float] = time.perf_counter) -> float:
    """Seconds one ``action()`` takes: the best of 3 rounds of as many calls as fill about
    ``seconds`` in all, divided by the calls (the best round is the one the machine disturbed
    least). The number of calls is found by growing it tenfold until a round lasts long
    enough for any clock to see: a browser's ticks every 0.1 ms, so one dict lookup, or a
    thousand, can take "0 s" there."""
    timer = timeit.Timer(action, timer=clock)
    calls, took = 1, timer.timeit(number=1)
    while took < seconds / 30 and calls < 10**8:
        calls *= 10
        took = timer.timeit(number=calls)
    calls = max(calls, int(calls * seconds / 3 / took)) if took > 0 else calls
    best = min(timer.repeat(repeat=3, number=calls))
    # A round slowed down while the count was being found (another process took the core)
    # leaves too few calls for the clock to see: grow them until the best round shows too.
    while best < seconds / 30 and calls < 10**8:
        calls *= 10
        best = min(timer.repeat(repeat=3, number=calls))
    return best / calls


def measure(sizes: Iterable[int], seconds: float = 0.2,
            on_size: Callable[[Latency], None] | None = None) -> list[Latency]:
    """Time the three ways at each size (rows, ascending), growing one history as it goes.

    Two databases hold the same runs, one with step 01's index and one without; the indexed
    one also keeps ``counts``, updated in the transaction of each insert as step 02's view
    would be. At each size all three must give the same answer before they are timed.
    ``on_size`` is called with each size's figures as soon as they are taken (a script prints
    them as it goes).
    """
    plain, indexed = connect(), connect()
    add_index(indexed)
    indexed.execute(COUNTS_SCHEMA)
    done, found = 0, []
    for rows in sorted(sizes):
        new = list(history(done, rows))
        for conn in (plain, indexed):
            _insert(conn, new)
        done = max(done, rows)
        answers = [summary(plain, ASKED), summary(indexed, ASKED), counted(indexed, ASKED)]
        if not answers[0] == answers[1] == answers[2]:
            raise AssertionError(f"the three ways disagree at {rows} rows: {answers}")
        figures = Latency(rows,
                          no_index=per_call(lambda: summary(plain, ASKED), seconds),
                          index=per_call(lambda: summary(indexed, ASKED), seconds),
                          counter=per_call(lambda: counted(indexed, ASKED), seconds))
        found.append(figures)
        if on_size:
            on_size(figures)
    plain.close()
    indexed.close()
    return found


def counted(conn: sqlite3.Connection, tenant: str) -> dict[str, int]:
    """``tenant``'s ``{status: count}`` read from ``counts``, as the dashboard would."""
    return dict(conn.execute(COUNTS_SQL, (tenant,)).fetchall())


def _insert(conn: sqlite3.Connection, runs: list[tuple[str, str, float]]) -> None:
    # Filling a million rows through record() (one commit per run) would take minutes; the
    # rows are the same, so the set-up takes the fast road. Where ``counts`` exists, the same
    # transaction keeps it, as a writer with an inline projection does.
    with conn:
        conn.executemany("INSERT INTO runs (tenant, status, recorded_at) VALUES (?, ?, ?)", runs)
        if conn.execute("SELECT 1 FROM sqlite_master WHERE name = 'counts'").fetchone():
            conn.executemany(COUNT_RUN_SQL, [(tenant, status) for tenant, status, _ in runs])


def row(figures: Latency) -> str:
    """One line of the table :func:`header` heads."""
    return (f"{figures.rows:>9,}  {figures.no_index * 1e6:>12.1f}  {figures.index * 1e6:>10.1f}"
            f"  {figures.counter * 1e6:>10.2f}  {figures.index_speedup:>9.0f}x"
            f"  {figures.counter_speedup:>11,.0f}x")


def header() -> str:
    return (f"{'rows':>9}  {'no index µs':>12}  {'index µs':>10}  {'counter µs':>10}"
            f"  {'index gain':>10}  {'counter gain':>12}")


def plot(figures: Sequence[Latency]) -> None:
    """Notebook 01's figure: microseconds per ``summary`` call against rows, log-log, each way.

    Where matplotlib is missing (a browser kernel) it says so in a sentence instead.
    """
    why = platform.local_only(("matplotlib",))
    if why is not None:
        print(f"Plotting {why}. The table above has the same figures.")
        return
    import matplotlib.pyplot as plt

    rows = [f.rows for f in figures]
    _, ax = plt.subplots(figsize=(7, 4))
    ax.loglog(rows, [f.no_index * 1e6 for f in figures], "o-", label="GROUP BY, no index")
    ax.loglog(rows, [f.index * 1e6 for f in figures], "s-", label="GROUP BY, covering index")
    ax.loglog(rows, [f.counter * 1e6 for f in figures], "^-", label="counts table (step 02's view)")
    ax.set_xlabel("runs in the table")
    ax.set_ylabel("µs per summary() call")
    ax.set_title("Dashboard read latency against rows")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    plt.show()
