"""``make lint`` and ``make typecheck``: ruff and mypy on the course's .py files, none else.

The course's files are those in git's index (see ``cqrs_kata/course/tracked.py``), so a learner's
scratch.py, in whatever folder JupyterLab had open, is never checked. Outside a git checkout this
runs plain ``ruff check .`` and ``mypy``. Notebooks are left out (pyproject.toml excludes them from
ruff): tests/test_jupyterlab_use.py lints the course's notebooks as committed.

    python -m cqrs_kata.dev.lint ruff|mypy
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path, PurePosixPath

from cqrs_kata.course.tracked import course_files

if sys.version_info >= (3, 11):
    import tomllib
else:  # mypy, which this runs, installs tomli there
    import tomli as tomllib


def _type_checked(files: list[str], root: Path) -> list[str]:
    """Those of ``files`` inside what pyproject.toml's [tool.mypy] files lists, and not matched
    by its ``exclude`` (which mypy applies only to files it finds itself, not to named ones)."""
    with (root / "pyproject.toml").open("rb") as config:
        settings = tomllib.load(config)["tool"]["mypy"]
    listed = {PurePosixPath(f) for f in settings["files"]}
    patterns = settings.get("exclude", [])  # a regular expression, or a list of them
    patterns = [patterns] if isinstance(patterns, str) else patterns
    excluded = re.compile("|".join(f"(?:{p})" for p in patterns)) if patterns else None
    return [f for f in files if {PurePosixPath(f), *PurePosixPath(f).parents} & listed
            and not (excluded and excluded.search(f))]


def command(tool: str, root: Path) -> list[str] | None:
    """The command to run in ``root``; None when the course has no file for ``tool``."""
    files = course_files(root).python_files()
    run = [sys.executable, "-m", tool]
    if files is None:
        return [*run, "check", "."] if tool == "ruff" else run
    if tool == "mypy":
        files = _type_checked(files, root)
        return [*run, *files] if files else None
    # --force-exclude: pyproject's excludes (exercises/, the learner's) hold for named files too.
    return [*run, "check", "--force-exclude", *files] if files else None


def main(argv: list[str]) -> int:
    if len(argv) != 1 or argv[0] not in ("ruff", "mypy"):
        print("usage: python -m cqrs_kata.dev.lint ruff|mypy", file=sys.stderr)
        return 2
    root = Path.cwd()
    run = command(argv[0], root)
    if run is None:
        print(f"{argv[0]}: no course files to check")
        return 0
    return subprocess.run(run, cwd=root, check=False).returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
