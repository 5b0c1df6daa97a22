"""Step 06's headline figures, every option side by side in one run on SQLite and PostgreSQL:
the counter's read against GROUP BY with no index, the index's speed-up, the matview's read
against the counter's, REFRESH against REFRESH CONCURRENTLY (time, and whether a reader waited
on a lock), and each option's mean time to record a run as a ratio to a bare append's.

    .venv/bin/python benchmarks/step06_alternatives.py [rows ...]    # default 1000000

Prints the table and the headlines; nothing here is a test (timings depend on the machine).
``cqrs-kata bench`` runs the whole sweep and draws the plots. PostgreSQL is
``$CQRS_KATA_PG_DSN`` or a throwaway server (cqrs_kata.db.postgres); without one, it says why.
"""

from __future__ import annotations

import sys
import time

from cqrs_kata.db import postgres
from cqrs_kata.steps.step06 import alternatives


def main(argv: list[str]) -> None:
    sizes = [int(arg) for arg in argv] or [1_000_000]
    why = postgres.unavailable_reason()
    servers: list[str | None] = [None] if why else [None, postgres.dsn()]
    if why:
        print(f"PostgreSQL left out: {why}\n", flush=True)
    figures = []
    started = time.perf_counter()
    for rows in sizes:
        for dsn in servers:
            figures += alternatives.measure(rows, dsn=dsn)
    print(alternatives.table(figures), "\n", flush=True)
    print(alternatives.headlines(figures))
    print(f"\nmeasured in {time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main(sys.argv[1:])
