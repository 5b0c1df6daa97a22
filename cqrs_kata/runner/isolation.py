"""Run a step's checks where the learner's code cannot hurt the caller: in a child process.

Each run starts ``cqrs_kata.runner.sandbox`` in a new process (and process group) and reads its
events. The child stops itself at each check's deadline (faulthandler's watchdog dumps every
thread's stack, then exits); the parent kills the whole group a little later in case it did not.
A check that timed out or ended the process is reported with where the code was; the rest of
its task is skipped; the other tasks go on in a fresh process, within the step's time budget.
Where processes cannot be started (a browser kernel), the same sandbox runs in-process.

What it guards against is what learners do by mistake (loops, exits, crashes, huge output,
runaway files, processes left running), not code written to fool the check: a self-check is a
learning aid, not an exam.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Literal, cast

from cqrs_kata import platform
from cqrs_kata.course.loading import describe
from cqrs_kata.course.paths import display_path
from cqrs_kata.course.structure import Step
from cqrs_kata.runner import sandbox

CHECK_SECONDS = 10.0
"""Longest a single check may run ($CQRS_KATA_CHECK_SECONDS overrides)."""
IMPORT_SECONDS = 5.0
"""Longest importing the learner's file may take ($CQRS_KATA_IMPORT_SECONDS overrides)."""
STEP_SECONDS = 15.0
"""Longest all of a step's checks may take together, imports included
($CQRS_KATA_STEP_SECONDS overrides)."""
GRACE_SECONDS = 2.0
"""How long past a deadline the parent waits for the child's own watchdog before killing it."""
POLL_SECONDS = 0.2
"""How often the parent looks whether the child has ended while its channel stays open."""
STDERR_CHARS = 2000

ISOLATION_ENV = "CQRS_KATA_IN_PROCESS"
"""Set to 1 to run checks in the caller's process (only for debugging the kata itself)."""


class SettingError(ValueError):
    """An environment variable that sets a limit holds something else."""


@dataclass(frozen=True)
class Limits:
    check: float
    imports: float
    step: float
    file_bytes: int = sandbox.FILE_BYTES
    """Largest file the check process may write ($CQRS_KATA_FILE_MB overrides)."""


def limits() -> Limits:
    """The limits: the defaults above, or what the environment sets (a slow machine)."""

    def read(name: str, default: float) -> float:
        return _setting(f"CQRS_KATA_{name}_SECONDS", default, "seconds", 24 * 3600, "30")

    harder = _harder()
    megabytes = _setting("CQRS_KATA_FILE_MB", sandbox.FILE_BYTES / 1024**2, "megabytes",
                         1024**2, "4096")
    return Limits(read("CHECK", CHECK_SECONDS * harder), read("IMPORT", IMPORT_SECONDS),
                  read("STEP", STEP_SECONDS * harder), int(megabytes * 1024**2))


