"""Step 05's lab, which its checks, its harness and step 06's checks share: scratch SQLite
files (and the PostgreSQL database, when there is one), a clock the checks set, a tap that
records or crashes at each statement the code runs, and the outbox counted up to a checkpoint.
"""

from __future__ import annotations

import os
import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from cqrs_kata.db import EVENT_TYPE, EVENT_VERSION, Database, SQLiteDatabase
from cqrs_kata.steps.oracle import Counts, fold, usable_name

VIEW = "board"
"""The view the checks project into (not the default, so a hard-coded name shows)."""
TABLES = ("runs", "outbox", "counts", "checkpoints", "dead_letters")


class Crash(Exception):
    """Stands for the process dying here (raised from ``db.before``: just before this
    statement): nothing after it runs."""


class Clock:
    """A clock the checks set by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


class Lab:
    """A temporary folder of databases; every connection opened here is closed at the end."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.opened: list[Database] = []
        self.made = 0

    def path(self) -> Path:
        self.made += 1
        return self.folder / f"kata{self.made}.db"

    def open(self, path: Path, busy_seconds: float = 1.0) -> SQLiteDatabase:
        db = quick(SQLiteDatabase(path, busy_seconds=busy_seconds))
        self.opened.append(db)
        return db

    def new(self) -> SQLiteDatabase:
        return self.open(self.path())


def quick(db: SQLiteDatabase) -> SQLiteDatabase:
    """``db`` without waiting for the disk at each commit. A crash here is a process that
    dies (its connection closes), never the machine, so nothing the checks see changes."""
    db._conn.execute("PRAGMA synchronous=OFF")
    return db


def scratch_folder() -> str | None:
    """Where the checks' databases go: memory-backed /dev/shm when there is one (no disk
    writes at all), else the usual temporary folder."""
    shm = Path("/dev/shm")
    return str(shm) if shm.is_dir() and os.access(shm, os.W_OK | os.X_OK) else None


@contextmanager
def lab() -> Iterator[Lab]:
    with tempfile.TemporaryDirectory(prefix="cqrs-kata-05-", dir=scratch_folder()) as folder:
        here = Lab(Path(folder))
        try:
            yield here
        finally:
            for db in here.opened:
                db.before = None
                with suppress(Exception):  # a connection the learner's code broke
                    db.close()


def plain(db: Database) -> Database:
    """``db`` with no hook: the checks' own statements are never counted or crashed."""
    db.before = None
    return db


def append(db: Database, tenant: object, status: object, at: float = 0.0,
           run: bool = True) -> int:
    """What a correct writer commits: a run and its event (or, with ``run=False``, only an
    outbox row, as a buggy writer would); returns its position."""
    with db.transaction():
        run_id = None
        if run:
            run_id = db.execute("INSERT INTO runs (tenant, status) VALUES (?, ?) RETURNING id",
                                (tenant, status)).fetchone()[0]
        return int(db.execute("INSERT INTO outbox (event_id, type, version, run_id, tenant, "
                              "status, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING "
                              "position", (str(uuid.uuid4()), EVENT_TYPE, EVENT_VERSION, run_id,
                                           tenant, status, at)).fetchone()[0])


def valid(tenant: object, status: object) -> bool:
    """Whether an event with these names is projected (not dead-lettered)."""
    return usable_name(tenant) and usable_name(status)


def outbox(db: Database) -> list[tuple[int, object, object]]:
    return [(int(p), t, s) for p, t, s in db.execute(
        "SELECT position, tenant, status FROM outbox ORDER BY position").fetchall()]


def counted_upto(db: Database, upto: int) -> Counts:
    """The outbox's valid events up to ``upto``, counted: what a view at that checkpoint holds."""
    return fold((str(tenant), str(status)) for position, tenant, status in outbox(db)
                if position <= upto and valid(tenant, status))


def poison_upto(db: Database, upto: int) -> list[int]:
    return [p for p, t, s in outbox(db) if p <= upto and not valid(t, s)]


def checkpoint_of(db: Database, view: str = VIEW) -> int:
    row = db.execute("SELECT position FROM checkpoints WHERE view = ?", (view,)).fetchone()
    return int(row[0]) if row else 0


