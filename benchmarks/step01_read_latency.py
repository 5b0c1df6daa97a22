"""Step 01's figures: the dashboard's read latency against rows (10^3 … 10^6), answered by
GROUP BY on one table with no index, with step 01's covering index, and by step 02's counts
kept as a table in the same database (read by its primary key).

    .venv/bin/python benchmarks/step01_read_latency.py [largest rows] [seconds per figure]

Prints the numbers; nothing here is a test (timings depend on the machine). The goal: at 10^6
rows the counts table answers at least 1000x faster than GROUP BY with no index.
"""

from __future__ import annotations

import sys
import time

from cqrs_kata.steps.step01.read_latency import TENANTS, header, measure, row

GOAL = 1000


def main(largest: int, seconds: float) -> None:
    sizes = [10**k for k in range(3, 7) if 10**k <= largest] or [largest]
    print(f"summary() of one tenant of {TENANTS}, in-memory SQLite, µs per call "
          "(best of 3 rounds)")
    print(header())
    started = time.perf_counter()
    found = measure(sizes, seconds, on_size=lambda figures: print(row(figures), flush=True))
    last = found[-1]
    print(f"took {time.perf_counter() - started:.1f} s")
    print(f"at {last.rows:,} rows the counts table is {last.counter_speedup:,.0f}x faster than "
          f"GROUP BY with no index (goal >= {GOAL:,}x at 10^6: "
          f"{'met' if last.counter_speedup >= GOAL else 'NOT met'}) and "
          f"{last.index / last.counter:,.1f}x faster than GROUP BY with the index")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000,
         float(sys.argv[2]) if len(sys.argv) > 2 else 0.3)
