"""Small tools for notebook 05: scratch databases, a projector in its own OS process, a crash.

The notebook starts real processes and kills them; these helpers make sure none outlives the
notebook, whatever cell fails, and that no file lands in the course folder. A kernel can itself
be killed (nbval and JupyterLab's restart do that), running no exit handler: so projector
processes also die with the process that started them (Linux), and each new scratch folder
first deletes those whose owner is gone. Each process is ``python -m
cqrs_kata.steps.step05.projector_process`` (what ``cqrs-kata project`` runs), so what the
notebook shows is the command a learner can type in a terminal.

A browser kernel cannot start processes: there :func:`processes_unavailable` says so in a
sentence, which the notebook prints instead of running its process cells.
"""

from __future__ import annotations

import atexit
import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from cqrs_kata import platform
from cqrs_kata.db import Database, view_counts
from cqrs_kata.steps.step05.lab import Crash
from cqrs_kata.steps.step05.pitfalls import NaiveProjector
from cqrs_kata.steps.step05.projector_process import PROJECTOR, stop_before
from cqrs_kata.steps.tables import WRONG, Table

_PREFIX = "cqrs-kata-05-"
"""Scratch folders are ``<tmp>/cqrs-kata-05-<pid of their owner>-<random>``."""

_scratch: Path | None = None
_running: set[ProjectorProcess] = set()
"""Processes started and not yet reaped: killed at exit, whatever cell failed."""


def scratch_path(name: str) -> Path:
    """A path for a new SQLite file in a temporary folder deleted when Python exits.

    An existing file of that name (a cell run twice) is removed first, so every run of a cell
    starts from an empty database.
    """
    global _scratch
    if _scratch is None:
        _remove_orphans()
        _scratch = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-"))
        atexit.register(shutil.rmtree, _scratch, ignore_errors=True)
    path = _scratch / name
    for leftover in (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")):
        leftover.unlink(missing_ok=True)
    return path


def _remove_orphans() -> None:
    for folder in Path(tempfile.gettempdir()).glob(f"{_PREFIX}*-*"):
        owner = folder.name[len(_PREFIX):].split("-")[0]
        if owner.isdigit() and not _alive(int(owner)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # someone else's process: alive
        return True
    return True


def _die_with_parent() -> None:
    """In the child, before it runs Python: SIGKILL me when my parent dies (Linux only)."""
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def processes_unavailable() -> str | None:
    """None where a projector process can be started; else why not, for a notebook to print
    instead of running the cells that start one (``runs only in a local install: ...``)."""
    return platform.local_only(("processes",))


class LocalOnly(RuntimeError):
    """What is asked for needs what only a local install has; the message says what and why."""


def crash_before(db: Database, statement: str) -> None:
    """Make ``db`` raise :class:`Crash` just before ``statement`` (``"BEGIN#2"``: the second
    statement that starts with BEGIN; see ``projector_process.kill_point``)."""

    def crash() -> None:
        raise Crash(f"the process died just before {statement}")

    stop_before(db, statement, crash)


def naive_in_this_kernel(db: Database, kill_at: str, batch: int = 1000) -> tuple[Crash, int]:
    """The naive projector's kill, without a process: it projects ``db``'s outbox in this
    kernel, "dies" (raises :class:`Crash`) just before the statement ``kill_at``, and a second
    one runs to the end. Returns the crash and the runs the view then counts: the batch that
    was counted but not checkpointed is counted twice."""
    crash_before(db, kill_at)
    try:
        while NaiveProjector(db).project_batch(batch):
            pass
    except Crash as crash:
        died = crash
    else:
        raise RuntimeError(f"the naive projector never reached {kill_at!r}")
    finally:
        db.before = None
    while NaiveProjector(db).project_batch(batch):
        pass
    return died, total(view_counts(db, NaiveProjector.view))


@dataclass(frozen=True)
class Exit:
    """How a projector process ended."""

    returncode: int
    output: str

    @property
    def killed(self) -> bool:
        """Ended by SIGKILL (its own kill point, or ours)."""
        return self.returncode == -signal.SIGKILL

    def __str__(self) -> str:
        if self.killed:
            return "killed by SIGKILL (kill -9)"
        lines = self.output.strip().splitlines()
        said = lines[-1] if lines else "(nothing)"
        return said if self.returncode == 0 else f"failed (exit {self.returncode}): {said}"


class ProjectorProcess:
    """``cqrs-kata project DATABASE ...`` running in its own OS process.

    Use it in a ``with`` block: leaving the block kills the process if it still runs (and
    so does Python's exit, for one started outside a block).
    """

    def __init__(self, database: str | Path, *, impl: str = "solutions", kill_at: str = "",
                 until_caught_up: bool = False, batch: int | None = None) -> None:
        why = processes_unavailable()
        if why is not None:
            raise LocalOnly(f"a projector process {why}")
        options = ["--impl", impl]
        if batch is not None:
            options += ["--batch", str(batch)]
        if kill_at:
            options += ["--kill-at", kill_at]
        if until_caught_up:
            options.append("--until-caught-up")
        self.options = options
        self.database = str(database)
        self._process = subprocess.Popen(
            [sys.executable, "-m", PROJECTOR, self.database, *options],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
            preexec_fn=_die_with_parent if sys.platform == "linux" else None)
        _running.add(self)

    @property
    def command(self) -> str:
        """The same process as a learner would start it in a terminal, with the database
        shown by its file name (or as ``$DSN``): its folder is a new temporary one each run."""
        where = "$DSN" if "://" in self.database or "dbname=" in self.database else (
            Path(self.database).name)
        return " ".join(["cqrs-kata project", where, *(_quoted(a) for a in self.options)])

    @property
    def pid(self) -> int:
        return self._process.pid

    def running(self) -> bool:
        return self._process.poll() is None

    def wait(self, timeout: float = 30.0) -> Exit:
        """Wait for the process to end by itself (caught up, or killed at its kill point)."""
        try:
            output, _ = self._process.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            raise TimeoutError(f"{self.command} did not end within {timeout} s; it was "
                               "killed") from None
        _running.discard(self)
        return Exit(self._process.returncode, output or "")

    def stop(self, timeout: float = 30.0) -> Exit:
        """SIGTERM: the projector finishes its current batch, says how many it took, exits."""
        if self.running():
            self._process.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self) -> None:
        """SIGKILL, if it still runs, and reap it."""
        if self._process.poll() is None:
            self._process.kill()
        if self._process.stdout is not None and not self._process.stdout.closed:
            self._process.communicate()  # reaps it and closes the pipe
        _running.discard(self)

    def __enter__(self) -> ProjectorProcess:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 trace: TracebackType | None) -> None:
        self.kill()


