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
    write_overhead: float
    """Seconds to record a run with this option in place, as a ratio to a bare append (1.0 =
    no overhead)."""
    staleness_s: float
    """How old an answer can be, in seconds (0.0 for options that read the truth each time)."""
    refresh_s: float | None
    """Seconds to refresh or catch up the whole view; None for options with nothing to refresh."""
    blocks_readers: bool | None
    """Whether readers wait while it refreshes; None for options with nothing to refresh."""