def dead_positions(db: Database, view: str = VIEW) -> list[int]:
    return [int(p) for (p,) in db.execute("SELECT position FROM dead_letters WHERE view = ? "
                                          "ORDER BY position", (view,)).fetchall()]


def tables(db: Database) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, sorted: the whole database, to compare before and after."""
    return {name: sorted((tuple(r) for r in db.execute(f"SELECT * FROM {name}").fetchall()),
                         key=repr) for name in TABLES}


def take(db: Database, view: str = VIEW, limit: int = 1000) -> int:
    """A correct projector of the checks' own, for set-ups (never the learner's code)."""
    with db.transaction():
        return take_within(db, view, limit)


def take_within(db: Database, view: str = VIEW, limit: int = 1000) -> int:
    """The statements of :func:`take`, inside a transaction someone else opened."""
    cp = checkpoint_of(db, view)
    rows = db.execute("SELECT position, tenant, status FROM outbox WHERE position > ? "
                      "ORDER BY position LIMIT ?", (cp, limit)).fetchall()
    for position, tenant, status in rows:
        if valid(tenant, status):
            db.execute("INSERT INTO counts VALUES (?, ?, ?, 1) ON CONFLICT (view, tenant, "
                       "status) DO UPDATE SET n = n + 1", (view, tenant, status))
        else:
            db.execute("INSERT INTO dead_letters VALUES (?, ?, 'poison')",
                       (view, position))
    if rows:
        db.execute("INSERT INTO checkpoints VALUES (?, ?) ON CONFLICT (view) DO UPDATE SET "
                   "position = excluded.position", (view, int(rows[-1][0])))
    return len(rows)


def normal(sql: str) -> str:
    return " ".join(sql.split()).lower()


class Tap:
    """``db.before``: records each statement; dies at statement ``crash_at`` (a crash: that
    statement and every later one raise), or runs ``meanwhile(n)`` before statement ``n``."""

    def __init__(self, crash_at: int | None = None,
                 meanwhile: Callable[[int, str], None] | None = None) -> None:
        self.crash_at = crash_at
        self.meanwhile = meanwhile
        self.seen: list[str] = []
        self.dead = False

    def __call__(self, sql: str) -> None:
        if self.dead:
            raise Crash("the process is dead: no statement runs after a crash")
        self.seen.append(normal(sql))
        if self.meanwhile is not None:
            self.meanwhile(len(self.seen), normal(sql))
        if len(self.seen) == self.crash_at:
            self.dead = True
            raise Crash(f"simulated crash just before statement {self.crash_at}: {sql[:60]!r}")

    @property
    def committed(self) -> int:
        """How many COMMITs ran before the crash."""
        upto = self.seen[:-1] if self.dead else self.seen
        return sum(1 for s in upto if s.startswith("commit"))


def run_tapped(db: Database, tap: Tap, action: Callable[[], object]) -> BaseException | None:
    """Run ``action`` with ``tap`` on ``db``; return what it raised when the tap crashed it."""
    db.before = tap
    try:
        action()
    except NotImplementedError:
        raise
    except Exception as error:
        if not tap.dead:
            raise
        return error
    finally:
        db.before = None
    return None


def crashed(lab: Lab, db: SQLiteDatabase) -> SQLiteDatabase:
    """The process that used ``db`` is dead: close it (its open transaction rolls back) and
    return a new connection to the same file, as a restarted process would open."""
    db.before = None
    with suppress(Exception):
        db.close()
    return lab.open(db.path)


def statements_of(make: Callable[[Lab], tuple[SQLiteDatabase, Callable[[], object]]]
                  ) -> list[str]:
    """The statements one call runs, on a fresh set-up (a dry run to know where to crash)."""
    with lab() as here:
        db, action = make(here)
        tap = Tap()
        db.before = tap
        try:
            action()
        finally:
            db.before = None
        return tap.seen


def numbered(statements: Sequence[str]) -> str:
    return "; ".join(f"{i}: {s[:40]}" for i, s in enumerate(statements, start=1))
