"""Wall time of `cqrs-kata check STEP`, as a learner runs it (a new process each time).

Usage: python benchmarks/check_latency.py [STEP] [RUNS]
Prints the median and the slowest run, for an untouched stub and for a solved exercise.
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cqrs_kata.dev import pristine_course


def time_runs(command: list[str], env: dict[str, str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, env=env, stdout=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    step = sys.argv[1] if len(sys.argv) > 1 else "02"
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 21
    command = [str(Path(sys.executable).with_name("cqrs-kata")), "check", step]
    with tempfile.TemporaryDirectory() as scratch:
        root = pristine_course(Path(scratch))
        env = {**os.environ, "CQRS_KATA_ROOT": str(root), "CQRS_KATA_STATE": scratch}
        for label in ("untouched stub", "solved exercise"):
            if label == "solved exercise":
                shutil.copy(root / "solutions" / f"step{step}.py", root / "exercises")
            times = time_runs(command, env, runs)
            print(f"cqrs-kata check {step} ({label}, {runs} runs): "
                  f"median {statistics.median(times) * 1000:.0f} ms, "
                  f"slowest {max(times) * 1000:.0f} ms")


if __name__ == "__main__":
    main()
