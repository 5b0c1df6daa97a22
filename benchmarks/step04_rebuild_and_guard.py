"""Step 04's figures: how long a build-aside rebuild of 10^6 runs takes, and what the
checkpoint guard costs next to step 03's naive drain, measured in the same run.

    .venv/bin/python benchmarks/step04_rebuild_and_guard.py [runs]

Prints the numbers; nothing here is a test (timings depend on the machine).
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

from solutions.step02 import MemoryRead, MemoryWrite, Run
from solutions.step03 import Event, QueuedRunService
from solutions.step04 import Projector

TENANTS = [f"tenant-{i}" for i in range(50)]
STATUSES = ["ok", "ok", "ok", "fail", "cancelled"]


def history(n: int) -> list[Run]:
    return [Run(TENANTS[i % len(TENANTS)], STATUSES[i % len(STATUSES)]) for i in range(n)]


def best_of(repeat: int, action: Callable[[], None]) -> float:
    """Seconds for ``action``, the median of ``repeat`` runs (setup is the caller's job)."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main(n: int) -> None:
    runs = history(n)
    write = MemoryWrite(list(runs))
    events = [Event(i, r.tenant, r.status, 0.0) for i, r in enumerate(runs, start=1)]

    projector = Projector(write)
    rebuild = best_of(3, projector.rebuild)
    assert projector.checkpoint == n

    def naive() -> float:  # step 03: every queued event is counted, no questions asked
        service = QueuedRunService(MemoryWrite(), MemoryRead())
        service.queue.extend(events)  # filling the queue is set-up, not timed
        start = time.perf_counter()
        service.drain()
        return time.perf_counter() - start

    def guarded() -> float:  # step 04: the same events, each checked against the checkpoint
        projector = Projector(write)  # and against the write log, which holds their runs
        start = time.perf_counter()
        projector.deliver(events)
        return time.perf_counter() - start

    # Interleave the two so that both see the same machine load; median of each.
    naive_times, guarded_times = [], []
    for _ in range(5):
        naive_times.append(naive())
        guarded_times.append(guarded())
    naive_s, guarded_s = statistics.median(naive_times), statistics.median(guarded_times)

    print(f"runs: {n:,}")
    print(f"rebuild aside and swap:        {rebuild:.3f} s  (goal <= 1 s for 10^6)")
    print(f"naive drain (step 03):         {naive_s:.3f} s")
    print(f"guarded deliver (step 04):     {guarded_s:.3f} s")
    print(f"guard overhead (checkpoint, types, the write log): {guarded_s / naive_s:.2f}x  "
          "(issue 4's goal was <= 1.3x for the checkpoint alone)")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
