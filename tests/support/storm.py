"""Kill storms for step 05: the one home of the logic that the storm tests and the soak
benchmark share.

Writer processes record runs while projector processes (``python -m
cqrs_kata.steps.step05.projector_process``) on the same view are SIGKILLed at random moments and
started again; writers may be killed too, and rebuilds may run (and be killed) mid-way. At the end a
final catch-up runs, and :class:`StormResult` says how the view compares with the truth: a
reliable step 05 loses nothing, counts nothing twice, and leaves no run without its event.

    python -m tests.support.storm write DATABASE --writer 1 --runs 2500 [--pace 300]
    python -m tests.support.storm rebuild DATABASE [--every 500]

are the processes a storm starts; :func:`storm` runs one. ``DATABASE`` is a SQLite path or a
``postgresql://`` DSN, as everywhere in step 05.
"""

from __future__ import annotations

import argparse
import random
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from cqrs_kata.db import Database, open_database, truth, view_counts

TENANTS_PER_WRITER = 7
STATUSES = ("ok", "ok", "ok", "fail", "cancelled")

KILL_POINTS = ("BEGIN", "SELECT position FROM checkpoints", "SELECT position, tenant",
               "UPDATE checkpoints|INSERT INTO checkpoints", "INSERT INTO counts", "COMMIT",
               "DELETE FROM counts", "UPDATE counts")
"""Statements a projector or rebuild may be told to die just before (``--kill-at``)."""

WRITER_KILL_POINTS = ("INSERT INTO runs", "INSERT INTO outbox", "COMMIT", "LOCK TABLE")
"""Statements inside ``record_many``'s transaction where a writer may die."""


def tenant_of(writer: int, k: int) -> str:
    return f"w{writer}-t{k % TENANTS_PER_WRITER}"


def recorded_by(db: Database, writer: int) -> int:
    """How many runs writer ``writer`` has committed so far (a restarted writer resumes)."""
    return int(db.execute("SELECT COUNT(*) FROM runs WHERE tenant LIKE ?",
                          (f"w{writer}-%",)).fetchone()[0])


def write(where: str, writer: int, runs: int, pace: float = 0.0, seed: int = 0,
          kill_at: str = "") -> int:
    """Record runs for ``writer`` until it has ``runs`` of them committed, in transactions of
    1 to 20 runs (``record`` for one, ``record_many`` for more), at about ``pace`` runs a second
    (0: as fast as it can); SIGKILL this process just before the statement ``kill_at`` names,
    if given. Return how many this call recorded."""
    from cqrs_kata.steps.step05.projector_process import kill_before
    from solutions.step05 import DurableLog

    db = open_database(where)
    if kill_at:
        kill_before(db, kill_at)
    log = DurableLog(db)
    done = recorded_by(db, writer)
    rng = random.Random(seed * 1000 + writer * 7919 + done)
    start, recorded = time.monotonic(), 0
    while done < runs:
        size = min(rng.choice((1, 1, 2, 5, 10, 20)), runs - done)
        batch = [(tenant_of(writer, rng.randrange(1000)), rng.choice(STATUSES))
                 for _ in range(size)]
        if size == 1:
            log.record(*batch[0])
        else:
            log.record_many(batch)
        done += size
        recorded += size
        if pace:
            ahead = start + recorded / pace - time.monotonic()
            if ahead > 0:
                time.sleep(ahead)
    db.close()
    return recorded


def rebuild(where: str, view: str, every: int, kill_at: str = "") -> None:
    """Rebuild ``view`` once (SIGKILLed just before ``kill_at``'s statement, if given)."""
    from cqrs_kata.steps.step05.projector_process import kill_before
    from solutions.step05 import DurableProjector

    db = open_database(where)
    if kill_at:
        kill_before(db, kill_at)
    DurableProjector(db, view).rebuild(every=every)
    db.close()


@dataclass
class Check:
    """How a database's view compares with its truth."""

    runs: int
    events: int
    lost: int
    """Runs the view counts fewer of than ``runs`` holds (summed over tenant and status)."""
    doubled: int
    """Runs the view counts more of than ``runs`` holds."""
    orphans: int
    """Runs without their event, events without their run, and second events of a run."""
    dead_letters: int
    behind: int
    """Events after the view's checkpoint (0 after a catch-up)."""

    @property
    def exact(self) -> bool:
        return not (self.lost or self.doubled or self.orphans or self.dead_letters or
                    self.behind)


