"""Step 05's projector as its own OS process: ``cqrs-kata project DATABASE``.

It takes batches until told to stop, sleeping with back-off while there is nothing to take
(woken at once by LISTEN/NOTIFY on PostgreSQL), and stops cleanly on SIGTERM after its current
batch. Because the projector keeps nothing of its own, it may instead be killed with SIGKILL at
any moment; a new one started on the same database carries on.

``--kill-at`` (or ``CQRS_KATA_KILL_AT``) makes the process SIGKILL itself just before a chosen
statement, e.g. ``"UPDATE checkpoints#2"``: the second statement that starts with that text. A
kill point that follows the SQL, not the clock, is what makes a crash demonstration repeat
exactly (notebook 05 runs under nbval), and it works on anyone's projector unchanged.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from types import FrameType, ModuleType
from typing import Any

from cqrs_kata.course.loading import LoadError, load_module
from cqrs_kata.course.paths import CourseNotFound
from cqrs_kata.db import Database, DatabaseError, PostgresDatabase, is_dsn, open_database

PROJECTOR = "cqrs_kata.steps.step05.projector_process"
"""This module's name: ``python -m`` it to run a projector in a process of its own (what
``cqrs-kata project`` runs)."""

KILL_ENV = "CQRS_KATA_KILL_AT"
MIN_SLEEP, MAX_SLEEP = 0.002, 0.05
"""Back-off while idle: from 2 ms, doubling, to at most 50 ms (so a new run waits <= ~50 ms)."""


class KillPointError(ValueError):
    """A kill point that cannot be understood."""


def kill_point(spec: str) -> tuple[tuple[str, ...], int]:
    """``"INSERT INTO checkpoints|UPDATE checkpoints#2"``: the 2nd statement that starts with
    either text, as ``(("insert into checkpoints", "update checkpoints"), 2)``; ``#1`` when
    no count is given."""
    text, _, count = spec.rpartition("#") if "#" in spec else (spec, "", "1")
    starts = tuple(" ".join(part.split()).lower() for part in text.split("|"))
    if not all(starts) or not count.strip().isdigit() or int(count) < 1:
        raise KillPointError(f"kill point {spec!r} is not 'STATEMENT START[|ANOTHER][#N]', e.g. "
                             "'UPDATE checkpoints' or 'COMMIT#3' (N counts from 1)")
    return starts, int(count)


def stop_before(db: Database, spec: str, stop: Callable[[], None]) -> None:
    """Call ``stop()`` just before the statement ``spec`` names (see :func:`kill_point`)."""
    starts, count = kill_point(spec)
    seen = 0
    earlier = db.before

    def before(sql: str) -> None:
        nonlocal seen
        if " ".join(sql.split()).lower().startswith(starts):
            seen += 1
            if seen == count:
                stop()
        if earlier is not None:
            earlier(sql)

    db.before = before


def kill_before(db: Database, spec: str) -> None:
    """SIGKILL this process just before the statement ``spec`` names: a crash, for real."""
    stop_before(db, spec, lambda: os.kill(os.getpid(), signal.SIGKILL))


WHOSE = {"exercises": "your projector (exercises/step05.py)",
         "solutions": "the reference projector (solutions/step05.py)",
         "naive": "the naive projector (two transactions: counts, then the checkpoint)"}
"""What ``--impl`` names, said when the process starts."""


def load_projector_class(impl: str) -> Any:
    """``DurableProjector`` from ``solutions``, ``exercises``, ``naive`` or a .py file path."""
    if impl == "naive":
        from cqrs_kata.steps.step05.pitfalls import NaiveProjector

        return NaiveProjector
    module: ModuleType
    if impl in ("solutions", "exercises"):
        from cqrs_kata.course.paths import course_root

        path = course_root() / impl / "step05.py"
    elif impl.endswith(".py"):
        path = Path(impl)
    else:
        raise LoadError(f"--impl takes exercises (yours), solutions, naive or the path of a .py "
                        f"file; got {impl!r}")

    module = load_module(path)
    return module.DurableProjector


class _Stop(Exception):
    """Raised by the SIGTERM handler while the projector sleeps."""


def has_work(db: Database, view: str) -> bool:
    """Whether an event waits after ``view``'s checkpoint: one read, no write lock taken.

    An idle projector asks this between polls instead of calling ``project_batch``, whose
    transaction would take SQLite's write lock every few milliseconds and slow the writers.
    """
    row = db.execute("SELECT EXISTS (SELECT 1 FROM outbox WHERE position > COALESCE((SELECT "
                     "position FROM checkpoints WHERE view = ?), 0))", (view,)).fetchone()
    return bool(row[0])


def serve(db: Database, projector: Any, batch: int, until_caught_up: bool) -> int:
    """Take batches until SIGTERM (or, with ``until_caught_up``, until none is left);
    return how many events were taken."""
    # The projector's module was loaded afresh (load_module): catch the CheckpointMoved it
    # raises, its own class, or a second projector on the view would end this process with a
    # traceback instead of just looking again. The naive projector moves no checkpoint.
    moved: tuple[type[BaseException], ...] = ()
    own = getattr(sys.modules.get(type(projector).__module__), "CheckpointMoved", None)
    if isinstance(own, type) and issubclass(own, BaseException):
        moved = (own,)
    busy = False
    stopping = False

    def on_term(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True
        if not busy:
            raise _Stop

    signal.signal(signal.SIGTERM, on_term)
    taken, pause = 0, MIN_SLEEP
    try:
        while not stopping:
            busy = True
            try:
                n = projector.project_batch(batch)
            except moved:
                n = -1  # another projector took it: look again at once
            finally:
                busy = False
            if n:
                taken += max(n, 0)
                pause = MIN_SLEEP
                continue
            if until_caught_up or stopping:
                break
            while not stopping and not has_work(db, projector.view):
                if isinstance(db, PostgresDatabase):
                    db.wait_for_notify(pause)
                else:
                    time.sleep(pause)
                pause = min(pause * 2, MAX_SLEEP)
    except _Stop:
        pass
    return taken


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="cqrs-kata project", description="Run step 05's projector in this process.")
    parser.add_argument("database", help="a SQLite file path, or a postgresql:// DSN")
    parser.add_argument("--view", default="dashboard", help="the view to project into")
    parser.add_argument("--batch", type=int, default=1000, help="events per transaction")
    parser.add_argument("--impl", default="exercises",
                        help="whose projector: exercises (yours, the default), solutions (the "
                             "reference), naive (the counter-example), or a .py file")
    parser.add_argument("--kill-at", default=os.environ.get(KILL_ENV, ""),
                        help="SIGKILL this process before this statement, e.g. 'INSERT "
                             "INTO checkpoints|UPDATE checkpoints#2' (the second checkpoint "
                             "write, whichever statement makes it)")
    parser.add_argument("--until-caught-up", action="store_true",
                        help="stop when nothing is left to project, instead of waiting")
    args = parser.parse_args(argv)
    try:
        cls = load_projector_class(args.impl)
        if not is_dsn(args.database) and not Path(args.database).exists():
            raise LoadError(f"there is no database at {args.database}: a projector projects "
                            "what is there, so record runs first (DurableLog), or check the path")
        db = open_database(args.database)
        if args.kill_at:
            kill_before(db, args.kill_at)
        print(f"cqrs-kata project: {WHOSE.get(args.impl, args.impl)}, view {args.view!r}",
              file=sys.stderr, flush=True)
        taken = serve(db, cls(db, args.view), args.batch, args.until_caught_up)
    except (DatabaseError, KillPointError, LoadError, CourseNotFound) as error:
        print(f"cqrs-kata project: {error}", file=sys.stderr)
        return 2
    except NotImplementedError as error:
        print(f"cqrs-kata project: {error}; `--impl solutions` runs the reference instead",
              file=sys.stderr)
        return 2
    print(f"projected {taken} events into view {args.view!r}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
