"""``cqrs-kata doctor``: is this laptop ready for the course? One line per check, as it runs.

Each check is a small function that returns a :class:`Finding`: ``ok``, a ``warning`` (the
course runs, something is off: say so) or a ``problem`` (the room cannot start here), with what
to do about it. The command exits with 0 when no check found a problem.

PostgreSQL is only a warning when missing: only the PostgreSQL parts of steps 05 to 07 need it,
and they say so and run the rest.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.metadata
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TextIO

from cqrs_kata.course.paths import ROOT_ENV, CourseNotFound, course_root

Level = Literal["ok", "warning", "problem"]

SUPPORTED = ((3, 10), (3, 13))
"""The Pythons the lock (constraints.txt) and the wheelhouse are made for, lowest and highest."""
INSTALL = ".venv/bin/python -m pip install -c constraints.txt -e '.[dev]'"
SETUP = f"run `make lab` in the course's folder (or by hand: {INSTALL})"
WIDGETS_EXTENSION = "@jupyter-widgets/jupyterlab-manager"
KERNEL_CODE = "import cqrs_kata, solutions, sys; print(sys.executable)"
KERNEL_SECONDS = 60.0
DISK_PROBLEM = 300 * 2**20
DISK_WARNING = 2**30
COURSE_FOLDERS = ("notebooks", "exercises", "solutions")


@dataclass(frozen=True)
class Finding:
    """What one check found: a one-line ``detail``, and for anything not ok, what to do."""

    check: str
    level: Level
    detail: str
    fix: str = ""

    def lines(self) -> list[str]:
        lines = [f"  {self.level:<8} {self.check:<11} {self.detail}"]
        if self.fix and self.level != "ok":
            lines.append(f"  {'':<8} {'':<11} what to do: {self.fix}")
        return lines


def check_python(version: Sequence[int] = tuple(sys.version_info[:3]),
                 executable: str = sys.executable) -> Finding:
    shown = ".".join(str(part) for part in version)
    low, high = SUPPORTED
    if tuple(version[:2]) < low:
        return Finding("python", "problem", f"{shown} ({executable}) is too old",
                       f"install Python {low[0]}.{low[1]} or newer (3.12 is a good choice), "
                       "then `make lab PYTHON=python3.12`")
    if tuple(version[:2]) > high:
        return Finding("python", "warning",
                       f"{shown} ({executable}) is newer than the course is locked for "
                       f"({low[0]}.{low[1]} to {high[0]}.{high[1]})",
                       "if installing fails, use Python 3.12: `make lab PYTHON=python3.12`")
    return Finding("python", "ok", f"{shown} ({executable})")


def check_venv(prefix: str = sys.prefix, base_prefix: str = sys.base_prefix,
               executable: str = sys.executable, root: Path | None = None) -> Finding:
    """Whether this runs in the course's own .venv, and else which Python it is."""
    if prefix == base_prefix:
        return Finding("venv", "warning",
                       f"not in a virtual environment: this is {executable}",
                       f"use the course's own: {SETUP}, then `source .venv/bin/activate`")
    found = root or _course_folder()
    own = found / ".venv" if found is not None else None
    if own is not None and _same(Path(prefix), own):
        return Finding("venv", "ok", f"the course's .venv ({executable})")
    return Finding("venv", "warning",
                   f"in a virtual environment that is not the course's .venv: {prefix}",
                   "fine if you made it on purpose; else use the course's own "
                   "(`source .venv/bin/activate` in the course's folder)")


def _course_folder() -> Path | None:
    """The course's folder even when exercises/ or solutions/ is gone (which course_root()
    needs to find it): the checkout whose pyproject.toml names cqrs-kata, from here upward,
    else the one this package was installed from ($CQRS_KATA_ROOT alone, when set)."""
    try:
        return course_root()
    except CourseNotFound:
        pass
    explicit = os.environ.get(ROOT_ENV)
    here = Path.cwd().resolve()
    candidates = ([Path(explicit)] if explicit else
                  [here, *here.parents, Path(__file__).resolve().parent.parent])
    for folder in candidates:
        try:
            text = (folder / "pyproject.toml").read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue
        if 'name = "cqrs-kata"' in text:
            return folder
    return None


def _same(a: Path, b: Path) -> bool:
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def check_jupyterlab() -> Finding:
    try:
        version = importlib.metadata.version("jupyterlab")
    except importlib.metadata.PackageNotFoundError:
        return Finding("jupyterlab", "problem", "JupyterLab is not installed here", SETUP)
    if not version.startswith("4."):
        return Finding("jupyterlab", "problem", f"JupyterLab {version}: the course needs 4.x",
                       SETUP)
    return Finding("jupyterlab", "ok", f"JupyterLab {version}")


