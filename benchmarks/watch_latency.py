"""How long `cqrs-kata watch STEP` takes to show the new report after a save.

Usage: python benchmarks/watch_latency.py [STEP] [SAVES]
Starts `cqrs-kata watch STEP` on a pristine copy of the course, then saves the exercise SAVES
times, alternately the untouched stub and the reference, and times each save until the watch
has printed the whole new report (its last line). Prints the median and the slowest.
"""

from __future__ import annotations

import os
import queue
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from cqrs_kata.dev import pristine_course

END = ("if you are stuck.", "beside your code.")
"""How the last line of a step report ends: failing, or done."""


def lines_of(stream: object, into: queue.Queue[tuple[float, str]]) -> None:
    for line in stream:  # type: ignore[attr-defined]
        into.put((time.perf_counter(), line))


def next_report(lines: queue.Queue[tuple[float, str]], seconds: float = 60.0) -> float:
    """When the next report's last line came."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        at, line = lines.get(timeout=deadline - time.monotonic())
        if line.rstrip().endswith(END):
            return at
    raise TimeoutError(f"no report within {seconds:g} s")


def main() -> None:
    step = sys.argv[1] if len(sys.argv) > 1 else "02"
    saves = int(sys.argv[2]) if len(sys.argv) > 2 else 10
    env = {k: v for k, v in os.environ.items() if not k.startswith("CQRS_KATA_")}
    with tempfile.TemporaryDirectory() as scratch:
        root = pristine_course(Path(scratch))
        env.update({"CQRS_KATA_ROOT": str(root), "CQRS_KATA_STATE": scratch})
        exercise = root / "exercises" / f"step{step}.py"
        versions = [(root / "solutions" / exercise.name).read_text(), exercise.read_text()]
        command = [str(Path(sys.executable).with_name("cqrs-kata")), "watch", step]
        watcher = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, text=True)
        lines: queue.Queue[tuple[float, str]] = queue.Queue()
        threading.Thread(target=lines_of, args=(watcher.stdout, lines), daemon=True).start()
        try:
            next_report(lines)  # the first report, at start
            times = []
            for n in range(saves):
                time.sleep(1.0)  # a new modification time, as a person saving would give
                saved = time.perf_counter()
                exercise.write_text(versions[n % 2])
                times.append(next_report(lines) - saved)
        finally:
            watcher.terminate()
            watcher.wait(10)
    print(f"cqrs-kata watch {step}: the new report {statistics.median(times):.2f} s after a "
          f"save (median of {saves}), slowest {max(times):.2f} s")


if __name__ == "__main__":
    main()
