"""The learner's files: replace one without ever losing what was in it, list and restore saves.

Every command that replaces an exercise (catchup, reset, restore, the maintainers' stub
rebuild) goes through :func:`replace`, which first copies the learner's version to
``exercises/.saved/`` under a name that says the step, why it was saved and when, e.g.
``step02.before-reset.2026-11-27T11-30-05.py``. A file that is a generated stub or the
reference solution holds nothing of the learner's and is not saved. Anything in the way (a
folder where a file should be, a read-only file, a file named ``.saved``) stops the command
with one sentence saying what to do, before anything has changed.
"""

from __future__ import annotations

import os
import re
import stat
import tempfile
from contextlib import suppress
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from cqrs_kata import platform
from cqrs_kata.course.paths import course_root, display_path

SAVED = ".saved"
_NAME = re.compile(r"^(step\d+)\.(?:before-([\w-]+?)\.)?[\w-]+\.py$")
"""``step02.before-reset.2026-11-27T11-30-05.py`` (and the older ``step02.20261126-...py``)."""


class FileProblem(RuntimeError):
    """A file or folder is in the way; the message says what to do. Nothing was changed."""


def saved_dir(create: bool = False) -> Path:
    folder = course_root() / "exercises" / SAVED
    if folder.exists() and not folder.is_dir():
        raise FileProblem(f"{display_path(folder)} is a file, but the kata keeps saved versions of "
                          "your exercises in a folder of that name; rename that file and run "
                          "this again. Nothing was changed.")
    if create:
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise FileProblem(f"cannot make {display_path(folder)} to save your file in "
                              f"({error.strerror or error}); nothing was changed.") from None
    return folder


