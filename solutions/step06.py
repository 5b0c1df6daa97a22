"""Step 06 — the alternatives, measured: build one of them (a summary table that a scheduled job
refreshes), read it with its age, and write the decision between the options as code.

The job reads the truth from step 05's ``runs(id, tenant, status)`` table, through
``cqrs_kata.db`` (a SQLite file, or PostgreSQL): the table writers already commit to, with the
same ``?`` placeholders and ``with db.transaction():`` on both databases. The job keeps:

- ``summary(tenant, status, n)``: runs per tenant and status, as of the last refresh;
- ``summary_refresh(id, refreshed_at, runs)``: one row (``id = 1``) saying when the summary was
  last refreshed (a clock reading, in seconds) and how many runs it counted.

``prepare(db)`` creates both, empty, where they are missing; every function below may assume
it has run. Readers never look at ``runs``: the summary is as old as its last refresh, and
``staleness`` says how old.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from cqrs_kata.alternatives import OPTIONS, Figures
from cqrs_kata.db import Database
from solutions.step02 import seconds, validate_name

Clock = Callable[[], float]

SUMMARY_TABLES = """
CREATE TABLE IF NOT EXISTS summary (
    tenant TEXT NOT NULL,
    status TEXT NOT NULL,
    n INTEGER NOT NULL,
    PRIMARY KEY (tenant, status)
);
CREATE TABLE IF NOT EXISTS summary_refresh (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    refreshed_at DOUBLE PRECISION NOT NULL,
    runs BIGINT NOT NULL
)
"""
"""The read side's two tables, in SQL both SQLite and PostgreSQL accept."""

CHOICES = ("table+index", "inline counters", "etl summary", "projector counters")
"""What ``choose`` answers, simplest first; its ``figures`` must hold all four."""

BUSY_CAP = 0.5
"""The most an option may ask of one connection serving its reads, writes and refreshes one call
at a time: half of its time. The other half absorbs peaks and lets a refresh or a projector catch
up after a pause. A database serves many connections at once, so this is a cautious yardstick:
measure under concurrency to set your own."""

COSTS = ("read_mean_s", "write_s", "staleness_s", "refresh_s")
"""The figures ``choose`` reads; each must be a number of 0 or more where it is given."""


def prepare(db: Database) -> None:
    """Create ``summary`` and ``summary_refresh`` where they are missing (empty)."""
    for statement in SUMMARY_TABLES.split(";"):
        db.execute(statement)


class NothingFits(Exception):
    """No option meets the workload on this machine; the message says which rule ruled out what."""


