"""Step 05's soak: the kill storm of tests/test_kill_storm.py, long. 4 writer processes record
10^5 runs while 2 projector processes on the one view are SIGKILLed at least 200 times (writers
are killed too, some mid-transaction, and rebuilds run, some killed mid-way); then a final
catch-up, and the count of runs lost and counted twice, on SQLite and on PostgreSQL.

    .venv/bin/python benchmarks/step05_soak.py [runs] [kills]     # default 100000 200

Prints the figures; the storm itself is tests/support/storm.py.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.support: a checkout's
from tests.support.storm import storm


def main(runs: int, kills: int) -> int:
    print(f"step 05 soak: {runs:,} runs, >= {kills} projector kills (load average "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} cores)", flush=True)
    places = [("SQLite", str(Path(tempfile.mkdtemp(prefix="step05-soak-")) / "soak.db"))]
    try:
        from cqrs_kata.db.postgres import PostgresUnavailable, fresh_database

        places.append(("PostgreSQL", fresh_database("soak05")))
    except (ImportError, PostgresUnavailable) as error:
        print(f"PostgreSQL: not measured: {error}")
    bad = 0
    for name, where in places:
        result = storm(where, writers=4, runs=runs, kills=kills, projectors=2,
                       seconds=max(2.0, runs / 1500), writer_kills=max(2, kills // 10),
                       rebuilds=max(2, kills // 20), seed=1)
        final = result.final
        assert final is not None
        print(f"{name:<10} {result}", flush=True)
        for failure in result.failures:
            print(f"{name:<10} FAILURE: {failure}")
        bad += bool(result.failures) or not final.exact or final.runs != runs
    return 1 if bad else 0


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:3]]
    sys.exit(main(*(args + [100_000, 200][len(args):])))
