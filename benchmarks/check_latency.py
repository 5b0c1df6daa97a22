"""Wall time of `cqrs-kata check STEP`, as a learner runs it (a new process each time).

Usage: python benchmarks/check_latency.py [STEP] [RUNS]
Prints the median and the slowest run for an untouched stub and for a solved exercise (each
check run starts a child process that runs the learner's code), then the worst cases: an
exercise whose every task loops forever, one that loops forever while it is imported, and
`cqrs-kata list` when every step's every task loops, with the default time limits (10 s a check,
5 s an import, 15 s a step).
"""

from __future__ import annotations

import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cqrs_kata.course.structure import all_steps
from cqrs_kata.dev import pristine_course
from cqrs_kata.runner.isolation import limits


def time_runs(command: list[str], env: dict[str, str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, env=env, stdout=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return times


def looping_everywhere(solution: str) -> str:
    """The solution with an endless loop at the start of every answer region."""
    return re.sub(r"\n( *)# BEGIN SOLUTION\n", r"\n\1while True:\n\1    pass\n", solution)


def main() -> None:
    step = sys.argv[1] if len(sys.argv) > 1 else "02"
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 21
    command = [str(Path(sys.executable).with_name("cqrs-kata")), "check", step]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CQRS_KATA_")}
    with tempfile.TemporaryDirectory() as scratch:
        root = pristine_course(Path(scratch))
        env.update({"CQRS_KATA_ROOT": str(root), "CQRS_KATA_STATE": scratch})
        exercise = root / "exercises" / f"step{step}.py"
        solution = root / "solutions" / f"step{step}.py"
        for label in ("untouched stub", "solved exercise"):
            if label == "solved exercise":
                shutil.copy(solution, exercise)
            times = time_runs(command, env, runs)
            print(f"cqrs-kata check {step} ({label}, {runs} runs): "
                  f"median {statistics.median(times) * 1000:.0f} ms, "
                  f"slowest {max(times) * 1000:.0f} ms")
        limit = limits()
        print(f"limits: {limit.check:g} s a check, {limit.imports:g} s an import, "
              f"{limit.step:g} s a step")
        for label, source in (
                ("every task loops forever", looping_everywhere(solution.read_text())),
                ("the import loops forever", "while True:\n    pass\n")):
            exercise.write_text(source)
            took = time_runs(command, env, 1)[0]
            print(f"cqrs-kata check {step} ({label}): {took:.1f} s")
        for other in all_steps():
            path = root / "exercises" / f"{other.module}.py"
            path.write_text(looping_everywhere((root / "solutions" / path.name).read_text()))
        lister = [command[0], "list"]
        print(f"cqrs-kata list (every task of every step loops forever): "
              f"{time_runs(lister, env, 1)[0]:.1f} s")


if __name__ == "__main__":
    main()
