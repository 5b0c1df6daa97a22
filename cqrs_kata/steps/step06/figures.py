"""What step 06's ``choose`` decides between and decides from: the options compared
(``OPTIONS``) and what one of them costs (``Figures``). The exercise imports them as
``cqrs_kata.alternatives``; ``alternatives`` here measures them.
"""

from __future__ import annotations

from dataclasses import dataclass

OPTIONS = (
    "no index",              # step 01's query before its index: GROUP BY over a full scan
    "table+index",           # step 01: GROUP BY on one table, with a covering index
    "sql view",              # CREATE VIEW ... GROUP BY: the same query, named
    "matview refresh",       # PostgreSQL MATERIALIZED VIEW, REFRESH (blocks readers)
    "matview concurrently",  # REFRESH ... CONCURRENTLY (needs a unique index; readers go on)
    "etl summary",           # a scheduled job fills a summary table, swapped in atomically
    "query object",          # a read-side object that owns its query and caches nothing
    "inline counters",       # step 02 on a database: the writer's transaction keeps the counts
    "projector counters",    # step 05: counts kept by a projector, read by key
)
"""Every option compared, by the name figures, plots and the decision function use."""


@dataclass(frozen=True)
class Figures:
    """What one option costs at one size, measured on one backend."""

    option: str
    backend: str
    """``"sqlite"`` or ``"postgresql"``."""
    rows: int
    read_p50_s: float
    read_p99_s: float
    read_mean_s: float
    """The mean seconds of one read: what reads cost in all is their number times this (the
    median hides the slow ones, which cost the most)."""
    write_s: float
    """The mean seconds to record one run, in a transaction of its own, with this option's write
    path: a bare append to ``runs``, the append and an index, the append and its counters, or the
    append and its outbox event."""
    staleness_s: float
    """The oldest an answer can be, in seconds, with the view kept up as fast as it can be: 0.0
    for options that read the truth or that the writer's own transaction updates; two refreshes
    (the longest measured) for a refresh run back to back, start to start (an answer read just
    before a swap was taken when the refresh before it began); for a projector, its longest idle
    sleep between polls plus the time it takes to show a new run. Measured on an idle machine:
    a busy one, or a late run, makes answers older."""
    refresh_s: float | None
    """Seconds to refresh or catch up the whole view; None for options with nothing to refresh."""
    blocks_readers: bool | None
    """Whether readers wait while it refreshes; None for options with nothing to refresh."""
    blocks_writers: bool | None
    """Whether writers of ``runs`` wait while it refreshes; None for options with nothing to
    refresh."""