def check(db: Database, view: str = "dashboard") -> Check:
    """Compare ``view`` with ``truth(db)`` and the log with the runs, as things are now."""
    want, got = truth(db), view_counts(db, view)
    lost = doubled = 0
    for tenant in want.keys() | got.keys():
        for status in want.get(tenant, {}).keys() | got.get(tenant, {}).keys():
            diff = got.get(tenant, {}).get(status, 0) - want.get(tenant, {}).get(status, 0)
            lost, doubled = lost + max(0, -diff), doubled + max(0, diff)
    one = db.execute
    # NOT IN over an uncorrelated subquery: both databases hash it once (outbox.run_id has no
    # index, and a correlated NOT EXISTS made SQLite scan the outbox once per run).
    orphans = int(one("SELECT COUNT(*) FROM runs WHERE id NOT IN (SELECT run_id FROM outbox "
                      "WHERE run_id IS NOT NULL)").fetchone()[0])
    orphans += int(one("SELECT COUNT(*) FROM outbox WHERE run_id IS NULL OR run_id NOT IN "
                       "(SELECT id FROM runs)").fetchone()[0])
    orphans += int(one("SELECT COUNT(run_id) - COUNT(DISTINCT run_id) FROM outbox").fetchone()[0])
    behind = int(one("SELECT COUNT(*) FROM outbox WHERE position > COALESCE((SELECT position "
                     "FROM checkpoints WHERE view = ?), 0)", (view,)).fetchone()[0])
    return Check(runs=int(one("SELECT COUNT(*) FROM runs").fetchone()[0]),
                 events=int(one("SELECT COUNT(*) FROM outbox").fetchone()[0]),
                 lost=lost, doubled=doubled, orphans=orphans,
                 dead_letters=int(one("SELECT COUNT(*) FROM dead_letters").fetchone()[0]),
                 behind=behind)


def catch_up(db: Database, view: str = "dashboard") -> int:
    """Project everything there is into ``view``, in this process; return how many events."""
    from solutions.step05 import DurableProjector

    projector, taken = DurableProjector(db, view), 0
    while n := projector.project_batch(1000):
        taken += n
    return taken


def _python(*args: str) -> list[str]:
    return [sys.executable, *args]


@dataclass
class StormResult:
    """What a storm did and what it left behind."""

    kills: int = 0
    """Projector processes that died by SIGKILL (sent by the storm or by their --kill-at)."""
    writer_kills: int = 0
    rebuilds: int = 0
    rebuild_kills: int = 0
    starts: int = 0
    seconds: float = 0.0
    final: Check | None = None
    failures: list[str] = field(default_factory=list)
    """Processes that ended other than by a kill or cleanly, with their stderr's end."""

    def __str__(self) -> str:
        f = self.final
        assert f is not None
        return (f"{f.runs} runs, {self.kills} projector kills survived ({self.starts} starts), "
                f"{self.writer_kills} writers killed, {self.rebuilds} rebuilds "
                f"({self.rebuild_kills} killed) in {self.seconds:.1f} s: {f.lost} lost, "
                f"{f.doubled} counted twice, {f.orphans} runs/events without the other, "
                f"{f.dead_letters} dead letters")


class _Proc:
    def __init__(self, kind: str, argv: list[str]) -> None:
        self.kind = kind
        self.argv = argv
        self.seen = False
        self.due = time.monotonic()
        """When the storm may kill it (not while Python is still starting)."""
        self.popen = subprocess.Popen(argv, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.PIPE, text=True)