def check_widgets(search: Sequence[str] | None = None) -> Finding:
    """The widgets front-end (jupyterlab_widgets' labextension), which draws the step 03
    dashboard, the hint buttons and the bench's progress bar in JupyterLab."""
    if search is None:
        from jupyter_core.paths import jupyter_path

        search = jupyter_path("labextensions")
    for folder in search:
        package = Path(folder) / WIDGETS_EXTENSION / "package.json"
        if package.is_file():
            try:
                version = json.loads(package.read_text(encoding="utf-8")).get("version", "?")
            except (OSError, ValueError):
                version = "?"
            return Finding("widgets", "ok", f"{WIDGETS_EXTENSION} {version} in {folder}")
    return Finding("widgets", "problem",
                   f"the widgets front-end ({WIDGETS_EXTENSION}) is not installed: the step 03 "
                   "dashboard and the hint buttons would show as plain text",
                   ".venv/bin/python -m pip install --force-reinstall -c constraints.txt "
                   "jupyterlab_widgets, then restart JupyterLab")


def check_kernel(code: str = KERNEL_CODE, kernel_name: str = "python3",
                 timeout: float = KERNEL_SECONDS, cwd: Path | None = None) -> Finding:
    """Start a kernel as JupyterLab would and run ``code`` (by default: import the course)."""
    started = time.monotonic()
    # The kernel's own stderr (its start-up chatter) is kept, and quoted only when it failed.
    with tempfile.TemporaryFile("w+", encoding="utf-8", errors="replace") as stderr:
        try:
            from jupyter_client.manager import start_new_kernel

            where = str(cwd or _course_or_here())
            manager, client = start_new_kernel(kernel_name=kernel_name, startup_timeout=timeout,
                                               cwd=where, stderr=stderr)
        except Exception as error:  # no kernel spec, a kernel that dies or hangs: one problem
            stderr.seek(0)
            said = " ".join(stderr.read().split()[-40:])
            return Finding("kernel", "problem",
                           f"a {kernel_name} kernel did not start: {type(error).__name__}: "
                           f"{error}" + (f"; it said: {said}" if said else ""),
                           f"{SETUP}; if it persists, `jupyter kernelspec list` shows which "
                           "Python each kernel runs")
        return _run_in_kernel(manager, client, code, kernel_name, timeout, started)


def _course_or_here() -> Path:
    """Where the kernel starts: the course's folder, or here when there is none (the course
    check says so; the kernel check still tells whether a kernel starts)."""
    try:
        return course_root()
    except CourseNotFound:
        return Path.cwd()


def _run_in_kernel(manager: Any, client: Any, code: str, kernel_name: str, timeout: float,
                   started: float) -> Finding:
    printed: list[str] = []

    def collect(message: dict[str, Any]) -> None:
        if message["msg_type"] == "stream":
            printed.append(message["content"]["text"])

    try:
        reply = client.execute_interactive(code, timeout=timeout, output_hook=collect)
        content = reply["content"]
    except Exception as error:  # a timeout, or the kernel died while importing
        return Finding("kernel", "problem",
                       f"the kernel did not finish `{code}` within {timeout:.0f} s: "
                       f"{type(error).__name__}: {error}", SETUP)
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    if content["status"] != "ok":
        return Finding("kernel", "problem",
                       f"the {kernel_name} kernel cannot run `{code}`: "
                       f"{content.get('ename')}: {content.get('evalue')}",
                       f"{SETUP}; the kernel must run the course's Python ("
                       "`jupyter kernelspec list` shows which one each kernel runs)")
    python = "".join(printed).strip()
    shown = f" ({python})" if python else ""
    return Finding("kernel", "ok", f"a {kernel_name} kernel{shown} imports the course "
                                   f"({time.monotonic() - started:.1f} s)")


def check_postgres() -> Finding:
    """A PostgreSQL server for steps 05 to 07: $CQRS_KATA_PG_DSN's, or a throwaway one."""
    started = time.monotonic()
    fix = ("only the PostgreSQL parts of steps 05 to 07 need it (they say so and the rest "
           "runs); to have them, set CQRS_KATA_PG_DSN to a server you can reach")
    try:
        from cqrs_kata.db.postgres import DSN_ENV, unavailable_reason

        reason = unavailable_reason()
    except ImportError as error:
        return Finding("postgresql", "warning", f"psycopg is not installed ({error})", fix)
    if reason is not None:
        return Finding("postgresql", "warning", reason.splitlines()[0], fix)
    which = f"${DSN_ENV}'s server" if os.environ.get(DSN_ENV) else "a throwaway server started"
    return Finding("postgresql", "ok", f"{which} answers ({time.monotonic() - started:.1f} s)")


