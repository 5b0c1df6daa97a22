"""Where the learner's code runs during a check: import it, run checks, report each outcome.

``cqrs-kata check`` and ``check()`` run this in a child process (``cqrs_kata.runner.isolation``
starts it and kills it at its deadline); where processes are unavailable (a browser kernel),
``execute`` runs in the caller's process instead. It defends against what learners do by
mistake: code that loops, prints without end, writes a file without end, exits or raises
``BaseException`` becomes an outcome with a sentence that says what happened, and none of it
stops the report. Code written to fool the check on the learner's own machine is not guarded
against: a self-check is a learning aid, not an exam.

Events are plain dicts, sent through ``send`` (JSON lines on the child's original stdout):
``loaded`` or ``load_error``; then per check ``start``, any number of ``out`` (the first
characters it printed) and ``done``; then ``finished``, or ``no_time`` when the step's time
budget ran out before a check could start.
"""

from __future__ import annotations

import faulthandler
import io
import json
import os
import sys
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from types import ModuleType
from typing import Any, NoReturn, TextIO

from cqrs_kata import platform
from cqrs_kata.course.expect import CheckFailed
from cqrs_kata.course.loading import (
    OUTPUT_CHARS,
    ExitCalled,
    LoadError,
    describe,
    exit_call,
    load_module,
    message_of,
    name_of,
    past_file_limit,
    where,
)
from cqrs_kata.course.structure import Check, get_step
from cqrs_kata.db import backends

Event = dict[str, Any]
Send = Callable[[Event], None]

MEMORY_BYTES = 2 * 1024**3
"""Address space a check process may use, so a runaway list cannot take the machine down."""
FILE_BYTES = 1024**3
"""Largest file a check process may write (RLIMIT_FSIZE: per file), so a runaway loop cannot
grow one without bound ($CQRS_KATA_FILE_MB overrides, read by ``isolation.limits``)."""


# Output ------------------------------------------------------------------------------------


class Capture(io.TextIOBase):
    """Stands in for sys.stdout and sys.stderr: passes on the first characters, counts the rest.

    A check that prints in an endless loop costs a counter increment per write, not a pipe
    full of text.
    """

    def __init__(self, send: Send) -> None:
        self._send = send
        self.kept = 0
        self.total = 0

    def reset(self) -> None:
        self.kept = self.total = 0

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if not isinstance(text, str):
            raise TypeError(f"write() argument must be str, not {type(text).__name__}")
        self.total += len(text)
        room = OUTPUT_CHARS - self.kept
        if room > 0 and text:
            piece = text[:room]
            self.kept += len(piece)
            self._send({"e": "out", "text": piece})
        return len(text)

    def flush(self) -> None:
        pass


# Time limits -------------------------------------------------------------------------------

# A browser's Python may lack the watchdog (it is a thread); there no deadline is kept.
_dump_later = getattr(faulthandler, "dump_traceback_later", None)
_cancel_dump = getattr(faulthandler, "cancel_dump_traceback_later", None)
_exit = os._exit
"""The real ``os._exit``: ``borrowed_process`` replaces it while the learner's code runs."""


@contextmanager
def deadline(seconds: float | None, dump: TextIO | None) -> Iterator[None]:
    """Past ``seconds``, write every thread's stack to ``dump`` and end the process at once.

    faulthandler's watchdog is a C thread: it fires even when the learner's code holds a lock
    the main thread waits on, swallows every exception, or resets the interval timer.
    """
    if seconds is None or dump is None or _dump_later is None or _cancel_dump is None:
        yield
        return
    _dump_later(max(seconds, 0.001), exit=True, file=dump)
    try:
        yield
    finally:
        _cancel_dump()


# Running -----------------------------------------------------------------------------------


def outcome_of(check: Check, impl: ModuleType, path: Path) -> tuple[str, str]:
    """Run one check; return its outcome and message. Never raises."""
    try:
        check(impl)
    except BaseException as error:  # KeyboardInterrupt, SystemExit, custom BaseException...
        try:
            return _judged(error, path)
        except BaseException as broken:  # saying what it is ran the learner's code again
            return "error", (f"your code raised {name_of(error)}, which could not be described "
                             f"({name_of(broken)})")
    return "pass", ""


def outcome_on(check: Check, impl: ModuleType, path: Path, here: tuple[str, ...]
               ) -> tuple[str, str, list[str]]:
    """Run one check on each of its backends that ``here`` offers, in order, up to the first
    that does not pass; return its outcome, its message and the backends it ran on."""
    wanted = [b for b in check.backends if b in here]
    if not wanted:
        return (*outcome_of(check, impl, path), [])
    for n, backend in enumerate(wanted, start=1):
        with backends.using(backend):  # type: ignore[arg-type]
            outcome, message = outcome_of(check, impl, path)
        if outcome != "pass":
            if backend != "sqlite":
                message = f"on {backends.LABELS[backend]}: {message}"
            return outcome, message, wanted[:n]
    return "pass", "", wanted


