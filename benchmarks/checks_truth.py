"""How much the checks prove, per step: checks, contract sentences covered, mutants caught,
and the wall time of `cqrs-kata check NN` on a correct solution (stateful checks included).

Usage: python benchmarks/checks_truth.py [RUNS]
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from cqrs_kata.course.contract import contract
from cqrs_kata.course.structure import all_steps, get_step
from cqrs_kata.dev import pristine_course
from cqrs_kata.runner.run import run_step

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support: a checkout's
from tests.support.mutants import MUTANTS, mutant_source


def caught(step: str) -> tuple[int, int]:
    """(mutants some check catches, mutants) for ``step``."""
    files = sorted((MUTANTS / f"step{step}").glob("m[0-9][0-9]_*.diff"))

    def one(path: Path) -> bool:
        with tempfile.TemporaryDirectory() as scratch:
            (Path(scratch) / f"step{step}.py").write_text(mutant_source(path))
            return not run_step(get_step(step), Path(scratch)).ok

    with ThreadPoolExecutor(max_workers=8) as pool:
        return sum(pool.map(one, files)), len(files)


def check_time(step: str, runs: int) -> float:
    """Median wall time of `cqrs-kata check STEP` with the reference in exercises/."""
    command = [str(Path(sys.executable).with_name("cqrs-kata")), "check", step]
    with tempfile.TemporaryDirectory() as scratch:
        root = pristine_course(Path(scratch))
        shutil.copy(root / "solutions" / f"step{step}.py", root / "exercises")
        env = {k: v for k, v in os.environ.items() if not k.startswith("CQRS_KATA_")}
        env.update({"CQRS_KATA_ROOT": str(root), "CQRS_KATA_STATE": scratch})
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            subprocess.run(command, env=env, stdout=subprocess.DEVNULL, check=True)
            times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    runs = int(sys.argv[1]) if len(sys.argv) > 1 else 5
    print(f"{'step':<5} {'checks':>6} {'rules backed':>13} {'sentences placed':>17} "
          f"{'notes':>5} {'mutants caught':>15} {'check, median':>14}")
    for step in all_steps():
        sentences = contract(step)
        placed = sum(s.clause is not None for s in sentences)
        rules = [c for c in step.clauses if c.rule]
        backed = sum(bool(step.checks_backing(c)) for c in rules)
        notes = sum(not c.rule for c in step.clauses)
        mutants = caught(step.number) if (MUTANTS / f"step{step.number}").is_dir() else None
        shown = f"{mutants[0]}/{mutants[1]}" if mutants else "-"
        took = check_time(step.number, runs)
        print(f"{step.number:<5} {len(step.checks):>6} {backed:>6}/{len(rules):<6} "
              f"{placed:>9}/{len(sentences):<7} {notes:>5} {shown:>15} {took:>12.2f} s")


if __name__ == "__main__":
    main()
