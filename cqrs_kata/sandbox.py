"""Where the learner's code runs during a check: import it, run checks, report each outcome.

``cqrs-kata check`` and ``check()`` run this in a child process (``cqrs_kata.isolation``
starts it and kills it at its deadline); where processes are unavailable (a browser kernel),
``execute`` runs in the caller's process instead. Either way the learner's code may do
anything: loop, print without end, exit, raise ``BaseException``, replace a function of the
kata or a builtin. Each of those becomes an outcome with a sentence that says what happened;
none of them may turn a check into a pass or stop the report.

Events are plain dicts, sent through ``send`` (JSON lines on the child's original stdout):
``loaded`` or ``load_error``; then per check ``start``, any number of ``out`` (the first
characters it printed) and ``done``; then ``finished``, or ``no_time`` when the step's time
budget ran out before a check could start.
"""

from __future__ import annotations

import builtins
import faulthandler
import importlib.util
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
from types import FunctionType, ModuleType
from typing import Any, TextIO

from cqrs_kata.course import Check, get_step
from cqrs_kata.expect import CheckFailed
from cqrs_kata.paths import display_path

Event = dict[str, Any]
Send = Callable[[Event], None]

OUTPUT_CHARS = 2000
"""How much of what a check printed is kept (and shown when it fails); the rest is counted."""
MEMORY_BYTES = 2 * 1024**3
"""Address space a check process may use, so a runaway list cannot take the machine down."""


def where(error: BaseException, path: Path, name_file: bool = False) -> str:
    """`` (line N, in f)`` for the deepest traceback frame inside ``path``, if there is one."""
    try:
        frames = [f for f in traceback.extract_tb(error.__traceback__)
                  if Path(f.filename) == path]
    except Exception:  # a frame whose source cannot be read, say
        return ""
    if not frames:
        return ""
    last = frames[-1]
    file = f"{display_path(path)}, " if name_file else ""
    return f" ({file}line {last.lineno}, in {last.name})"


def message_of(error: BaseException) -> str:
    """``str(error)``, cut to a readable length, even when the exception's ``__str__`` raises."""
    try:
        text = str(error)
    except BaseException as broken:  # the learner's __str__ may raise anything
        return f"<its message could not be shown: str() raised {type(broken).__name__}>"
    if len(text) > OUTPUT_CHARS:
        text = text[:OUTPUT_CHARS] + f"… ({len(text) - OUTPUT_CHARS} more characters)"
    return text