def _judged(error: BaseException, path: Path) -> tuple[str, str]:
    if isinstance(error, CheckFailed):
        return "wrong", message_of(error)
    if isinstance(error, NotImplementedError):
        return "todo", message_of(error) or "not written yet"
    if isinstance(error, SystemExit):
        return "error", (f"your code called {exit_call(error)}{where(error, path, True)}; "
                         "a check cannot finish when the code under test exits. Raise an "
                         "exception instead.")
    at = where(error, path, True)
    too_big = past_file_limit(error, at)
    if too_big:
        return "error", f"your code {too_big}."
    return "error", f"your code raised {describe(error)}{at}"


def execute(job: dict[str, Any], send: Send, dump: TextIO | None = None) -> None:
    """Import the file and run the job's checks, sending events; the caller's streams are
    replaced by a Capture meanwhile. With ``dump``, each phase has a hard time limit.

    A copy of this process made by ``os.fork()`` in the learner's code sends nothing and ends
    as soon as the code returns to the sandbox: only the process that was asked reports.
    """
    step = get_step(job["step"])
    checks = [(index, step.checks[index]) for index in job["checks"]]
    here = tuple(job.get("backends", ("sqlite",)))
    path = Path(job["path"])
    started = time.monotonic()
    budget = float(job.get("budget_seconds", 0)) or None
    owner = os.getpid()

    def left() -> float | None:
        return None if budget is None else budget - (time.monotonic() - started)

    def limit(seconds: float | None) -> float | None:
        remaining = left()
        if seconds is None or remaining is None:
            return seconds if remaining is None else remaining
        return min(seconds, remaining)

    def report(event: Event) -> None:
        if os.getpid() == owner:
            send(event)

    def forked_copy_ends() -> None:
        if os.getpid() != owner:
            _exit(0)

    capture = Capture(report)
    saved_streams = sys.stdout, sys.stderr
    report({"e": "ready", "thread": threading.get_ident()})
    try:
        sys.stdout = sys.stderr = capture
        with deadline(limit(job.get("import_seconds")), dump):
            try:
                impl = load_module(path)
            except LoadError as error:
                forked_copy_ends()
                report({"e": "load_error", "message": str(error)})
                return
            forked_copy_ends()
            report({"e": "loaded"})
        for index, check in checks:
            seconds = limit(job.get("check_seconds"))
            if seconds is not None and seconds <= 0.05:
                report({"e": "no_time", "check": index})
                return
            capture.reset()
            sys.stdout = sys.stderr = capture
            report({"e": "start", "check": index, "seconds": seconds})
            with deadline(seconds, dump):
                outcome, message, ran = outcome_on(check, impl, path, here)
                forked_copy_ends()
                sys.stdout = sys.stderr = capture
                report({"e": "done", "check": index, "outcome": outcome, "message": message,
                        "printed": capture.total, "ran": ran})
        backends.drop_scratch()  # before "finished": the parent ends this process on it
        report({"e": "finished"})
    finally:
        sys.stdout, sys.stderr = saved_streams


