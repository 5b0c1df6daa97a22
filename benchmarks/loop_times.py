"""How long the project's own loops take: `make quick` (the edit loop) and `make test` (every
check), each run warm (the venv made, the site's downloads cached) on this machine.

Usage: python benchmarks/loop_times.py [quick|test ...] [--runs N]
Prints, per target, each run's wall time and pytest's closing line; the issue's budgets are
60 s for `make quick` and 4 min for `make test` on 2 cores. `make setup` runs first, untimed,
so a changed pyproject.toml is installed before anything is measured.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUDGET_S = {"quick": 60.0, "test": 240.0}
SUMMARY = re.compile(r"^=*\s*(\d+ (passed|failed).*) in [\d.]+s", re.M)


def timed(target: str) -> tuple[float, int, str]:
    """Wall seconds of `make target`, its exit code and pytest's closing line."""
    started = time.perf_counter()
    done = subprocess.run(["make", target], cwd=ROOT, capture_output=True, text=True,
                          check=False)
    seconds = time.perf_counter() - started
    found = SUMMARY.findall(done.stdout)
    closing = found[-1][0] if found else (done.stdout + done.stderr).strip()[-300:]
    return seconds, done.returncode, closing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("targets", nargs="*", default=["quick", "test"],
                        choices=sorted(BUDGET_S))
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args()
    subprocess.run(["make", "setup"], cwd=ROOT, check=True, capture_output=True)
    print(f"{os.cpu_count()} cores")
    for target in args.targets:
        for run in range(1, args.runs + 1):
            seconds, code, closing = timed(target)
            verdict = "within" if seconds <= BUDGET_S[target] else "over"
            print(f"make {target:5} run {run}: {seconds:6.1f} s ({verdict} its "
                  f"{BUDGET_S[target]:.0f} s budget), exit {code}: {closing}")


if __name__ == "__main__":
    main()
