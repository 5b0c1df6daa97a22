# CORRECT: written from the stub's docstrings, notebook 06, its hints and COURSE.md, not solutions/
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
from solutions.step02 import validate_name

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

CHOICES = ("table+index", "etl summary", "projector counters")
"""What ``choose`` answers, simplest first; its ``figures`` must hold all three."""

CHEAP_ENOUGH = 0.1
"""Reads on the truth cost at most this many seconds per second (a tenth of one core)."""


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
    now = clock()
    if isinstance(now, bool) or not isinstance(now, int | float):
        raise TypeError(f"clock() must give a number of seconds, got {type(now).__name__} "
                        f"{now!r:.40}")
    if not math.isfinite(now):
        raise ValueError(f"clock() must give a finite number of seconds, got {now}")
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


def staleness(db: Database, clock: Clock = time.time) -> float:
    """Seconds since the last refresh: ``clock()`` minus the recorded ``refreshed_at``, never
    below 0.0; ``math.inf`` when the summary was never refreshed."""
    row = db.execute("SELECT refreshed_at FROM summary_refresh WHERE id = 1").fetchone()
    if row is None:
        return math.inf
    return max(0.0, clock() - float(row[0]))


def summary(db: Database, tenant: str, clock: Clock = time.time) -> tuple[dict[str, int], float]:
    """``({status: runs}, age)`` for ``tenant``, read from ``summary`` (``{}`` for a tenant it
    does not hold), with its age in seconds as ``staleness`` computes it.

    The counts and the age must belong to the same refresh, even when a refresh commits on
    another connection in the middle of the call: read both in one statement (or one
    transaction). ``tenant`` must be a name ``validate_name`` accepts; otherwise raise
    TypeError or ValueError.
    """
    validate_name("tenant", tenant)
    rows = db.execute(
        "SELECT r.refreshed_at, s.status, s.n FROM summary_refresh AS r "
        "LEFT JOIN summary AS s ON s.tenant = ? WHERE r.id = 1",
        (tenant,),
    ).fetchall()
    if not rows:
        return {}, math.inf
    counts = {status: int(n) for _, status, n in rows if status is not None}
    age = max(0.0, clock() - float(rows[0][0]))
    return counts, age


def choose(workload: Workload, figures: Mapping[str, Figures]) -> str:
    """The simplest option that serves ``workload``, from figures measured at its size.

    ``figures`` maps option names (``cqrs_kata.alternatives.OPTIONS``) to their ``Figures``;
    it must hold ``"table+index"``, ``"etl summary"`` and ``"projector counters"`` (others are
    allowed, checked like these, and not used), each measured with ``rows`` equal to
    ``workload.rows`` and filed under its own ``option``, and the last two with a
    ``refresh_s``. Otherwise raise
    TypeError (``workload`` not a ``Workload``, ``figures`` not a mapping, a value not a
    ``Figures``) or ValueError (a name not in ``OPTIONS``, a missing one, a figure filed under
    another name, measured at another size, or without its ``refresh_s``).

    The rules, in this order, the first that holds deciding. Strong consistency first: when
    ``allowed_staleness_s == 0``, answer ``"table+index"`` (only the truth is never stale).
    Simplest wins: when ``reads_per_s * read_p50_s`` of ``"table+index"`` is at most
    ``CHEAP_ENOUGH`` (0.1 s of work per second, a tenth of a core), answer ``"table+index"``.
    When ``refresh_s`` of ``"etl summary"`` is at most half of ``allowed_staleness_s``, answer
    ``"etl summary"``. When ``writes_per_s * refresh_s`` of ``"projector counters"`` is at most
    half of ``rows``, answer ``"projector counters"``. Otherwise raise ``NothingFits``.

    Why: a job started every half of the allowed staleness that takes at most as long keeps
    every answer within it. A projector's ``refresh_s`` projects ``rows`` events, so at
    ``writes_per_s`` it is busy ``writes_per_s * refresh_s / rows`` of the time; at most half
    leaves room to catch up after a pause.
    """
    if not isinstance(workload, Workload):
        raise TypeError(f"workload must be a Workload, got {type(workload).__name__}")
    if not isinstance(figures, Mapping):
        raise TypeError(f"figures must be a mapping of option names to Figures, got "
                        f"{type(figures).__name__}")
    for name, figure in figures.items():
        if name not in OPTIONS:
            raise ValueError(f"{name!r} is not an option; the options are {OPTIONS}")
        if not isinstance(figure, Figures):
            raise TypeError(f"figures[{name!r}] must be a Figures, got {type(figure).__name__}")
        if figure.option != name:
            raise ValueError(f"figures[{name!r}] holds the figures of {figure.option!r}")
        if figure.rows != workload.rows:
            raise ValueError(f"figures[{name!r}] was measured at {figure.rows} rows, the "
                             f"workload has {workload.rows}")
    missing = [name for name in CHOICES if name not in figures]
    if missing:
        raise ValueError(f"figures lacks {missing}")
    for name in ("etl summary", "projector counters"):
        if figures[name].refresh_s is None:
            raise ValueError(f"figures[{name!r}] has no refresh_s")

    etl_s = figures["etl summary"].refresh_s
    projector_s = figures["projector counters"].refresh_s
    assert etl_s is not None and projector_s is not None
    if workload.allowed_staleness_s == 0:
        return "table+index"
    if workload.reads_per_s * figures["table+index"].read_p50_s <= CHEAP_ENOUGH:
        return "table+index"
    if etl_s <= workload.allowed_staleness_s / 2:
        return "etl summary"
    if workload.writes_per_s * projector_s <= workload.rows / 2:
        return "projector counters"
    raise NothingFits(
        f"no option serves {workload}: the truth is read {workload.reads_per_s} times a "
        f"second, more than {CHEAP_ENOUGH} s of work per second; an ETL refresh takes "
        f"{etl_s} s, more than half of the {workload.allowed_staleness_s} s allowed; the "
        f"projector would be busy {workload.writes_per_s * projector_s / workload.rows:.0%} "
        "of the time, more than half")
