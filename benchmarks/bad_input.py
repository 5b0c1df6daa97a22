"""Step 05's bad-input suite, counted: kinds tried, refused cleanly, accepted, changed anything.

Usage: python benchmarks/bad_input.py
Runs every kind of bad input in tests/test_durable_contract.py (BAD_INPUT) against the
reference on SQLite and on PostgreSQL (where a server can be had), each on a database with 9
runs and a view at position 4. "Refused cleanly": the documented error, whose message says
what to do, and every table as it was. The goal is 0 accepted and 0 changed.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from cqrs_kata.db import open_database  # noqa: E402
from cqrs_kata.db.postgres import PostgresUnavailable, fresh_database  # noqa: E402
from solutions.step05 import DurableLog, DurableProjector  # noqa: E402
from tests.test_durable_contract import BAD_INPUT, runs_for, snapshot  # noqa: E402


def tally(where: str) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {"refused cleanly": [], "unclear message": [],
                                   "wrong error": [], "accepted": [], "changed": []}
    for kind, (action, error, advice) in BAD_INPUT.items():
        db = open_database(where)
        log, projector = DurableLog(db), DurableProjector(db)
        log.record_many(runs_for(9))
        projector.project_batch(4)
        before = snapshot(db)
        try:
            action(log, projector)
        except error as raised:
            said = "refused cleanly" if advice in str(raised) else "unclear message"
        except Exception:
            said = "wrong error"
        else:
            said = "accepted"
        if snapshot(open_database(where)) != before:
            found["changed"].append(kind)
        found[said].append(kind)
        with db.transaction():  # the next kind starts from an empty database
            for table in ("runs", "outbox", "counts", "checkpoints", "dead_letters"):
                db.execute(f"DELETE FROM {table}")
        db.close()
    return found


def main() -> None:
    places = {"SQLite": str(Path(tempfile.mkdtemp()) / "bad-input.db")}
    try:
        places["PostgreSQL"] = fresh_database("bad_input")
    except PostgresUnavailable as error:
        print(f"PostgreSQL left out: {str(error).splitlines()[0]}")
    print(f"{'database':<12}{'kinds':>7}{'refused cleanly':>17}{'unclear':>9}{'wrong error':>13}"
          f"{'accepted':>10}{'changed':>9}")
    for name, where in places.items():
        found = tally(where)
        print(f"{name:<12}{len(BAD_INPUT):>7}{len(found['refused cleanly']):>17}"
              f"{len(found['unclear message']):>9}{len(found['wrong error']):>13}"
              f"{len(found['accepted']):>10}{len(found['changed']):>9}")
        for what in ("unclear message", "wrong error", "accepted", "changed"):
            if found[what]:
                print(f"  {what}: {', '.join(found[what])}")


if __name__ == "__main__":
    main()
