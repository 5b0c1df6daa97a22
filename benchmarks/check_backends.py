"""How long checking a step takes with its SQL run on SQLite only, and on SQLite and PostgreSQL.

Usage: python benchmarks/check_backends.py [RUNS]
Warm: ``run_step`` on the reference, in one process that keeps its embedded PostgreSQL server
and its checks database between runs (a notebook kernel, ``cqrs-kata watch``); the first run,
which starts the server, is left out of the median. Cold: ``cqrs-kata check NN`` as a new
process, which starts a server of its own and stops it at the end.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

from cqrs_kata.course.structure import get_step
from cqrs_kata.db import backends
from cqrs_kata.runner.run import run_step


def warm(step: str, runs: int, which: str) -> list[float]:
    os.environ[backends.BACKENDS_ENV] = which
    times = []
    for _ in range(runs + 1):
        start = time.perf_counter()
        result = run_step(get_step(step), "solutions")
        times.append(time.perf_counter() - start)
        assert result.ok, f"the reference failed step {step} on {which}"
    return times[1:]


def cold(step: str, runs: int) -> list[float]:
    env = {**os.environ}
    env.pop(backends.BACKENDS_ENV, None)
    cli = str(Path(sys.executable).with_name("cqrs-kata"))
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([cli, "check", step, "--target", "solutions"], env=env, check=True,
                       stdout=subprocess.DEVNULL)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 3
    print(f"check the reference, median of {runs} runs (slowest in brackets)")
    print(f"{'step':<6}{'SQLite only, warm':>20}{'both, warm':>16}{'both, cold CLI':>18}")
    for step in ("02", "05", "06", "07"):
        row = []
        for which in ("sqlite", "sqlite,postgresql"):
            times = warm(step, runs, which)
            row.append(f"{statistics.median(times):.2f} s ({max(times):.2f})")
        times = cold(step, runs)
        row.append(f"{statistics.median(times):.2f} s ({max(times):.2f})")
        print(f"{step:<6}{row[0]:>20}{row[1]:>16}{row[2]:>18}")


if __name__ == "__main__":
    main()