def check_disk(folders: Sequence[Path] | None = None,
               usage: Callable[[Path], Any] = shutil.disk_usage) -> Finding:
    """Free space where the course and the throwaway databases write."""
    if folders is None:
        folders = [Path(tempfile.gettempdir())]
        with contextlib.suppress(CourseNotFound):
            folders.insert(0, course_root())
    free = {folder: int(usage(folder).free) for folder in folders}
    folder, least = min(free.items(), key=lambda item: item[1])
    detail = f"{least / 2**30:.1f} GiB free in {folder}"
    if least < DISK_PROBLEM:
        return Finding("disk", "problem", detail,
                       f"free at least {DISK_WARNING // 2**30} GiB there (steps 05 to 07 "
                       "write databases of some hundred MB)")
    if least < DISK_WARNING:
        return Finding("disk", "warning", detail,
                       f"the step 06 bench may need more: free {DISK_WARNING // 2**30} GiB")
    return Finding("disk", "ok", detail)


def _try_write(folder: Path) -> None:
    """Create and remove a file in ``folder``; raises OSError when that cannot be done."""
    handle, name = tempfile.mkstemp(prefix=".doctor-", dir=folder)
    os.close(handle)
    os.unlink(name)


def check_course(root: Path | None = None) -> Finding:
    """The course's folders exist, and the learner can write in exercises/."""
    root = root or _course_folder()
    if root is None:
        try:
            course_root()
        except CourseNotFound as error:
            return Finding("course", "problem", str(error),
                           "run `cqrs-kata doctor` from inside the course's folder")
        raise AssertionError("course_root() found what _course_folder() did not")
    missing = [name for name in COURSE_FOLDERS if not (root / name).is_dir()]
    if missing:
        folders = " ".join(missing)
        return Finding("course", "problem", f"{root} lacks {', '.join(f'{m}/' for m in missing)}",
                       f"in a git checkout, `git restore {folders}` brings back only those "
                       "folders (your other files stay as they are); else copy them from a fresh "
                       "copy of the course")
    exercises = root / "exercises"
    unwritable = [p.name for p in sorted(exercises.glob("step*.py")) if not os.access(p, os.W_OK)]
    try:
        _try_write(exercises)
    except OSError as error:
        unwritable.insert(0, f"the folder itself ({error.strerror or error})")
    if unwritable:
        return Finding("course", "problem",
                       f"cannot write in {exercises}: {', '.join(unwritable)}",
                       "make the course yours: copy it to a folder of your own, or "
                       f"`chmod -R u+w {exercises}`")
    return Finding("course", "ok", f"{root}: notebooks, exercises (writable), solutions")


CHECKS: tuple[Callable[[], Finding], ...] = (
    check_python, check_venv, check_course, check_disk, check_jupyterlab, check_widgets,
    check_kernel, check_postgres)
"""In order: the quick ones first, then the kernel and PostgreSQL (a few seconds each)."""


def run_checks(checks: Sequence[Callable[[], Finding]] = CHECKS,
               out: TextIO | None = None) -> list[Finding]:
    """Run each check, printing its lines as soon as it is done."""
    out = out or sys.stdout
    findings = []
    for check in checks:
        try:
            finding = check()
        except Exception as error:  # a check that breaks is itself a finding, not a crash
            name = check.__name__.removeprefix("check_")
            finding = Finding(name, "problem", f"the check failed: {type(error).__name__}: "
                                               f"{error}", "report this to the facilitator")
        findings.append(finding)
        print("\n".join(finding.lines()), file=out, flush=True)
    return findings


def verdict(findings: Sequence[Finding]) -> str:
    problems = sum(f.level == "problem" for f in findings)
    warnings = sum(f.level == "warning" for f in findings)
    if problems:
        return (f"{problems} problem{'s' * (problems > 1)}: fix {'each' if problems > 1 else 'it'}"
                " as said above, then run `cqrs-kata doctor` again.")
    noted = f" ({warnings} warning{'s' * (warnings > 1)} above)" if warnings else ""
    return f"Ready: this machine can start the course{noted}."


def main(argv: Sequence[str] = ()) -> int:
    argparse.ArgumentParser(
        prog="cqrs-kata doctor",
        description="Check that this machine is ready for the course: Python, the venv, "
                    "JupyterLab and its widgets, a kernel that imports the course, PostgreSQL, "
                    "disk space and the course's folders. Exit status 0 when it can start."
    ).parse_args(list(argv))
    print("cqrs-kata doctor: is this machine ready for the course?", flush=True)
    findings = run_checks()
    print(verdict(findings))
    return 1 if any(f.level == "problem" for f in findings) else 0