@contextmanager
def borrowed_process() -> Iterator[None]:
    """Around checks run in the caller's process (a browser's Python): what a child process
    would keep to itself is put back afterwards, so the caller (a notebook kernel, a test
    run) lives on as it was. ``os._exit()`` raises ExitCalled instead of ending it."""
    streams = {name: getattr(sys, name) for name in
               ("stdin", "stdout", "stderr", "__stdin__", "__stdout__", "__stderr__")}
    recursion, trace, profile = sys.getrecursionlimit(), sys.gettrace(), sys.getprofile()
    switching = sys.getswitchinterval()
    try:
        folder: str | None = os.getcwd()
    except OSError:
        folder = None
    handlers: dict[int, Any] = {}
    alarm: tuple[float, float] | None = None
    # Without signals (a browser kernel) no handler or timer of the learner's can ring.
    if platform.has("signals") and threading.current_thread() is threading.main_thread():
        import signal

        for name in ("SIGINT", "SIGTERM", "SIGHUP", "SIGALRM", "SIGUSR1", "SIGUSR2"):
            number = getattr(signal, name, None)
            if number is not None:
                with suppress(OSError, ValueError):
                    handlers[number] = signal.getsignal(number)
        if hasattr(signal, "setitimer"):
            alarm = signal.getitimer(signal.ITIMER_REAL)

    def refuse(status: int) -> NoReturn:
        raise ExitCalled(status)

    os._exit = refuse
    try:
        yield
    finally:
        os._exit = _exit
        for name, stream in streams.items():
            setattr(sys, name, stream)
        # Only what changed is put back: re-installing a debugger's or coverage's own trace
        # function through sys.settrace() would not be quite the same.
        if sys.getrecursionlimit() != recursion:
            with suppress(ValueError, RecursionError):
                sys.setrecursionlimit(recursion)
        if sys.getswitchinterval() != switching:
            sys.setswitchinterval(switching)
        if sys.gettrace() is not trace:
            sys.settrace(trace)
        if sys.getprofile() is not profile:
            sys.setprofile(profile)
        if folder is not None:
            with suppress(OSError):
                if os.getcwd() != folder:
                    os.chdir(folder)
        if handlers or alarm is not None:
            import signal

            for number, handler in handlers.items():
                with suppress(OSError, ValueError, TypeError):
                    if signal.getsignal(number) is not handler:
                        signal.signal(number, handler)
            if alarm == (0.0, 0.0):  # an alarm the code set would end the caller when it rings
                with suppress(OSError, ValueError):
                    signal.setitimer(signal.ITIMER_REAL, 0)


def _limit_memory() -> None:
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        wanted = MEMORY_BYTES if hard == resource.RLIM_INFINITY else min(MEMORY_BYTES, hard)
        if soft == resource.RLIM_INFINITY or soft > wanted:
            resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))
    except (ImportError, ValueError, OSError):
        pass  # not on this platform: the deadline still bounds a runaway check


def _limit_files(most: int) -> None:
    """No file past ``most`` bytes: a write beyond it raises OSError (EFBIG) in the learner's
    code, which the report names, instead of filling the disk. SIGXFSZ, whose default would
    end the process instead, is ignored (Python does so at start-up; this makes it certain)."""
    try:
        import resource
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        wanted = most if hard == resource.RLIM_INFINITY else min(most, hard)
        if soft == resource.RLIM_INFINITY or soft > wanted:
            resource.setrlimit(resource.RLIMIT_FSIZE, (wanted, hard))
    except (ImportError, AttributeError, ValueError, OSError):
        pass  # not on this platform: the deadline still bounds a runaway loop


CHANNEL_LOST = 86
"""Exit status of a check process whose event channel the learner's code closed or replaced
(``os.closerange``, ``os.dup2`` onto it): nothing it sends could reach the parent any more."""
KATA_BUG = 70
"""Exit status of a check process that met a bug in the kata itself."""


def main() -> None:
    """Entry point of the check process: ``python -c ... main()`` with the job as argv[1]."""
    job = json.loads(sys.argv[1])
    # Events go out on the original stdout (stdin is /dev/null, given by the parent); anything
    # written to file descriptor 1 from now on (a print() that got past the Capture, C code,
    # os.write, subprocesses) joins stderr, which the parent keeps an excerpt of.
    events = os.fdopen(os.dup(1), "w", encoding="utf-8", errors="backslashreplace")
    os.dup2(2, 1)
    channel = events.fileno()
    identity = os.fstat(channel)[1:3]  # (inode, device): still our pipe, not a reused fd
    lock = threading.Lock()  # threads the learner started may print while a check reports

    def send(event: Event) -> None:
        line = json.dumps(event) + "\n"
        with lock:
            try:
                if os.fstat(channel)[1:3] != identity:
                    raise OSError("the event channel was replaced")
                events.write(line)
                events.flush()
            except (OSError, ValueError):
                _exit(CHANNEL_LOST)

    if job.get("postgres"):  # the caller's database for checks: its schemas go there
        os.environ[backends.CHECKS_DSN_ENV] = os.environ["CQRS_KATA_PG_DSN"] = job["postgres"]
    dump = open(job["dump_path"], "w", encoding="utf-8")  # noqa: SIM115 - lives to the end
    faulthandler.enable(file=dump, all_threads=True)  # crashes (segfaults) leave a stack too
    _limit_memory()
    _limit_files(int(job.get("file_bytes", FILE_BYTES)))
    status, stderr = 0, sys.__stderr__
    try:
        execute(job, send, dump)
    except BaseException:  # a bug in the kata itself: the parent shows this
        traceback.print_exc(file=stderr)
        status = KATA_BUG
    # Skip atexit handlers and the join of non-daemon threads the learner started: the report
    # is sent, and nothing the learner's code left running may delay it.
    _exit(status)


if __name__ == "__main__":
    main()