def special_kind(mode: int) -> str | None:
    """What a path is when it is neither a regular file nor a folder (``os.stat`` mode):
    reading a named pipe waits forever, reading /dev/zero never ends."""
    if stat.S_ISREG(mode) or stat.S_ISDIR(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "a named pipe (FIFO)"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "a device (such as /dev/zero)"
    if stat.S_ISSOCK(mode):
        return "a socket"
    return "not a regular file"


def read(path: Path) -> bytes | None:
    """The file's bytes, None when it does not exist; FileProblem when it cannot be read."""
    try:
        mode = path.stat().st_mode
        if stat.S_ISDIR(mode):
            raise FileProblem(f"{display_path(path)} is a folder, not a file; move it out of the "
                              "way (it may hold your work) and run this again. Nothing was "
                              "changed.")
        special = special_kind(mode)
        if special:
            raise FileProblem(f"{display_path(path)} is {special}, not a file; move it out of the "
                              "way and run this again. Nothing was changed.")
        return path.read_bytes()
    except FileNotFoundError:
        return None
    except OSError as error:
        raise FileProblem(f"cannot read {display_path(path)} ({error.strerror or error}); make it "
                          "readable and run this again. Nothing was changed.") from None


def _writable(path: Path) -> None:
    """Refuse before anything changes when ``path`` (or its folder) cannot be written."""
    if path.exists():
        mode = path.stat().st_mode
        if not mode & stat.S_IWUSR or not os.access(path, os.W_OK):
            raise FileProblem(f"{display_path(path)} is read-only; make it writable (e.g. "
                              f"`chmod u+w {display_path(path)}`) and run this again. Nothing was "
                              "changed.")
    folder = path.parent
    if not folder.is_dir():
        raise FileProblem(f"{display_path(folder)} is missing or not a folder; it holds the "
                          "exercises, so restore it (e.g. `git checkout -- exercises`) and run "
                          "this again. Nothing was changed.")
    if not os.access(folder, os.W_OK):
        raise FileProblem(f"{display_path(folder)} is read-only; make it writable and run this "
                          "again. Nothing was changed.")


def _write(path: Path, data: bytes) -> None:
    """Write all of ``data`` or nothing: a crash midway never leaves half a file.

    A browser kernel's drive (JupyterLite keeps files in the browser's storage) may not
    support a temporary file renamed over another: there the file is written in place.
    """
    try:
        _write_aside(path, data)
    except OSError:
        if not platform.here().browser:
            raise
        path.write_bytes(data)


def _write_aside(path: Path, data: bytes) -> None:
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(data)
        # mkstemp makes the file readable by its owner only: give it the mode the file it
        # replaces had, or what the umask gives a new file.
        os.chmod(temporary, _mode_of(path))
        os.replace(temporary, path)
    except BaseException:
        with suppress(OSError):
            Path(temporary).unlink(missing_ok=True)
        raise


def _mode_of(path: Path) -> int:
    try:
        return stat.S_IMODE(path.stat().st_mode)
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def save_aside(path: Path, reason: str, data: bytes) -> Path:
    """Copy ``data`` (what ``path`` holds) into exercises/.saved/ and return the copy's path."""
    folder = saved_dir(create=True)
    stamp = datetime.now().strftime("%Y-%m-%dT%H-%M-%S")
    copy = folder / f"{path.stem}.before-{reason}.{stamp}.py"
    number = 2
    while copy.exists():
        copy = folder / f"{path.stem}.before-{reason}.{stamp}-{number}.py"
        number += 1
    try:
        _write(copy, data)
    except OSError as error:
        raise FileProblem(f"cannot save your version of {display_path(path)} in "
                          f"{display_path(folder)} ({error.strerror or error}); nothing was "
                          "changed.") from None
    return copy


def replace(path: Path, new: str | bytes, reason: str, *, stub: str,
            reference: str | None) -> str:
    """Put ``new`` in ``path``, saving what was there first unless it was the generated
    ``stub`` or the ``reference`` solution (None: save that too). Returns one line saying what
    happened."""
    data = new.encode("utf-8") if isinstance(new, str) else new
    current = read(path)
    if current == data:
        return f"{display_path(path)}: already as wanted, left alone"
    _writable(path)
    if current is None:
        note = "written (it was missing)"
    elif current == stub.encode("utf-8"):
        note = "replaced the untouched stub"
    elif reference is not None and current == reference.encode("utf-8"):
        note = f"replaced the reference solution that was in it (it stays in solutions/{path.name})"
    else:
        copy = save_aside(path, reason, current)
        note = f"replaced; your version is saved as {display_path(copy)}"
    try:
        _write(path, data)
    except OSError as error:
        raise FileProblem(f"cannot write {display_path(path)} ({error.strerror or error}); it was "
                          "left as it was.") from None
    return f"{display_path(path)}: {note}"


@dataclass(frozen=True)
class Saved:
    """One saved version of an exercise."""

    number: int
    path: Path
    step: str
    reason: str
    when: str

    @property
    def target(self) -> Path:
        return course_root() / "exercises" / f"step{self.step}.py"


def saved_versions() -> list[Saved]:
    """Every saved version, oldest first, numbered from 1 (a new save gets the next number)."""
    folder = saved_dir()
    if not folder.is_dir():
        return []
    found = []
    for path in folder.glob("step*.py"):
        match = _NAME.match(path.name)
        if not match or not path.is_file():
            continue
        found.append((path.stat().st_mtime, path.name, path, match))
    found.sort()
    return [Saved(number, path, match.group(1)[4:], match.group(2) or "",
                  datetime.fromtimestamp(mtime).strftime("%Y-%m-%d %H:%M:%S"))
            for number, (mtime, _, path, match) in enumerate(found, start=1)]


def find_saved(which: str) -> Saved:
    """A saved version by the number ``cqrs-kata saved`` shows or by its file name."""
    versions = saved_versions()
    chosen = next((v for v in versions if which in (str(v.number), v.path.name)), None)
    if chosen is None:
        listing = ("`cqrs-kata saved` lists them" if versions
                   else f"there are none in {display_path(saved_dir())} yet")
        raise FileProblem(f"there is no saved version {which!r}; {listing}.")
    return chosen
