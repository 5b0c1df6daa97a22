"""Stops a throwaway PostgreSQL server when the process that started it is gone, however it went.

``python -m cqrs_kata.db.reaper PGDATA`` is started by :mod:`cqrs_kata.db.postgres` right after
it starts a server, in a session of its own (so a signal to the owner's process group does not
reach it), with its stdin a pipe whose other end only the owner holds. Reading that pipe returns
when the owner ends: at a normal exit the owner has stopped and deleted its server already, and
there is nothing left to do; killed (SIGKILL, a kernel restart, a test timeout), it ran no exit
handler, so the server runs on: then this stops it (immediate shutdown: the data is throwaway)
and deletes its folder. Nothing polls: the wait is one blocking read.
"""

from __future__ import annotations

import os
import shutil
import signal
import sys
import time
from pathlib import Path

WAIT_SECONDS = 10.0
"""How long to wait for the server to stop before killing it."""


def postmaster(pgdata: Path) -> int | None:
    """The pid of the server running in ``pgdata``, if one is."""
    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        os.kill(pid, 0)
    except (OSError, ValueError, IndexError):
        return None
    return pid


def stop(pgdata: Path, delete: bool = True) -> None:
    """Stop the server in ``pgdata`` (if any) at once, then delete the folder (unless told
    not to)."""
    pid = postmaster(pgdata)
    if pid is not None:
        os.kill(pid, getattr(signal, "SIGQUIT", signal.SIGTERM))
        deadline = time.monotonic() + WAIT_SECONDS
        while postmaster(pgdata) is not None and time.monotonic() < deadline:
            time.sleep(0.05)
        if postmaster(pgdata) is not None:
            os.kill(pid, getattr(signal, "SIGKILL", signal.SIGTERM))
    if delete:
        shutil.rmtree(pgdata, ignore_errors=True)


def main() -> None:
    pgdata = Path(sys.argv[1])
    sys.stdin.buffer.read()  # returns once the owner, the only writer, has ended
    if pgdata.exists():
        stop(pgdata)


if __name__ == "__main__":
    main()
