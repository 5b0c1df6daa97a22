"""Importing a learner's module from its file, and saying in one sentence what went wrong.

The runner's child side imports the code under test with :func:`load_module` before checking
it, and step 05's projector process imports the projector it runs the same way; both describe
what the learner's code raised with the helpers here, which never let that code's own
``__str__`` or ``__repr__`` break the description.
"""

from __future__ import annotations

import errno
import importlib.util
import stat
import sys
import traceback
from pathlib import Path
from types import ModuleType

from cqrs_kata.course import files
from cqrs_kata.course.paths import display_path

OUTPUT_CHARS = 2000
"""How much of what a check printed is kept (and shown when it fails); the rest is counted."""

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


def message_of(error: object) -> str:
    """``str(error)``, cut to a readable length, even when the exception's ``__str__`` raises."""
    try:
        text = str.__str__(str(error))  # a plain str, even if __str__ returned a subclass
    except BaseException as broken:  # the learner's __str__ may raise anything
        return f"<its message could not be shown: str() raised {type(broken).__name__}>"
    if len(text) > OUTPUT_CHARS:
        text = text[:OUTPUT_CHARS] + f"… ({len(text) - OUTPUT_CHARS} more characters)"
    return text


def name_of(error: BaseException) -> str:
    name = type(error).__name__
    return name if len(name) <= 100 else name[:100] + "…"


def describe(error: BaseException) -> str:
    """``Type: message`` (just ``Type`` when the message is empty)."""
    text = message_of(error)
    return f"{name_of(error)}: {text}" if text else name_of(error)


def past_file_limit(error: BaseException, at: str) -> str | None:
    """For a write past the limit on a file's size that a check process sets (OSError EFBIG
    while RLIMIT_FSIZE is set), what the code did and what to do; None for anything else."""
    if not isinstance(error, OSError) or error.errno != errno.EFBIG:
        return None
    try:
        import resource

        most = resource.getrlimit(resource.RLIMIT_FSIZE)[0]
    except (ImportError, ValueError, OSError):
        return None
    if most == resource.RLIM_INFINITY:
        return None
    return (f"wrote a file past the check's limit of {most / 1024**2:g} MB{at}: is there a "
            "loop that never stops writing? Write less, or, if the file must be that big, set "
            "CQRS_KATA_FILE_MB to more megabytes")


class LoadError(Exception):
    """The file under test could not be imported; the message is one sentence for the learner."""


class ExitCalled(SystemExit):
    """``os._exit()`` called by the learner's code where checks run in the caller's process
    (which it would end): raised instead, and reported like ``sys.exit()``."""


def exit_call(stop: SystemExit) -> str:
    try:  # the code may be any object, with a __repr__ of the learner's
        code = str.__str__(repr(stop.code))
    except BaseException:
        code = "…"
    code = code if len(code) <= 100 else code[:100] + "…"
    return f"{'os._exit' if isinstance(stop, ExitCalled) else 'sys.exit'}({code})"


def load_module(path: Path) -> ModuleType:
    """Import ``path`` afresh (never from a cache), or raise LoadError saying what is wrong."""
    shown = display_path(path)
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        mode = None
    except OSError as error:  # a symlink loop, a folder on the way that cannot be entered
        raise LoadError(f"{shown} cannot be read ({error.strerror or error}); check that the "
                        "file is readable, then check again.") from None
    if mode is None:
        raise LoadError(f"{shown} is missing; `cqrs-kata reset` with its step number writes a "
                        "fresh copy of the exercise.")
    if stat.S_ISDIR(mode):
        raise LoadError(f"{shown} is a folder, not a file; move it out of the way (it may hold "
                        "your work), then check again.")
    special = files.special_kind(mode)
    if special:
        raise LoadError(f"{shown} is {special}, not a file of Python code; move it out of the "
                        "way, then `cqrs-kata reset` with its step number writes a fresh copy "
                        "of the exercise.")
    name = "cqrs_kata_under_test_" + "".join(c if c.isalnum() else "_" for c in str(path))
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise LoadError(f"{shown} cannot be imported as Python; is it a .py file?")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # dataclasses and pickling look a class's module up here
    try:
        spec.loader.exec_module(module)
    except BaseException as error:  # anything the learner's import raised
        sys.modules.pop(name, None)
        try:
            said = _import_failure(error, path, spec.origin)
        except BaseException as broken:  # saying what it is ran the learner's code again
            said = (f"importing {shown} raised {name_of(error)}, which could not be described "
                    f"({name_of(broken)}); fix it and check again.")
        raise LoadError(said) from None
    return module


def _import_failure(error: BaseException, path: Path, origin: str | None) -> str:
    shown = display_path(path)
    at = where(error, path)
    if (isinstance(error, SyntaxError) and type(error) in (SyntaxError, IndentationError, TabError)
            and type(error.filename) in (str, type(None)) and error.filename in (origin, None)
            and not at):
        # Python's own complaint about the file (filename None: it holds NUL bytes)
        line = f", line {error.lineno}" if type(error.lineno) is int else ""
        return f"{shown}{line}: {message_of(error.msg)}; fix that line and check again."
    too_big = past_file_limit(error, at)
    if too_big:
        return f"importing {shown} {too_big}."
    if isinstance(error, OSError) and not at:  # reading the file failed, not code in it
        return (f"{shown} cannot be read ({message_of(error.strerror or error)}); check that "
                "the file is readable, then check again.")
    if isinstance(error, SystemExit):
        return (f"importing {shown} called {exit_call(error)}{at}; a file that exits while it "
                "is imported cannot be checked. Remove that call (or put it under `if __name__ "
                "== \"__main__\":`).")
    return f"importing {shown} raised {describe(error)}{at}; fix it and check again."
