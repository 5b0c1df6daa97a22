"""Which database a check runs the learner's SQL on: SQLite, then PostgreSQL where one can be had.

Steps 05 and 06 promise SQL that runs on both. A check of theirs is run once per backend, in
order, and stops at the first that fails: SQLite always, PostgreSQL where a server can be had
(``CQRS_KATA_PG_DSN``'s, else the embedded one the kata starts). The process that runs the
checks (the CLI, a notebook's kernel, ``watch``) makes ONE database for its checks on a warm
server, the first time it needs it; each check process makes a schema of its own in it per
database a check opens (``cqrs_kata.steps.step05.lab``), so no check sees another's tables.

``CQRS_KATA_BACKENDS=sqlite`` checks on SQLite only (a slow machine; the report says so).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from functools import cache
from typing import Any, Literal

Backend = Literal["sqlite", "postgresql"]
BACKENDS: tuple[Backend, ...] = ("sqlite", "postgresql")
LABELS: dict[str, str] = {"sqlite": "SQLite", "postgresql": "PostgreSQL"}
BACKENDS_ENV = "CQRS_KATA_BACKENDS"
"""Comma-separated backends to check on; unset: both."""

_current: ContextVar[Backend] = ContextVar("cqrs_kata_backend", default="sqlite")


def current() -> Backend:
    """The backend the running check opens its databases on."""
    return _current.get()


@contextmanager
def using(backend: Backend) -> Iterator[None]:
    """Run what is inside on ``backend``: the check's lab opens its databases there."""
    token = _current.set(backend)
    try:
        yield
    finally:
        _current.reset(token)


class SettingError(ValueError):
    """``CQRS_KATA_BACKENDS`` names something that is not a backend."""


def wanted() -> tuple[Backend, ...]:
    """The backends ``CQRS_KATA_BACKENDS`` asks for (both when unset), SQLite first."""
    text = os.environ.get(BACKENDS_ENV, "").strip()
    if not text:
        return BACKENDS
    asked = {part.strip().lower() for part in text.split(",") if part.strip()}
    unknown = asked - set(BACKENDS)
    if unknown or not asked:
        raise SettingError(f"{BACKENDS_ENV}={text!r} names {sorted(unknown) or 'nothing'}; "
                           "give sqlite, postgresql or sqlite,postgresql (or unset it: both)")
    return tuple(b for b in BACKENDS if b in asked)


CHECKS_DSN_ENV = "CQRS_KATA_CHECKS_DSN"
"""Set in a check process: the database its checks make their schemas in (its parent's)."""


@cache
def checks_database() -> str:
    """A DSN of the one database this process's checks make their schemas in: its parent's
    (``CQRS_KATA_CHECKS_DSN``), else made on first call on :func:`cqrs_kata.db.postgres.dsn`'s
    server (a warm server: started once per process). Raises ``PostgresUnavailable`` when none
    can be had."""
    given = os.environ.get(CHECKS_DSN_ENV)
    if given:
        return given
    from cqrs_kata.db import postgres

    return postgres.fresh_database("cqrs_kata_checks")


def postgres_for_checks() -> tuple[str | None, str | None]:
    """``(dsn, None)`` when checks can run on PostgreSQL here, else ``(None, why not)``."""
    from cqrs_kata.db.postgres import PostgresUnavailable

    if "postgresql" not in wanted():
        return None, f"{BACKENDS_ENV}={os.environ[BACKENDS_ENV]} leaves PostgreSQL out"
    try:
        return checks_database(), None
    except PostgresUnavailable as error:
        return None, str(error).splitlines()[0]


# Scratch schemas: a database of its own for each database a check opens, in the checks' one ----

_free: list[str] = []
_made: list[str] = []
_kept: dict[str, Any] = {"pristine": None, "admin": None}
"""What a fresh schema holds (counted by ``_SHAPE``), and the connection that makes schemas."""