@dataclass(frozen=True)
class Workload:
    """What a dashboard must serve: how often it is read and written, how many runs the truth
    holds, and how old an answer may be (``math.inf``: any age; 0: none, strong consistency)."""

    reads_per_s: float
    writes_per_s: float
    rows: int
    allowed_staleness_s: float

    def __post_init__(self) -> None:
        for name in ("reads_per_s", "writes_per_s", "allowed_staleness_s"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise TypeError(f"Workload.{name} must be a number, got "
                                f"{type(value).__name__} {value!r:.40}")
            if math.isnan(value) or value < 0:
                raise ValueError(f"Workload.{name} must be 0 or more, got {value}")
            if math.isinf(value) and name != "allowed_staleness_s":
                raise ValueError(f"Workload.{name} must be finite, got {value}")
        if isinstance(self.rows, bool) or not isinstance(self.rows, int):
            raise TypeError(f"Workload.rows must be an int, got {type(self.rows).__name__} "
                            f"{self.rows!r:.40}")
        if self.rows < 1:
            raise ValueError(f"Workload.rows must be 1 or more, got {self.rows}")


def refresh_summary(db: Database, clock: Clock = time.time) -> int:
    """Rebuild ``summary`` from ``runs``; return how many runs it counted.

    Call ``clock()`` once, before reading ``runs``: the summary is as of that moment. It must
    return an int or float (not a bool) that is finite; otherwise raise TypeError or ValueError
    and change nothing.

    In ONE transaction: build the new summary aside, in a table ``summary_next`` (dropped
    first if it is there), one row per tenant and status with ``n`` its number of runs; then
    drop ``summary``, rename ``summary_next`` to ``summary``, and set the ``summary_refresh``
    row (``id = 1``) to ``(clock's reading, runs counted)``. A reader on another connection
    sees the old summary with the old refresh row, or the new with the new, whole: never a
    missing table, a half-built summary, or a summary with another refresh's time. A crash at
    any statement leaves the old ones.

    Build first and swap last: on PostgreSQL, dropping ``summary`` locks out its readers until
    the commit, so the swap should be the transaction's last, quick steps.
    """
    # BEGIN SOLUTION
    now = seconds("clock()", clock())
    with db.transaction():
        db.execute("DROP TABLE IF EXISTS summary_next")
        db.execute("CREATE TABLE summary_next (tenant TEXT NOT NULL, status TEXT NOT NULL, "
                   "n INTEGER NOT NULL, PRIMARY KEY (tenant, status))")
        db.execute("INSERT INTO summary_next (tenant, status, n) "
                   "SELECT tenant, status, COUNT(*) FROM runs GROUP BY tenant, status")
        counted = int(db.execute("SELECT COALESCE(SUM(n), 0) FROM summary_next").fetchone()[0])
        db.execute("DROP TABLE IF EXISTS summary")
        db.execute("ALTER TABLE summary_next RENAME TO summary")
        db.execute("INSERT INTO summary_refresh (id, refreshed_at, runs) VALUES (1, ?, ?) "
                   "ON CONFLICT (id) DO UPDATE SET refreshed_at = excluded.refreshed_at, "
                   "runs = excluded.runs", (now, counted))
    return counted
    # END SOLUTION


def staleness(db: Database, clock: Clock = time.time) -> float:
    """Seconds since the last refresh: ``clock()`` minus the recorded ``refreshed_at``, never
    below 0.0; ``math.inf`` when the summary was never refreshed. ``clock()`` must return a
    finite number of seconds (an int or a float, not a bool), even then; otherwise raise
    TypeError or ValueError."""
    # BEGIN SOLUTION
    now = seconds("clock()", clock())
    row = db.execute("SELECT refreshed_at FROM summary_refresh WHERE id = 1").fetchone()
    if row is None:
        return math.inf
    return max(0.0, now - float(row[0]))
    # END SOLUTION


def summary(db: Database, tenant: str, clock: Clock = time.time) -> tuple[dict[str, int], float]:
    """``({status: runs}, age)`` for ``tenant``, read from ``summary`` (``{}`` for a tenant it
    does not hold), with its age in seconds as ``staleness`` computes it.

    The counts and the age must belong to the same refresh, even when a refresh commits on
    another connection in the middle of the call: read both in one statement (on PostgreSQL a
    transaction is not enough: at READ COMMITTED each statement sees its own snapshot).
    ``tenant`` must be a name ``validate_name`` accepts, and ``clock()`` must return a finite
    number of seconds as for ``staleness``; otherwise raise TypeError or ValueError.
    """
    # BEGIN SOLUTION
    validate_name("tenant", tenant)
    now = seconds("clock()", clock())
    rows = db.execute("SELECT r.refreshed_at, s.status, s.n FROM summary_refresh r "
                      "LEFT JOIN summary s ON s.tenant = ? WHERE r.id = 1 ORDER BY s.status",
                      (tenant,)).fetchall()
    if not rows:
        return {}, math.inf
    counts = {str(status): int(n) for _, status, n in rows if status is not None}
    return counts, max(0.0, now - float(rows[0][0]))
    # END SOLUTION


def choose(workload: Workload, figures: Mapping[str, Figures]) -> str:
    """The simplest option that serves ``workload``, from figures measured at its size.

    ``figures`` maps option names (``cqrs_kata.alternatives.OPTIONS``) to their ``Figures``;
    it must hold the four ``CHOICES`` (others are allowed, checked like these, and not used),
    each measured with ``rows`` equal to ``workload.rows`` and filed under its own ``option``,
    and ``"etl summary"`` and ``"projector counters"`` with a ``refresh_s``. Otherwise raise
    TypeError (``workload`` not a ``Workload``, ``figures`` not a mapping, a value not a
    ``Figures``) or ValueError (a name not in ``OPTIONS``, a missing one, a figure filed under
    another name, measured at another size, without its ``refresh_s``, or with one of the
    ``COSTS`` negative or NaN).

    An option serves the workload when it is fresh enough and light enough. Fresh enough: its
    ``staleness_s`` is at most ``allowed_staleness_s``. Light enough: its load, the seconds per
    second one connection would spend serving it, one call at a time, is at most ``BUSY_CAP``.
    The load is ``reads_per_s * read_mean_s + writes_per_s * write_s``, plus the refreshing for
    the two options that refresh. The ETL job starts every ``allowed_staleness_s - refresh_s``
    seconds, start to start, the longest period that keeps every answer within the allowed
    staleness, and adds ``refresh_s`` divided by that period (a period of 0 or less cannot keep
    up: not light enough). The projector projects ``rows`` events in ``refresh_s``, and adds
    ``writes_per_s * refresh_s / rows``. Answer the first of ``CHOICES`` that serves the
    workload; when none does, raise ``NothingFits`` with a message that gives each one's
    staleness and load.

    Why the mean: reads cost their number times their mean, and the median hides the slow reads
    that cost the most. Why staleness as measured: a projector that polls every 50 ms when idle
    cannot promise answers 10 ms old, however fast it folds (a notification may wake it sooner,
    but a notification is only a hint). Not weighed: whether a refresh blocks readers or writers
    (``blocks_readers``, ``blocks_writers``), and what a projector's commits cost at a low
    write rate, when each event is a batch of its own; read those before you pick.
    """
    # BEGIN SOLUTION
    if not isinstance(workload, Workload):
        raise TypeError(f"workload must be a Workload, got {type(workload).__name__}")
    if not isinstance(figures, Mapping):
        raise TypeError(f"figures must be a mapping of option name to Figures, got "
                        f"{type(figures).__name__}")
    for name, figure in figures.items():
        if name not in OPTIONS:
            raise ValueError(f"unknown option {name!r}; the options are {', '.join(OPTIONS)}")
        if not isinstance(figure, Figures):
            raise TypeError(f"figures[{name!r}] must be a Figures, got {type(figure).__name__}")
        if figure.option != name:
            raise ValueError(f"figures[{name!r}] holds the figures of {figure.option!r}")
        if figure.rows != workload.rows:
            raise ValueError(f"figures[{name!r}] were measured at {figure.rows} rows, the "
                             f"workload has {workload.rows}: measure at its size")
        for cost in COSTS:
            value = getattr(figure, cost)
            if value is not None and not value >= 0:  # NaN compares false
                raise ValueError(f"figures[{name!r}].{cost} is {value}: a cost is 0 or more")
    missing = [name for name in CHOICES if name not in figures]
    if missing:
        raise ValueError(f"figures lack {', '.join(missing)}: choose needs {', '.join(CHOICES)}")
    for name in ("etl summary", "projector counters"):
        if figures[name].refresh_s is None:
            raise ValueError(f"figures[{name!r}] need a refresh_s: choose weighs its refreshing")
    said = []
    for name in CHOICES:
        figure = figures[name]
        fresh = figure.staleness_s <= workload.allowed_staleness_s
        load = workload.reads_per_s * figure.read_mean_s + workload.writes_per_s * figure.write_s
        refresh = figure.refresh_s or 0.0
        if name == "etl summary":
            wait = workload.allowed_staleness_s - refresh
            load += refresh / wait if wait > 0 else math.inf
        elif name == "projector counters":
            load += workload.writes_per_s * refresh / workload.rows
        if fresh and load <= BUSY_CAP:
            return name
        said.append(f"{name}: {'fresh enough' if fresh else 'too stale'} "
                    f"({figure.staleness_s:.3g} s), load {load:.3g} s/s")
    raise NothingFits(f"allowed staleness {workload.allowed_staleness_s:.3g} s, load at most "
                      f"{BUSY_CAP} s/s; " + "; ".join(said))
    # END SOLUTION

