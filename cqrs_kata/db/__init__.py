"""The backends: one small handle that runs the course's SQL on SQLite or PostgreSQL
(``handle``), and a throwaway PostgreSQL server started from the pip-installed binaries
(``postgres``).

Steps 05 and 06 write ``from cqrs_kata.db import Database``: the handle's names are kept here.
"""

from cqrs_kata.db.handle import (
    BUSY_SECONDS,
    EVENT_TYPE,
    EVENT_VERSION,
    NOTIFY_CHANNEL,
    POSTGRES_SCHEMA,
    SCHEMA_LOCK,
    SQLITE_SCHEMA,
    Database,
    DatabaseError,
    PostgresDatabase,
    Rows,
    SQLiteDatabase,
    a_database,
    is_dsn,
    open_database,
    postgres_sql,
    truth,
    view_counts,
)

__all__ = [
    "BUSY_SECONDS", "EVENT_TYPE", "EVENT_VERSION", "NOTIFY_CHANNEL", "POSTGRES_SCHEMA",
    "SCHEMA_LOCK", "SQLITE_SCHEMA", "Database", "DatabaseError", "PostgresDatabase", "Rows",
    "SQLiteDatabase", "a_database", "is_dsn", "open_database", "postgres_sql", "truth",
    "view_counts",
]