_SHAPE = ("SELECT (SELECT count(*) FROM pg_class WHERE relnamespace = n.oid), (SELECT count(*) "
          "FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid WHERE c.relnamespace = "
          "n.oid), (SELECT count(*) FROM pg_proc WHERE pronamespace = n.oid), (SELECT count(*) "
          "FROM pg_type WHERE typnamespace = n.oid) FROM pg_namespace n WHERE nspname = %s")
"""What a schema holds, counted: unchanged from a fresh one, it is reset and used again."""
_TABLES = ("runs", "outbox", "counts", "checkpoints", "dead_letters")
_SEQUENCES = (("runs", "id"), ("outbox", "position"))


def _admin() -> Any:
    """This process's own connection to the checks' database, for making schemas."""
    import psycopg

    conn = _kept["admin"]
    if conn is None or conn.closed or conn.broken:
        conn = _kept["admin"] = psycopg.connect(checks_database(), autocommit=True)
        conn.execute("SET client_min_messages = warning")
        # A transaction the code under test left open must not hold up dropping its schema.
        conn.execute("SET lock_timeout = '2s'")
    return conn


def scratch_schema() -> str:
    """An empty schema with step 05's tables, in the checks' PostgreSQL database: one this
    process gave back, reset, or a new one."""
    from cqrs_kata.db.handle import POSTGRES_SCHEMA

    if _free:
        return _free.pop()
    name = f"lab_{os.getpid()}_{uuid.uuid4().hex[:10]}"
    conn = _admin()
    with conn.transaction():
        conn.execute(f'CREATE SCHEMA "{name}"')
        conn.execute(f'SET LOCAL search_path = "{name}"')
        conn.execute(POSTGRES_SCHEMA)
    _made.append(name)
    if _kept["pristine"] is None:
        _kept["pristine"] = tuple(conn.execute(_SHAPE, (name,)).fetchone())
    return name


def give_back(schema: str) -> None:
    """``schema`` is no longer used (its connections are closed): what a check or the code
    under test added is dropped, step 05's tables are emptied, and it waits for the next
    check; dropped whole when anything else was changed."""
    conn = _admin()
    kinds = {"r": "TABLE", "p": "TABLE", "v": "VIEW", "m": "MATERIALIZED VIEW",
             "f": "FOREIGN TABLE"}
    with conn.transaction():
        for name, kind in conn.execute(
                "SELECT relname, relkind FROM pg_class WHERE relnamespace = %s::regnamespace "
                "AND relkind IN ('r', 'p', 'v', 'm', 'f') AND relname <> ALL(%s)",
                (schema, list(_TABLES))).fetchall():
            conn.execute(f'DROP {kinds[kind]} IF EXISTS "{schema}"."{name}" CASCADE')
        for (function,) in conn.execute("SELECT oid::regprocedure::text FROM pg_proc WHERE "
                                        "pronamespace = %s::regnamespace", (schema,)).fetchall():
            conn.execute(f"DROP ROUTINE IF EXISTS {function} CASCADE")
        shape = tuple(conn.execute(_SHAPE, (schema,)).fetchone() or ())
        if shape == _kept["pristine"]:
            for table in _TABLES:
                conn.execute(f'DELETE FROM "{schema}".{table}')
            for table, column in _SEQUENCES:
                conn.execute(f"SELECT setval(pg_get_serial_sequence('\"{schema}\".{table}', "
                             f"'{column}'), 1, false)")
    if shape == _kept["pristine"]:
        _free.append(schema)
    else:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        _made.remove(schema)


def drop_scratch() -> None:
    """Drop every schema this process made (a check process, before it ends)."""
    if not _made or _kept["admin"] is None:
        return
    with suppress(Exception):
        _admin().execute("DROP SCHEMA IF EXISTS " + ", ".join(f'"{s}"' for s in _made)
                         + " CASCADE")
    _made.clear()
    _free.clear()
