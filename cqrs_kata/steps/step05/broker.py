"""A stand-in for a message broker, for step 05's dual write and relay: outside the database.

``python -m cqrs_kata.steps.step05.broker FILE`` is the broker: a process of its own that reads
one JSON message per line on its stdin, appends it to FILE (one line each, the line number is
its offset), and answers with the offset on its stdout once the line is written. Nothing it
keeps is in the database, so no transaction can span it and the database: that is all a
broker has to be here. (A real one, Kafka or RabbitMQ, adds partitions, consumer groups,
retention and acknowledgement modes; none of them makes a transaction with your database.)

:class:`Broker` starts that process and talks to it. Where processes cannot be started (Python
in a browser), it keeps the same file from the notebook's own kernel, and says so.

:func:`relay` is the outbox's other half: it publishes the events after its mark to the broker,
then moves its mark. Publishing and moving the mark cannot be one transaction either, so a
relay that dies between the two publishes those events again when it restarts: **at least
once**, which is why whoever consumes the broker must make a repeat change nothing (step 04).
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from cqrs_kata import platform
from cqrs_kata.db import Database
from cqrs_kata.steps.step05.lab import Crash
from cqrs_kata.steps.tables import WRONG, Table

RELAY = "relay"
"""The relay's mark is a row of ``checkpoints`` under this name: the last position published."""


class Broker:
    """The broker process, started on ``path``; ``publish`` a message, read ``messages()``.

    Use it as a context manager: the process ends with the block. Where processes cannot be
    started, ``where`` says so and the messages go to the same file from this kernel.
    """

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.touch()
        self._process: subprocess.Popen[str] | None = None
        self.where = platform.local_only(("processes",))
        if self.where is None:
            self._process = subprocess.Popen(
                [sys.executable, "-m", __name__, str(self.path)], stdin=subprocess.PIPE,
                stdout=subprocess.PIPE, text=True)
            self.where = f"a broker process (pid {self._process.pid}) appending to {self.path.name}"
        else:
            self.where += "; here the broker's file is written from this kernel instead"

    def publish(self, message: dict[str, Any]) -> int:
        """Send ``message``; return its offset once the broker has written it."""
        line = json.dumps(message, sort_keys=True)
        if self._process is None:
            return append(self.path, line)
        stdin, stdout = self._pipes()
        stdin.write(line + "\n")
        stdin.flush()
        answer = stdout.readline()
        if not answer:
            raise RuntimeError(f"the broker process ended (exit code {self._process.poll()}); "
                               "start a new Broker")
        return int(answer)

    def messages(self) -> list[dict[str, Any]]:
        """Every message the broker holds, oldest first, each with its ``offset``."""
        return [{"offset": offset, **json.loads(line)} for offset, line in
                enumerate(self.path.read_text().splitlines(), start=1)]

    def close(self) -> None:
        """End the broker process (what it wrote stays in its file)."""
        if self._process is not None:
            stdin, _ = self._pipes()
            stdin.close()
            self._process.wait(timeout=10)
            self._process = None

    def _pipes(self) -> tuple[IO[str], IO[str]]:
        assert self._process is not None and self._process.stdin and self._process.stdout
        return self._process.stdin, self._process.stdout

    def __enter__(self) -> Broker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def append(path: Path, line: str) -> int:
    """Append ``line`` to the broker's file; return its offset (its line number)."""
    with path.open("a+") as file:
        file.write(line + "\n")
        file.flush()
        file.seek(0)
        return sum(1 for _ in file)


def relay(db: Database, broker: Broker, *, die_before_mark: bool = False) -> int:
    """Publish every event after the relay's mark to ``broker``, oldest first, each with its
    envelope and its outbox position; then move the mark to the last one. Return how many.

    ``die_before_mark=True`` stands for the relay process dying after publishing and before its
    mark commits: it raises :class:`Crash` there, and the next relay publishes them again.
    """
    row = db.execute("SELECT position FROM checkpoints WHERE view = ?", (RELAY,)).fetchone()
    mark = int(row[0]) if row else 0
    events = db.execute("SELECT position, event_id, type, version, run_id, tenant, status FROM "
                        "outbox WHERE position > ? ORDER BY position", (mark,)).fetchall()
    for position, event_id, kind, version, run_id, tenant, status in events:
        broker.publish({"event_id": event_id, "type": kind, "version": version,
                        "position": position, "run_id": run_id, "tenant": tenant,
                        "status": status})
    if die_before_mark and events:
        raise Crash(f"the relay died after publishing positions {events[0][0]} to "
                    f"{events[-1][0]}, before its mark moved from {mark}")
    if events:
        with db.transaction():
            db.execute("INSERT INTO checkpoints (view, position) VALUES (?, ?) ON CONFLICT (view) "
                       "DO UPDATE SET position = excluded.position", (RELAY, int(events[-1][0])))
    return len(events)


def messages_table(messages: list[dict[str, Any]]) -> Table:
    """The broker's messages, one row each; a message whose ``event_id`` came before is marked."""
    seen: set[object] = set()
    rows: list[tuple[str, ...]] = []
    again: set[tuple[int, int]] = set()
    for row, m in enumerate(messages):
        if m["event_id"] in seen:
            again.add((row, 1))
        seen.add(m["event_id"])
        rows.append((str(m["offset"]), f"{str(m['event_id'])[:8]}…", str(m["position"]),
                     f"{m['type']} v{m['version']}", str(m["tenant"]), str(m["status"])))
    return Table(("offset", "event_id", "position", "type", "tenant", "status"), tuple(rows),
                 marked=frozenset(again), right=frozenset({0, 2}),
                 note=f"{WRONG} the broker already had this event (same event_id): published again")


def counts_table(truth: Mapping[str, Mapping[str, int]],
                 consumers: Mapping[str, Mapping[str, Mapping[str, int]]]) -> Table:
    """Per tenant and status: the truth, then what each consumer counted; a count that is not
    the truth is marked."""
    rows: list[tuple[str, ...]] = []
    wrong: set[tuple[int, int]] = set()
    for tenant in sorted(truth):
        for status in sorted(truth[tenant]):
            counted = [consumers[c].get(tenant, {}).get(status, 0) for c in consumers]
            wrong |= {(len(rows), 3 + i) for i, n in enumerate(counted)
                      if n != truth[tenant][status]}
            rows.append((tenant, status, str(truth[tenant][status]), *map(str, counted)))
    return Table(("tenant", "status", "runs (the truth)", *consumers), tuple(rows),
                 marked=frozenset(wrong), right=frozenset(range(2, 3 + len(consumers))),
                 note=f"{WRONG} not the truth: counted more than once")


def main(argv: list[str]) -> int:
    """The broker process: append each line of stdin to the file; answer with its offset."""
    path = Path(argv[0])
    for line in sys.stdin:
        print(append(path, line.rstrip("\n")), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