def _setting(name: str, default: float, unit: str, most: float, example: str) -> float:
    """The number the environment variable ``name`` holds, or ``default`` when it is unset."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 < value < most:
        raise SettingError(f"{name}={text!r} is not a number of {unit} above 0; unset it (the "
                           f"default is {default:g}) or give e.g. {example}")
    return value


def _harder() -> float:
    """How many times their default number of sequences the fault harnesses are asked to try
    ($CQRS_KATA_HARNESS_EXAMPLES; 1 when unset or fewer): the default time limits of a check and
    of a step grow as much, so trying harder never ends in a timeout of correct code."""
    if not os.environ.get("CQRS_KATA_HARNESS_EXAMPLES"):
        return 1.0
    from cqrs_kata.steps import driver  # only now: it imports Hypothesis

    try:
        return max(1.0, driver.examples_wanted() / driver.DEFAULT_EXAMPLES)
    except ValueError as error:
        raise SettingError(str(error)) from None


def processes_available() -> bool:
    """Whether checks can run in a child process here (not in a browser's Python)."""
    if os.environ.get(ISOLATION_ENV) == "1":
        return False
    return platform.has("processes")


Outcome = Literal["pass", "wrong", "todo", "error", "timeout", "skipped", "local"]
"""What became of a check; ``local``: not run, because it needs what only a local install has
(the runner decides that before anything runs)."""


@dataclass
class Ran:
    """What became of one check."""

    outcome: Outcome
    message: str = ""
    output: str = ""
    backends: tuple[str, ...] = ()
    """The databases it ran on, in order (empty: none, or it never finished)."""


@dataclass
class StepRun:
    load_error: str | None = None
    outcomes: dict[int, Ran] = field(default_factory=dict)


# Reading the child's events ----------------------------------------------------------------


@dataclass
class _Child:
    """What one child process said before it finished or died."""

    events: list[dict[str, Any]] = field(default_factory=list)
    returncode: int | None = None
    dump: str = ""
    stderr: str = ""
    killed_by_parent: bool = False
    hung_up: bool = False
    """The child closed its end of the event channel but went on running."""

    @property
    def finished(self) -> bool:
        return any(e["e"] in ("finished", "no_time", "load_error") for e in self.events)


def _bounded_reader(stream: IO[bytes], keep: list[bytes]) -> None:
    """Keep the first STDERR_CHARS bytes of ``stream``, read and drop the rest."""
    kept = 0
    with stream:  # closed here, not by the parent: closing a pipe another thread reads blocks
        for chunk in iter(lambda: stream.read1(65536), b""):  # type: ignore[attr-defined]
            if kept < STDERR_CHARS:
                keep.append(chunk[: STDERR_CHARS - kept])
                kept += len(keep[-1])


def _event_reader(stream: IO[bytes], events: queue.Queue[dict[str, Any] | None]) -> None:
    """Pass on the child's events, one JSON object a line; the channel ends with ``None``."""
    with stream:
        for line in stream:
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and "e" in event:
                events.put(event)
    events.put(None)


def _kill(process: subprocess.Popen[bytes]) -> None:
    """Kill the child and everything it started (its process group), before reaping it."""
    if process.poll() is not None and os.name != "posix":
        return
    try:
        if os.name == "posix":
            os.killpg(process.pid, signal.SIGKILL)
        else:
            process.kill()
    except (ProcessLookupError, PermissionError):
        pass


MARKER_ENV = "CQRS_KATA_CHECK_PROCESS"
"""Set, to a value unique to one check process, in the environment of that process; whatever
the learner's code starts inherits it, so what escaped the process group is found by it."""


def _sweep(marker: str) -> None:
    """Kill what the learner's code started and moved out of the check's process group (a new
    session, a double fork): on Linux, every process whose environment holds ``marker``."""
    wanted = marker.encode()
    try:
        entries = [e.name for e in os.scandir("/proc") if e.name.isdigit()]
    except OSError:
        return  # no /proc here: the process group is all that can be killed
    for pid in entries:
        try:
            with open(f"/proc/{pid}/environ", "rb") as environ:
                found = wanted in environ.read().split(b"\0")
        except OSError:
            continue
        if found:
            with contextlib.suppress(OSError):
                os.kill(int(pid), signal.SIGKILL)


_BOOT = ("import sys; sys.path.insert(0, sys.argv.pop(1)); "
         "from cqrs_kata.runner.sandbox import main; main()")


def _follow(process: subprocess.Popen[bytes], events: queue.Queue[dict[str, Any] | None],
            child: _Child, overall: float) -> None:
    """Collect the child's events until it finishes, ends, or overruns its deadline."""
    backstop = overall
    ended_at: float | None = None
    while True:
        now = time.monotonic()
        if now >= backstop:
            child.killed_by_parent = True
            return
        try:
            event = events.get(timeout=min(backstop - now, POLL_SECONDS))
        except queue.Empty:
            # The child ended, but something it started still holds the channel open (a
            # forked copy, a subprocess): what it sent is read by now, so stop waiting.
            if process.poll() is not None:
                if ended_at is not None and now - ended_at >= POLL_SECONDS:
                    return
                ended_at = ended_at or now
            continue
        if event is None:  # the channel closed: the child ended, or its code closed it
            try:
                process.wait(timeout=POLL_SECONDS)
            except subprocess.TimeoutExpired:
                child.hung_up = True  # still running without its channel: it was closed
            return
        child.events.append(event)
        if event["e"] == "start" and event.get("seconds") is not None:
            backstop = min(overall, time.monotonic() + event["seconds"] + GRACE_SECONDS)
        elif event["e"] == "done":
            backstop = overall
        if event["e"] in ("finished", "no_time", "load_error"):
            return


def _spawn(job: dict[str, Any], budget: float) -> _Child:
    package_home = str(Path(__file__).resolve().parents[2])  # the folder cqrs_kata/ is in
    child = _Child()
    with tempfile.NamedTemporaryFile("r", prefix="cqrs-kata-stack-", suffix=".txt",
                                     encoding="utf-8", errors="replace") as dump:
        job = {**job, "dump_path": dump.name}
        marker = f"{MARKER_ENV}={uuid.uuid4().hex}"
        name, _, value = marker.partition("=")
        # Everything the checks and the code under test write to a temporary folder goes here,
        # and goes away with the process, even when it was killed mid-check.
        scratch = tempfile.mkdtemp(prefix="cqrs-kata-check-", dir=platform.scratch_folder())
        scratch_env = {platform.SCRATCH_ENV: scratch, "TMPDIR": scratch}
        # -I: neither PYTHONPATH nor a learner's random.py in the current folder can shadow
        # what the kata imports; the kata's own folder is put on the path explicitly.
        process = subprocess.Popen(
            [sys.executable, "-I", "-c", _BOOT, package_home, json.dumps(job)],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            start_new_session=(os.name == "posix"),
            env={**os.environ, name: value, **scratch_env},
        )
        assert process.stdout and process.stderr
        events: queue.Queue[dict[str, Any] | None] = queue.Queue()
        errors: list[bytes] = []
        readers = [threading.Thread(target=_event_reader, args=(process.stdout, events),
                                    daemon=True),
                   threading.Thread(target=_bounded_reader, args=(process.stderr, errors),
                                    daemon=True)]
        for reader in readers:
            reader.start()
        try:
            _follow(process, events, child, time.monotonic() + budget + GRACE_SECONDS)
        finally:
            _kill(process)
            child.returncode = process.wait()
            _sweep(marker)
            shutil.rmtree(scratch, ignore_errors=True)
            for reader in readers:
                # A process the learner started may hold the pipes open even now (one whose
                # environment was emptied): then the reader is left to finish on its own.
                reader.join(1.0)
        child.dump = Path(dump.name).read_text(encoding="utf-8", errors="replace")
    child.stderr = b"".join(errors).decode("utf-8", errors="replace")
    return child


# Saying where a stopped check was -----------------------------------------------------------

_THREAD = re.compile(r"^(?:Current thread|Thread) (0x[0-9a-fA-F]+)")
_FRAME = re.compile(r'^\s+File "(.*)", line (\d+) in (.*)$')


def _threads(dump: str) -> Iterator[tuple[int, list[tuple[str, int, str]]]]:
    """(thread id, frames innermost first) for each thread in a faulthandler dump."""
    ident: int | None = None
    frames: list[tuple[str, int, str]] = []
    for line in dump.splitlines():
        header = _THREAD.match(line)
        if header:
            if ident is not None:
                yield ident, frames
            ident, frames = int(header.group(1), 16), []
            continue
        frame = _FRAME.match(line)
        if frame and ident is not None:
            frames.append((frame.group(1), int(frame.group(2)), frame.group(3)))
    if ident is not None:
        yield ident, frames


def stopped_at(dump: str, path: Path, check_thread: int | None) -> list[str]:
    """Where each thread was in the learner's file when the child was stopped."""
    lines: list[str] = []
    fallback = ""
    for ident, frames in _threads(dump):
        whose = "the check's thread" if ident == check_thread else "another thread"
        mine = [f for f in frames if Path(f[0]) == path]
        if mine:
            file, line, function = mine[0]
            lines.append(f"{display_path(path)}, line {line}, in {function} ({whose})")
        elif ident == check_thread and frames:
            file, line, function = frames[0]
            fallback = f"{display_path(Path(file))}, line {line}, in {function} ({whose})"
    if not lines and fallback:
        lines.append(fallback + "; not in your file")
    return sorted(set(lines), key=lines.index)


def _death(child: _Child, path: Path, seconds: float | None, check_thread: int | None,
           importing: bool, step_seconds: float | None = None) -> Ran:
    """The outcome of a check (or import) during which the child process ended.

    ``step_seconds`` is given when the check's time limit was what was left of the step's
    (the checks before it took the rest), not the limit of a check.
    """
    where = stopped_at(child.dump, path, check_thread)
    at = "".join(f"\n  stopped at {w}" for w in where)
    timed_out = child.dump.startswith("Timeout") or child.killed_by_parent
    what = "importing it" if importing else "it"
    during = "while it was imported" if importing else "while it ran"
    if child.hung_up or child.returncode == sandbox.CHANNEL_LOST:
        return Ran("error", f"your code closed or replaced the file descriptor the kata reads "
                   f"results from {during}, so nothing more could be reported: does it call "
                   "os.close(), os.closerange() or os.dup2() on descriptors it did not open? "
                   f"Close only what your code opened.{at}", child.stderr)
    if timed_out and step_seconds is not None:
        left = f"the {seconds:.1f} s left" if seconds is not None else "what was left"
        return Ran("timeout", f"{what} did not finish within {left} of the step's "
                   f"{step_seconds:g} s, so it was stopped (a step's checks share its time, and "
                   "the ones before it used the rest): is your code slow somewhere, e.g. a "
                   f"sleep, or a wait that lasts until its timeout?{at}", child.stderr)
    if timed_out:
        limit = f"{seconds:g} s" if seconds is not None else "its time limit"
        hint = ("is there an endless loop at the top level of the file?" if importing else
                "is there an endless loop, or a wait for something that never happens "
                "(a lock never released, a thread never joined)?")
        return Ran("timeout", f"{what} did not finish within {limit}, so it was stopped: "
                       f"{hint}{at}", child.stderr)
    code = child.returncode
    if code is not None and code < 0:
        try:
            name = signal.Signals(-code).name
        except ValueError:
            name = f"signal {-code}"
        ended = f"was killed by {name}" + (" (out of memory?)" if name == "SIGKILL" else "")
        if name == "SIGXFSZ":
            ended += " (a file it wrote grew past the check's limit)"
    else:
        ended = f"ended with exit status {code}"
    fatal = next((line for line in child.dump.splitlines() if line.startswith("Fatal")), "")
    detail = f" ({fatal})" if fatal else ""
    crashes = {-getattr(signal, n) for n in ("SIGSEGV", "SIGBUS", "SIGABRT") if hasattr(signal, n)}
    if code == sandbox.KATA_BUG and "Traceback" in child.stderr:
        said = child.stderr[child.stderr.rindex("Traceback"):].strip().splitlines()[-1]
        return Ran("error", f"the check stopped on an error inside cqrs-kata {during} (a bug in "
                   "the kata, or your code changed something of Python's or of the kata's that "
                   f"the checks use): {said}{at}")
    if code is not None and -code == getattr(signal, "SIGXFSZ", None):
        hint = ("does your code write to a file in a loop that never stops? Write less, or, if "
                "the file must be that big, set CQRS_KATA_FILE_MB to more megabytes.")
    elif fatal or code in crashes:
        hint = ("Python itself crashed, which plain Python code cannot do unless it recurses "
                "very deep after raising sys.setrecursionlimit(), or calls into C (ctypes): "
                "look for that.")
    else:
        hint = ("does your code (or a thread it started) call os._exit() or end its own "
                "process? A check cannot finish when the code under test ends it.")
    return Ran("error", f"the process running your code {ended}{detail} {during}: {hint}{at}",
               child.stderr)


# Turning events into outcomes ---------------------------------------------------------------


@dataclass
class _Progress:
    """Where a child got to: the check it was running when its events stopped, and so on."""

    ready: bool = False
    loaded: bool = False
    thread: int | None = None
    current: int | None = None
    seconds: float | None = None
    output: list[str] = field(default_factory=list)


def _consume(events: Iterable[dict[str, Any]], run: StepRun) -> _Progress:
    """Record the outcomes of finished checks in ``run``; return where the events stopped."""
    at = _Progress()
    for event in events:
        kind = event["e"]
        if kind == "ready":
            at.ready, at.thread = True, event.get("thread")
        elif kind == "loaded":
            at.loaded, at.output = True, []
        elif kind == "load_error":
            run.load_error = str(event["message"])
        elif kind == "start":
            at.current, at.seconds, at.output = int(event["check"]), event.get("seconds"), []
        elif kind == "out":
            at.output.append(str(event["text"]))
        elif kind == "done":
            text = "".join(at.output)
            run.outcomes[int(event["check"])] = Ran(
                cast(Outcome, event["outcome"]), str(event["message"]),
                _excerpt(text, int(event.get("printed", len(text)))),
                tuple(str(b) for b in event.get("ran", ())))
            at.current, at.output = None, []
    return at


def _excerpt(text: str, total: int) -> str:
    more = total - len(text)
    return text + (f"\n… ({more} more characters not shown)" if more > 0 else "")


def _joined(*parts: str) -> str:
    return "\n".join(p.rstrip("\n") for p in parts if p.strip())


def _ordered(step: Step, leave_out: Collection[int] = ()) -> list[int]:
    """Indices of the step's checks, task by task, but those in ``leave_out``."""
    return [i for task in step.tasks for i, c in enumerate(step.checks)
            if c.task == task.number and i not in leave_out]


def run_checks(step: Step, path: Path, leave_out: Collection[int] = (),
               backends: tuple[str, ...] = ("sqlite",), postgres: str | None = None
               ) -> StepRun:
    """Run every check of ``step`` (but those indexed in ``leave_out``) against the file at
    ``path``, checks with a database on each of ``backends`` (PostgreSQL's checks database:
    ``postgres``); never raises for its code."""
    if not processes_available():
        return _run_in_process(step, path, leave_out)
    run = StepRun()
    limit = limits()
    if step.backends:  # each check with a database runs once per backend: so much more time
        times = max(1, len(set(backends) & set(step.backends)))
        limit = replace(limit, step=limit.step * times)
    pending = _ordered(step, leave_out)
    started = time.monotonic()
    while pending:
        budget = limit.step - (time.monotonic() - started)
        if budget <= 0.05:
            break
        job = {"step": step.number, "path": str(path), "checks": pending,
               "check_seconds": limit.check, "import_seconds": limit.imports,
               "budget_seconds": budget, "backends": list(backends), "postgres": postgres,
               "file_bytes": limit.file_bytes}
        child = _spawn(job, budget)
        at = _consume(child.events, run)
        if run.load_error is not None:
            return run
        if not at.ready:
            run.load_error = _joined("the check process could not start (a problem with the "
                                     "kata's installation, not with your code):", child.stderr)
            return run
        if not at.loaded and not child.finished:
            death = _death(child, path, min(limit.imports, budget), at.thread, importing=True,
                           step_seconds=limit.step if budget < limit.imports else None)
            run.load_error = _joined(f"{display_path(path)}: {death.message}", death.output)
            return run
        if at.current is None and not child.finished and child.returncode != sandbox.KATA_BUG:
            # Ended between two checks: a thread the learner started (os._exit, a signal).
            # The check that was about to start is the one that could not run.
            at.current = next((i for i in pending if i not in run.outcomes), None)
            if at.current is None:
                break
        if at.current is not None:
            clipped = at.seconds is not None and at.seconds < limit.check
            death = _death(child, path, at.seconds, at.thread, importing=False,
                           step_seconds=limit.step if clipped else None)
            death.output = _joined("".join(at.output), death.output)
            run.outcomes[at.current] = death
            check = step.checks[at.current]
            for index in pending:
                if index not in run.outcomes and step.checks[index].task == check.task:
                    run.outcomes[index] = Ran(
                        "skipped", f"not run: check {check.name!r} of this task did not "
                        "finish, so the rest of the task was skipped")
        elif not child.finished:
            run.load_error = _joined("the check process ended between two checks (a bug in "
                                     "cqrs-kata, not in your code):", child.stderr)
            return run
        if child.finished:
            break
        pending = [i for i in pending if i not in run.outcomes]
    for index in _ordered(step, leave_out):
        run.outcomes.setdefault(index, Ran(
            "skipped", f"not run: the step's {limit.step:g} s were used up by checks that did "
            "not finish; fix those first"))
    return run


def _run_in_process(step: Step, path: Path, leave_out: Collection[int]) -> StepRun:
    """The same sandbox without a process around it: no time limit (nothing here could stop
    a check: no watchdog thread, no signal) and no limit on memory or files, but the learner's
    exits (os._exit included) and BaseExceptions are still caught, and what the code changes
    about the process by mistake (streams, folder, signal handlers) is put back."""
    events: list[dict[str, Any]] = []
    job = {"step": step.number, "path": str(path), "checks": _ordered(step, leave_out)}
    run = StepRun()
    try:
        with sandbox.borrowed_process():
            sandbox.execute(job, events.append)
    except Exception as error:  # the caller (a notebook) gets a report, never an exception
        run.load_error = (f"the checks could not go on: {describe(error)}. Your code may "
                          "have changed Python beyond what the kata can put back (restart the "
                          "kernel), or this is a bug in cqrs-kata.")
    _consume(events, run)
    return run
