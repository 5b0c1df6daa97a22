"""Step 03 figures: record() and drain() throughput of the reference, beside a plain-loop floor.

    .venv/bin/python benchmarks/step03_throughput.py            # 10^6 events, best of 3
    .venv/bin/python benchmarks/step03_throughput.py --events 100000 --repeat 1

The floors are plain loops over the same (tenant, status) pairs: one only increments a dict
of dicts (the least a view must do per event), one only appends to a list (the least a write
log must do). The reference pays on top for validation, events, the queue, the lock and the
stores' method calls. Numbers are printed, never asserted: they depend
on the machine.
"""

from __future__ import annotations

import argparse
import gc
import platform
import time
from collections.abc import Callable

from solutions.step03 import MemoryRead, MemoryWrite, QueuedRunService

TENANTS = ("acme", "globex", "initech", "umbrella", "hooli")
STATUSES = ("ok", "fail", "skipped")


def pairs(n: int) -> list[tuple[str, str]]:
    return [(TENANTS[i % len(TENANTS)], STATUSES[i % len(STATUSES) - (i // 7) % 2])
            for i in range(n)]


def timed(action: Callable[[], object]) -> float:
    gc.collect()
    gc.disable()  # allocation-heavy loops; collection pauses would dominate the noise
    try:
        start = time.perf_counter()
        action()
        return time.perf_counter() - start
    finally:
        gc.enable()


def one_round(work: list[tuple[str, str]]) -> dict[str, float]:
    n = len(work)
    svc = QueuedRunService(MemoryWrite(), MemoryRead())
    record = svc.record

    def record_all() -> None:
        for tenant, status in work:
            record(tenant, status)

    seconds = {"record()": timed(record_all)}
    applied: list[int] = []
    seconds["drain() of the whole queue"] = timed(lambda: applied.append(svc.drain()))
    assert applied == [n] and svc.lag().events == 0

    batched = QueuedRunService(MemoryWrite(), MemoryRead())
    for tenant, status in work:
        batched.record(tenant, status)

    def drain_in_batches() -> None:
        while batched.drain(1000):
            pass

    seconds["drain(1000) until empty"] = timed(drain_in_batches)
    assert batched.applied == n

    floor: dict[str, dict[str, int]] = {}

    def plain_loop() -> None:
        counts = floor
        for tenant, status in work:
            per = counts.get(tenant)
            if per is None:
                per = counts[tenant] = {}
            per[status] = per.get(status, 0) + 1

    seconds["floor: dict-of-dicts increments"] = timed(plain_loop)

    log: list[tuple[str, str]] = []

    def append_loop() -> None:
        append = log.append
        for pair in work:
            append(pair)

    seconds["floor: list appends (for record)"] = timed(append_loop)
    view = {t: svc.read.summary(t) for t in TENANTS}
    assert view == floor, "the drained view and the floor loop must count the same"
    return {name: n / s for name, s in seconds.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if args.events < 1 or args.repeat < 1:
        parser.error("--events and --repeat must be 1 or more")
    work = pairs(args.events)
    rounds = [one_round(work) for _ in range(args.repeat)]
    print(f"step 03 throughput, {args.events:,} events, best of {args.repeat} "
          f"(Python {platform.python_version()}, {platform.machine()})")
    for name in rounds[0]:
        best = max(r[name] for r in rounds)
        print(f"  {name:<34} {best:>14,.0f} events/s")
    drain = max(r["drain() of the whole queue"] for r in rounds)
    floor = max(r["floor: dict-of-dicts increments"] for r in rounds)
    print(f"  drain() runs at {drain / floor:.0%} of the floor; goal >= 1,000,000 events/s: "
          f"{'met' if drain >= 1_000_000 else 'NOT met'}")


if __name__ == "__main__":
    main()
