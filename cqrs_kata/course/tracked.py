"""Which files are the course's: what git's index holds.

A learner uses this checkout through JupyterLab, which can create files anywhere (Untitled.ipynb,
a duplicated notebook, scratch.py in whatever folder is open), save outputs and scratch cells into
the course's notebooks, and rename or delete them. None of that touches git's index, while a
maintainer `git add`s a new or changed file. So ``make test`` lints, type-checks, collects and
validates what the index lists, and validates notebooks as the index has them.

Outside a git checkout (or without git) everything in the folder counts, and the course's
notebooks are those named like ``02-split-truth-from-views.ipynb``.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

NOTEBOOK_NAME = re.compile(r"^\d\d-[a-z0-9-]+\.ipynb$")
"""A course notebook's name outside git; JupyterLab's copies (``-Copy1``) do not match."""


def _git(root: Path, *args: str) -> str | None:
    try:
        done = subprocess.run(["git", *args], cwd=root, capture_output=True,
                              encoding="utf-8", check=False)
    except FileNotFoundError:  # no git on this machine
        return None
    return done.stdout if done.returncode == 0 else None


@dataclass(frozen=True)
class CourseFiles:
    """The course's files in the checkout ``root``."""

    root: Path
    tracked: frozenset[str] | None
    """Paths (relative, with ``/``) in git's index, or None when ``root`` is not a git checkout."""

    def text(self, relative: str) -> str | None:
        """The file as the index has it (outside git: as the folder has it), None if absent."""
        if self.tracked is None:
            path = self.root / relative
            return path.read_text(encoding="utf-8") if path.is_file() else None
        return _git(self.root, "show", f":{relative}") if relative in self.tracked else None

    def notebooks(self) -> list[str]:
        """The course's notebooks, even one the learner has renamed or deleted."""
        if self.tracked is None:
            return sorted(f"notebooks/{p.name}" for p in (self.root / "notebooks").glob("*.ipynb")
                          if NOTEBOOK_NAME.match(p.name) and "copy" not in p.name)
        return sorted(p for p in self.tracked
                      if PurePosixPath(p).parent.as_posix() == "notebooks" and p.endswith(".ipynb"))

    def notebook(self, relative: str) -> Any:
        """A course notebook as the index has it (outside git: as the folder has it)."""
        import nbformat  # here: importing it takes a second, and the lint module never needs it

        return nbformat.reads(self.text(relative) or "", as_version=4)

    def python_files(self) -> list[str] | None:
        """The course's .py files that are in the folder; None outside git (then: all of them)."""
        if self.tracked is None:
            return None
        return sorted(p for p in self.tracked if p.endswith(".py") and (self.root / p).is_file())

    def includes(self, path: Path) -> bool:
        """Whether ``path`` is a course file (outside git, or outside ``root``, all files are)."""
        try:
            relative = path.resolve().relative_to(self.root).as_posix()
        except ValueError:
            return True
        return self.tracked is None or relative in self.tracked


def read_notebook(path: Path) -> Any | None:
    """The notebook in the working tree, if it is there (a learner may rename or delete it)."""
    import nbformat

    try:
        return nbformat.read(path, as_version=4)
    except (OSError, ValueError):  # missing, or not a notebook any more
        return None


def course_files(root: Path) -> CourseFiles:
    """Read the index of the git checkout ``root`` (a folder inside another checkout is not one)."""
    root = root.resolve()
    top = _git(root, "rev-parse", "--show-toplevel")
    listed = _git(root, "ls-files", "-z") if top and Path(top.strip()).resolve() == root else None
    return CourseFiles(root, None if listed is None else frozenset(listed.split("\0")) - {""})