def storm(where: str | Path, *, writers: int = 4, runs: int = 10_000, kills: int = 20,
          projectors: int = 2, seconds: float = 8.0, writer_kills: int = 0,
          rebuilds: int = 0, view: str = "dashboard", seed: int = 0,
          batch: int = 200) -> StormResult:
    """Record ``runs`` runs from ``writers`` writer processes, spread over about ``seconds``,
    while ``projectors`` projector processes project into ``view`` and are SIGKILLed at random
    moments, at least ``kills`` times in all, spread over the writing (by the storm, 0.2 to
    0.6 s after a projector started, or by ``--kill-at`` a random statement, which half of
    them are given). Up to ``writer_kills`` writers are killed likewise, spread over the
    writing, and restarted (they resume where they were); writers that finish first end the
    writer kills. ``rebuilds`` rebuild processes run one at a time, every other one killed
    mid-way. Then a final catch-up, and the check of the view against the truth."""
    where = str(where)
    rng = random.Random(seed)
    result = StormResult()
    start = time.monotonic()
    per_writer = runs // writers
    pace = per_writer / seconds if seconds else 0.0

    def writer(i: int, kill_at: str = "") -> _Proc:
        argv = _python("-m", "tests.support.storm", "write", where, "--writer", str(i),
                       "--runs", str(per_writer), "--pace", str(pace), "--seed", str(seed))
        return _Proc(f"writer {i}", argv + (["--kill-at", kill_at] if kill_at else []))

    def projector() -> _Proc:
        result.starts += 1
        argv = _python("-m", "cqrs_kata.steps.step05.projector_process", where, "--impl",
                       "solutions", "--view", view, "--batch", str(batch))
        if rng.random() < 0.5:
            argv += ["--kill-at", f"{rng.choice(KILL_POINTS[:6])}#{rng.randint(1, 12)}"]
        proc = _Proc("projector", argv)
        proc.due += rng.uniform(0.2, 0.6)
        return proc

    def ended(proc: _Proc) -> bool:
        """True once ``proc`` has ended; a death other than by SIGKILL or a clean exit is
        noted as a failure."""
        code = proc.popen.poll()
        if code is None:
            return False
        if not proc.seen:
            proc.seen = True
            err = proc.popen.stderr.read() if proc.popen.stderr else ""
            if code not in (0, -signal.SIGKILL):
                result.failures.append(f"{proc.kind} exited {code}: {err[-800:]}")
        return True

    def kill(proc: _Proc) -> int:
        if proc.popen.poll() is None:
            proc.popen.send_signal(signal.SIGKILL)
        code = proc.popen.wait()
        ended(proc)
        return code

    db = open_database(where)  # the schema exists before any process starts
    writing = {i: writer(i) for i in range(1, writers + 1)}
    running = [projector() for _ in range(projectors)]
    rebuilding: _Proc | None = None
    writer_kills_left, rebuilds_left = writer_kills, rebuilds
    progress, looked = 0.0, 0.0
    try:
        while True:
            time.sleep(0.02)
            now = time.monotonic()
            if writing and now - looked > 0.1:  # spread the kills over the writing
                looked = now
                progress = int(db.execute("SELECT COUNT(*) FROM runs").fetchone()[0]) / runs
            for i, proc in list(writing.items()):
                if ended(proc):
                    if proc.popen.returncode == -signal.SIGKILL:
                        result.writer_kills += 1
                        kill_at = ""  # the new one resumes from what this one committed
                        if writer_kills_left and rng.random() < 0.5:  # dies mid-transaction
                            writer_kills_left -= 1
                            kill_at = (f"{rng.choice(WRITER_KILL_POINTS)}"
                                       f"#{rng.randint(1, 40)}")
                        writing[i] = writer(i, kill_at)
                    else:
                        del writing[i]
            # spread over the writing too: by the time a fraction p of the runs is in, about
            # p of the writer kills are spent (0.8 of it, so the last falls before the end)
            if writer_kills_left and writing and \
                    writer_kills - writer_kills_left < writer_kills * min(1.0, progress / 0.8):
                i = rng.choice(sorted(writing))
                kill(writing[i])  # counted and restarted on the next turn
                writer_kills_left -= 1
            if rebuilding is not None and ended(rebuilding):
                result.rebuild_kills += rebuilding.popen.returncode == -signal.SIGKILL
                rebuilding = None
            if rebuilding is None and rebuilds_left and rng.random() < 0.05:
                rebuilds_left -= 1
                result.rebuilds += 1
                argv = _python("-m", "tests.support.storm", "rebuild", where, "--view", view,
                               "--every", str(rng.choice((50, 300, 2000))))
                if rebuilds_left % 2:
                    argv += ["--kill-at", f"{rng.choice(KILL_POINTS)}#{rng.randint(1, 30)}"]
                rebuilding = _Proc("rebuild", argv)
            for k, proc in enumerate(running):  # those that killed themselves at --kill-at
                if ended(proc):
                    result.kills += proc.popen.returncode == -signal.SIGKILL
                    running[k] = projector()
            due = [k for k, proc in enumerate(running) if proc.due <= now]
            if due and result.kills < (kills * progress if writing else kills):
                k = rng.choice(due)
                result.kills += kill(running[k]) == -signal.SIGKILL
                running[k] = projector()
            # writer kills not spent when the writers are done stay unspent: there is no
            # writer left to kill, and waiting for one would never end
            if not writing and result.kills >= kills and not rebuilds_left and \
                    rebuilding is None:
                break
            if now - start > 20 * seconds + 60:
                result.failures.append("the storm did not finish in time")
                break
    finally:
        for proc in [*running, *writing.values(), *([rebuilding] if rebuilding else [])]:
            kill(proc)  # not counted: the storm is over
        db.close()
    db = open_database(where)
    try:
        catch_up(db, view)
        result.final = check(db, view)
    finally:
        db.close()
    result.seconds = time.monotonic() - start
    return result


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.storm")
    sub = parser.add_subparsers(dest="command", required=True)
    w = sub.add_parser("write", help="record runs as one writer process")
    w.add_argument("database")
    w.add_argument("--writer", type=int, required=True)
    w.add_argument("--runs", type=int, required=True)
    w.add_argument("--pace", type=float, default=0.0, help="runs a second (0: flat out)")
    w.add_argument("--seed", type=int, default=0)
    w.add_argument("--kill-at", default="")
    r = sub.add_parser("rebuild", help="rebuild a view once")
    r.add_argument("database")
    r.add_argument("--view", default="dashboard")
    r.add_argument("--every", type=int, default=500)
    r.add_argument("--kill-at", default="")
    args = parser.parse_args(argv)
    if args.command == "write":
        write(args.database, args.writer, args.runs, args.pace, args.seed, args.kill_at)
    else:
        rebuild(args.database, args.view, args.every, args.kill_at)
    return 0


if __name__ == "__main__":
    sys.exit(main())