def describe(error: BaseException) -> str:
    """``Type: message`` (just ``Type`` when the message is empty)."""
    text = message_of(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


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


# Guarding the kata against the code it checks ----------------------------------------------


def _kata_modules() -> dict[str, ModuleType]:
    return {name: module for name, module in sys.modules.items()
            if (name == "cqrs_kata" or name.startswith("cqrs_kata.")) and module is not None}


class Guard:
    """A picture of the kata's modules and Python's builtins, to find and undo changes.

    An exercise that replaces ``expect_equal`` or ``builtins.len`` could make every check pass;
    after the import and after every check the picture is compared, anything changed is put
    back, and the change is reported instead of the check's result.
    """

    def __init__(self) -> None:
        self._modules = _kata_modules()
        self._namespaces = {name: dict(vars(m)) for name, m in self._modules.items()}
        self._builtins = dict(vars(builtins))
        self._code: dict[int, tuple[FunctionType, Any]] = {}
        self._classes: dict[int, tuple[type, dict[str, Any]]] = {}
        for name, module in self._modules.items():
            for value in vars(module).values():
                if isinstance(value, FunctionType) and value.__module__ == name:
                    self._code[id(value)] = (value, value.__code__)
                elif isinstance(value, type) and value.__module__ == name:
                    self._classes[id(value)] = (value, dict(vars(value)))

    def changes(self) -> list[str]:
        """What was changed since the picture, as ``module.name`` strings; undone on return."""
        changed: list[str] = []
        for name, module in self._modules.items():
            if sys.modules.get(name) is not module:
                sys.modules[name] = module
                changed.append(f"sys.modules[{name!r}]")
            namespace = vars(module)
            for key, value in self._namespaces[name].items():
                if namespace.get(key, _MISSING) is not value:
                    namespace[key] = value
                    changed.append(f"{name}.{key}")
        namespace = vars(builtins)
        for key, value in self._builtins.items():
            if namespace.get(key, _MISSING) is not value:
                namespace[key] = value
                changed.append(f"builtins.{key}")
        for function, code in self._code.values():
            if function.__code__ is not code:
                function.__code__ = code
                changed.append(f"{function.__module__}.{function.__qualname__}.__code__")
        for cls, attributes in self._classes.values():
            current = vars(cls)
            for key, value in attributes.items():
                if current.get(key, _MISSING) is not value:
                    with suppress(AttributeError, TypeError):
                        setattr(cls, key, value)
                    changed.append(f"{cls.__module__}.{cls.__qualname__}.{key}")
        return changed


_MISSING = object()


def tampering(changed: list[str]) -> str:
    listed = ", ".join(changed[:5]) + (f" and {len(changed) - 5} more" if len(changed) > 5 else "")
    return (f"your code replaced {listed}. The checks cannot be trusted while the code under "
            "test changes the kata or Python's builtins; remove the line that assigns to it "
            "(what it replaced was put back)")


# Time limits -------------------------------------------------------------------------------


@contextmanager
def deadline(seconds: float | None, dump: TextIO | None) -> Iterator[None]:
    """Past ``seconds``, write every thread's stack to ``dump`` and end the process at once.

    faulthandler's watchdog is a C thread: it fires even when the learner's code holds a lock
    the main thread waits on, swallows every exception, or resets the interval timer.
    """
    if seconds is None or dump is None:
        yield
        return
    faulthandler.dump_traceback_later(max(seconds, 0.001), exit=True, file=dump)
    try:
        yield
    finally:
        faulthandler.cancel_dump_traceback_later()


# Running -----------------------------------------------------------------------------------


class LoadError(Exception):
    """The file under test could not be imported; the message is one sentence for the learner."""


def load_module(path: Path) -> ModuleType:
    """Import ``path`` afresh (never from a cache), or raise LoadError saying what is wrong."""
    shown = display_path(path)
    if path.is_dir():
        raise LoadError(f"{shown} is a folder, not a file; move it out of the way (it may hold "
                        "your work), then check again.")
    if not path.is_file():
        raise LoadError(f"{shown} is missing; `cqrs-kata reset` with its step number writes a "
                        "fresh copy of the exercise.")
    name = "cqrs_kata_under_test_" + "".join(c if c.isalnum() else "_" for c in str(path))
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LoadError(f"{shown} cannot be imported as Python; is it a .py file?")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look a class's module up here
    try:
        spec.loader.exec_module(module)
    except SyntaxError as error:
        sys.modules.pop(name, None)
        line = f", line {error.lineno}" if error.lineno else ""
        raise LoadError(f"{shown}{line}: {error.msg}; fix that line and check again.") from None
    except OSError as error:
        sys.modules.pop(name, None)
        raise LoadError(f"{shown} cannot be read ({error.strerror or error}); check that the "
                        "file is readable, then check again.") from None
    except SystemExit as error:
        sys.modules.pop(name, None)
        raise LoadError(f"importing {shown} called sys.exit({error.code!r}){where(error, path)}; "
                        "a file that exits while it is imported cannot be checked. Remove that "
                        "call (or put it under `if __name__ == \"__main__\":`).") from None
    except BaseException as error:  # anything the learner's import raised
        sys.modules.pop(name, None)
        raise LoadError(f"importing {shown} raised {describe(error)}{where(error, path)}; "
                        "fix it and check again.") from None
    return module


def outcome_of(check: Check, impl: ModuleType, path: Path) -> tuple[str, str]:
    """Run one check; return its outcome and message. Never raises."""
    try:
        check(impl)
    except CheckFailed as failure:
        return "wrong", message_of(failure)
    except NotImplementedError as todo:
        return "todo", message_of(todo) or "not written yet"
    except SystemExit as stop:
        return "error", (f"your code called sys.exit({stop.code!r}){where(stop, path, True)}; "
                         "a check cannot finish when the code under test exits. Raise an "
                         "exception instead.")
    except BaseException as error:  # KeyboardInterrupt, custom BaseException...
        return "error", f"your code raised {describe(error)}{where(error, path, True)}"
    return "pass", ""


def execute(job: dict[str, Any], send: Send, dump: TextIO | None = None) -> None:
    """Import the file and run the job's checks, sending events; the caller's streams are
    replaced by a Capture meanwhile. With ``dump``, each phase has a hard time limit."""
    step = get_step(job["step"])
    path = Path(job["path"])
    started = time.monotonic()
    budget = float(job.get("budget_seconds", 0)) or None

    def left() -> float | None:
        return None if budget is None else budget - (time.monotonic() - started)

    def limit(seconds: float | None) -> float | None:
        remaining = left()
        if seconds is None or remaining is None:
            return seconds if remaining is None else remaining
        return min(seconds, remaining)

    capture = Capture(send)
    saved_streams = sys.stdout, sys.stderr
    guard = Guard()
    send({"e": "ready", "thread": threading.get_ident()})
    try:
        sys.stdout = sys.stderr = capture
        with deadline(limit(job.get("import_seconds")), dump):
            try:
                impl = load_module(path)
            except LoadError as error:
                send({"e": "load_error", "message": str(error)})
                return
            changed = guard.changes()
            if changed:
                send({"e": "load_error", "message": f"importing {display_path(path)}: "
                      + tampering(changed) + "."})
                return
            send({"e": "loaded"})
        for index in job["checks"]:
            check = step.checks[index]
            seconds = limit(job.get("check_seconds"))
            if seconds is not None and seconds <= 0.05:
                send({"e": "no_time", "check": index})
                return
            capture.reset()
            sys.stdout = sys.stderr = capture
            send({"e": "start", "check": index, "seconds": seconds})
            with deadline(seconds, dump):
                outcome, message = outcome_of(check, impl, path)
                changed = guard.changes()
                if changed:
                    outcome, message = "error", tampering(changed)
                sys.stdout = sys.stderr = capture
                send({"e": "done", "check": index, "outcome": outcome, "message": message,
                      "printed": capture.total})
        send({"e": "finished"})
    finally:
        sys.stdout, sys.stderr = saved_streams


def _limit_memory() -> None:
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_AS)
        wanted = MEMORY_BYTES if hard == resource.RLIM_INFINITY else min(MEMORY_BYTES, hard)
        if soft == resource.RLIM_INFINITY or soft > wanted:
            resource.setrlimit(resource.RLIMIT_AS, (wanted, hard))
    except (ImportError, ValueError, OSError):
        pass  # not on this platform: the deadline still bounds a runaway check


def main() -> None:
    """Entry point of the check process: ``python -c ... main()`` with the job as argv[1]."""
    job = json.loads(sys.argv[1])
    # Events go out on the original stdout; anything written to file descriptor 1 from now on
    # (C code, os.write, subprocesses) joins stderr, which the parent keeps an excerpt of.
    events = os.fdopen(os.dup(1), "w", encoding="utf-8", errors="backslashreplace")
    os.dup2(2, 1)
    write, flush, dumps = events.write, events.flush, json.dumps

    def send(event: Event) -> None:
        write(dumps(event) + "\n")
        flush()

    dump = open(job["dump_path"], "w", encoding="utf-8")  # noqa: SIM115 - lives to the end
    faulthandler.enable(file=dump, all_threads=True)  # crashes (segfaults) leave a stack too
    _limit_memory()
    status = 0
    try:
        execute(job, send, dump)
    except BaseException:  # a bug in the kata itself: the parent shows this
        traceback.print_exc(file=sys.__stderr__)
        status = 70
    # Skip atexit handlers and the join of non-daemon threads the learner started: the report
    # is sent, and nothing the learner's code left running may delay it.
    os._exit(status)


if __name__ == "__main__":
    main()
