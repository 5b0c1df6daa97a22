"""Step 05's lab, which its checks, its harness and step 06's checks share: scratch databases
on the backend the check runs on (SQLite files, or schemas of the checks' PostgreSQL database),
a clock the checks set, a tap that records or crashes at each statement the code runs, and the
outbox counted up to a checkpoint.
"""

from __future__ import annotations

import tempfile
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

from cqrs_kata.db import (
    EVENT_TYPE,
    EVENT_VERSION,
    Database,
    PostgresDatabase,
    SQLiteDatabase,
    backends,
)
from cqrs_kata.platform import scratch_folder
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
    """Databases for one check, on the backend it runs on, every connection closed at the end:
    SQLite files in a temporary folder, or PostgreSQL schemas (each a database of its own to
    the code under test) in the checks' database, dropped at the end."""

    def __init__(self, folder: Path, backend: backends.Backend = "sqlite") -> None:
        self.folder = folder
        self.backend = backend
        self.opened: list[Database] = []
        self.made = 0
        self.schemas: list[str] = []
        self._place: dict[int, str] = {}

    def path(self) -> Path:
        self.made += 1
        return self.folder / f"kata{self.made}.db"

    def new(self) -> Database:
        """A new, empty database (with step 05's tables)."""
        if self.backend == "sqlite":
            return self.open(self.path())
        schema = backends.scratch_schema()
        self.schemas.append(schema)
        return self.open(schema)

    def open(self, where: Path | str, busy_seconds: float = 1.0) -> Database:
        """A connection to ``where``: a SQLite file, or a schema of the checks' PostgreSQL
        database, waiting at most ``busy_seconds`` for another's write lock."""
        db: Database
        if self.backend == "sqlite":
            db = quick(SQLiteDatabase(where, busy_seconds=busy_seconds))
        else:
            from psycopg.conninfo import make_conninfo

            wait = max(1, round(busy_seconds * 1000))
            db = PostgresDatabase(make_conninfo(
                backends.checks_database(),
                options=f"-c search_path={where} -c lock_timeout={wait} "
                        "-c synchronous_commit=off -c client_min_messages=warning"))
        self._place[id(db)] = str(where)
        self.opened.append(db)
        return db

    def again(self, db: Database, busy_seconds: float = 1.0) -> Database:
        """Another connection to the database ``db`` is connected to (another process's)."""
        return self.open(self.where(db), busy_seconds)

    def where(self, db: Database) -> str:
        """What :meth:`open` takes to reach ``db``'s database again."""
        return self._place[id(db)]

    def dsn(self, db: Database) -> str:
        """``db``'s database as another process opens it: a SQLite path or a PostgreSQL DSN."""
        if self.backend == "sqlite":
            return self.where(db)
        from psycopg.conninfo import make_conninfo

        return make_conninfo(backends.checks_database(),
                             options=f"-c search_path={self.where(db)}")


def quick(db: SQLiteDatabase) -> SQLiteDatabase:
    """``db`` without waiting for the disk at each commit. A crash here is a process that
    dies (its connection closes), never the machine, so nothing the checks see changes."""
    db._conn.execute("PRAGMA synchronous=OFF")
    return db


@contextmanager
def lab(backend: backends.Backend | None = None) -> Iterator[Lab]:
    """A lab on ``backend``: the one the running check runs on, unless given."""
    # ignore_cleanup_errors: a process the code under test started may still be writing there.
    with tempfile.TemporaryDirectory(prefix="cqrs-kata-05-", dir=scratch_folder(),
                                     ignore_cleanup_errors=True) as folder:
        here = Lab(Path(folder), backends.current() if backend is None else backend)
        try:
            yield here
        finally:
            for db in here.opened:
                db.before = None
                with suppress(Exception):  # a connection the learner's code broke
                    db.close()
            for schema in here.schemas:
                with suppress(Exception):
                    backends.give_back(schema)


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


def refuse_outbox_inserts(db: Database, tenant: str | None = None) -> None:
    """From now on, an insert into ``outbox`` (only of ``tenant``, when given) fails: a
    trigger, written for the backend ``db`` is on."""
    error = "boom: the outbox refused the event"
    if db.dialect == "sqlite":
        when = f"WHEN NEW.tenant = '{tenant}'" if tenant else ""
        db.execute(f"CREATE TRIGGER boom BEFORE INSERT ON outbox {when} BEGIN "
                   f"SELECT RAISE(ABORT, '{error}'); END")
        return
    db.execute(f"CREATE FUNCTION boom() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE "
               f"EXCEPTION '{error}'; END $$")
    when = f"WHEN (NEW.tenant = '{tenant}')" if tenant else ""
    db.execute(f"CREATE TRIGGER boom BEFORE INSERT ON outbox FOR EACH ROW {when} "
               "EXECUTE FUNCTION boom()")


def ids_follow(db: Database) -> None:
    """After rows were inserted with explicit ids: new rows get ids above them (SQLite does
    that by itself; PostgreSQL's identity sequences are moved on here)."""
    if db.dialect == "postgresql":
        for table, column in (("runs", "id"), ("outbox", "position")):
            db.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{column}'), "
                       f"COALESCE((SELECT MAX({column}) FROM {table}), 0) + 1, false)")


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
                       "status) DO UPDATE SET n = counts.n + 1", (view, tenant, status))
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


def cut_points(seen: Sequence[str], first: int) -> range:
    """The statements from ``first`` on (1-based, of ``seen``) before which another connection
    can commit: any of them on PostgreSQL; on SQLite only ``first``, the transaction's BEGIN,
    since SQLite's one writer at a time locks the other out of the rest."""
    return range(first, (first if backends.current() == "sqlite" else len(seen)) + 1)


def last_transaction_cuts(seen: Sequence[str]) -> range:
    """``cut_points`` of the last transaction in ``seen``: from its BEGIN on."""
    return cut_points(seen, max((i for i, sql in enumerate(seen, start=1)
                                 if sql.startswith("begin")), default=1))


def committing_before(here: Lab, db: Database, k: int,
                      write: Callable[[Database], object]) -> Tap:
    """A tap for ``db`` that, just before its statement ``k``, runs ``write`` on another
    connection, which commits (unless locked out, which is fine: then nothing happened)."""
    other = here.again(db, busy_seconds=0.02)

    def commit(n: int, sql: str) -> None:
        if n == k:
            with suppress(Exception):
                write(other)

    return Tap(meanwhile=commit)


def crashed(lab: Lab, db: Database) -> Database:
    """The process that used ``db`` is dead: close it (its open transaction rolls back) and
    return a new connection to the same database, as a restarted process would open."""
    db.before = None
    with suppress(Exception):
        db.close()
    return lab.again(db)


def statements_of(make: Callable[[Lab], tuple[Database, Callable[[], object]]]
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
