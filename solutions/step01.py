"""Step 01 — one model first: the dashboard straight from one table.

Before splitting anything, answer the dashboard's question ("how many runs per status for this
tenant?") from the only model there is: one SQLite table of runs, counted with ``GROUP BY``.
With the right index that is fast enough for most dashboards, and nothing can go stale: there is
no second copy of the data to keep in step. Steps 02 on are for when it is not fast enough.

Every function takes an open ``sqlite3.Connection`` whose database has the ``runs`` table
(``connect()`` makes one). Values always travel as ``?`` parameters, never inside the SQL text.
"""

from __future__ import annotations

import sqlite3
import time

from solutions.step02 import validate_name

SCHEMA = """CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    tenant TEXT NOT NULL,
    status TEXT NOT NULL,
    recorded_at REAL NOT NULL
)"""
"""The one table: every run ever recorded, one row each; the truth and the read model at once."""

SUMMARY_SQL = "SELECT status, COUNT(*) FROM runs WHERE tenant = ? GROUP BY status"
"""The dashboard query, as the notebook and benchmark run it."""


def connect(path: str = ":memory:") -> sqlite3.Connection:
    """A connection to the database at ``path`` (in memory by default), with ``runs`` made."""
    conn: sqlite3.Connection | None = None
    try:
        conn = sqlite3.connect(path)
        conn.execute(SCHEMA)
        conn.commit()
    except sqlite3.Error as error:  # the same type, with what to do: callers may catch it
        if conn is not None:
            conn.close()  # an open handle would keep the file locked (Windows)
        raise type(error)(f"cannot use {path!r} as step 01's database ({error}): give the path "
                          "of a SQLite file (or of a new one) in a folder that exists and that "
                          "you can write, or ':memory:'") from error
    return conn


def record(conn: sqlite3.Connection, tenant: str, status: str) -> None:
    """Insert one run into ``runs``: ``tenant``, ``status``, and ``time.time()`` as
    ``recorded_at``. Commit before returning, so that every other connection sees it.

    Check both names with ``validate_name`` before writing (``validate_name("tenant", tenant)``:
    which name it is, then its value): a bad one raises its ``TypeError`` or ``ValueError`` and
    writes nothing. Pass the values as ``?`` parameters: a name is data,
    stored exactly as given, even one like ``x' OR '1'='1`` or ``50%``.
    """
    # BEGIN SOLUTION
    tenant = validate_name("tenant", tenant)
    status = validate_name("status", status)
    with conn:  # commits on success, rolls back on an error
        conn.execute("INSERT INTO runs (tenant, status, recorded_at) VALUES (?, ?, ?)",
                     (tenant, status, time.time()))
    # END SOLUTION


def summary(conn: sqlite3.Connection, tenant: str) -> dict[str, int]:
    """``{status: count}`` for ``tenant``'s runs; ``{}`` for a tenant with no runs.

    Let the database count, with one ``SELECT`` and ``GROUP BY status``, instead of fetching
    every run and counting in Python. Only runs whose tenant equals ``tenant`` exactly count: not
    another case (``Acme`` is not ``acme``), not a longer name that starts the same
    (``acme-eu`` is not ``acme``). Pass ``tenant`` as a ``?`` parameter, so no tenant's name
    can change the query.
    """
    # BEGIN SOLUTION
    rows = conn.execute(SUMMARY_SQL, (tenant,)).fetchall()
    return {status: count for status, count in rows}
    # END SOLUTION


def add_index(conn: sqlite3.Connection) -> None:
    """Create the index that lets ``summary`` answer from the index alone.

    Index ``runs`` on ``(tenant, status)``, in that order: SQLite finds one tenant's entries
    by the first column, and reads them already grouped by status from the second, without
    touching the table (``EXPLAIN QUERY PLAN`` says ``SEARCH runs USING COVERING INDEX``).
    Calling it again changes nothing (``CREATE INDEX IF NOT EXISTS``). The index only speeds
    reads up: every run that could be recorded before can still be recorded.
    """
    # BEGIN SOLUTION
    conn.execute("CREATE INDEX IF NOT EXISTS runs_by_tenant_status ON runs (tenant, status)")
    conn.commit()
    # END SOLUTION