def _quoted(arg: str) -> str:
    return f"'{arg}'" if any(c in arg for c in " |#") else arg


@atexit.register
def _kill_all() -> None:
    for process in list(_running):
        process.kill()


def wait_for_checkpoint(db: Database, position: int, view: str = "dashboard",
                        timeout: float = 10.0) -> int:
    """Read your own writes: wait until ``view``'s checkpoint reaches ``position``.

    Returns the checkpoint; raises TimeoutError, saying how far the view got, after
    ``timeout`` seconds.
    """
    deadline = time.monotonic() + timeout
    pause = 0.002
    while True:
        row = db.execute("SELECT position FROM checkpoints WHERE view = ?", (view,)).fetchone()
        reached = int(row[0]) if row else 0
        if reached >= position:
            return reached
        if time.monotonic() >= deadline:
            raise TimeoutError(f"view {view!r} reached position {reached}, not {position}, "
                               f"within {timeout} s: is a projector running on this database?")
        time.sleep(pause)
        pause = min(pause * 2, 0.05)


def total(counts: dict[str, dict[str, int]]) -> int:
    """How many runs ``truth(db)`` or ``view_counts(db, view)`` counts, over all tenants."""
    return sum(n for per_status in counts.values() for n in per_status.values())


def finished_or_waiting(thread: threading.Thread, observer: Database,
                        timeout: float = 10.0) -> str:
    """``"finished"`` once ``thread`` ends, or ``"waiting for a lock"`` once PostgreSQL shows a
    session of this database waiting for one, whichever comes first.

    Looking at the server's own view of its sessions, not at a clock, is what makes the answer
    the same on a fast machine and a slow one.
    """
    deadline = time.monotonic() + timeout
    while thread.is_alive():
        waiting = observer.execute(
            "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() "
            "AND wait_event_type = 'Lock'").fetchone()[0]
        if waiting:
            return "waiting for a lock"
        if time.monotonic() >= deadline:
            raise TimeoutError(f"the thread neither finished nor waited for a lock in {timeout} s")
        time.sleep(0.005)
    return "finished"


def counted_after_kills(results: Sequence[tuple[str, Sequence[int]]], projectors: Sequence[str],
                        truth: int) -> Table:
    """One row per kill point: the runs each projector's view counts once it was killed there
    and a new one ran to the end; a count that is not ``truth`` (GROUP BY over runs) is
    marked."""
    rows = tuple((kill_at, *(f"{n:,}" for n in counts)) for kill_at, counts in results)
    wrong = frozenset((r, c + 1) for r, (_, counts) in enumerate(results)
                      for c, n in enumerate(counts) if n != truth)
    return Table(("kill -9 just before", *projectors), rows, marked=wrong,
                 right=frozenset(range(1, len(projectors) + 1)),
                 note=f"{WRONG} the view's count is not the truth, {truth:,} runs")

