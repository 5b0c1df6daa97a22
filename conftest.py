"""Applies to every pytest run here, tests/ and notebooks/ alike.

Only the course's files are collected: those in git's index (cqrs_kata/course/tracked.py), so
a learner's own files (a duplicated notebook, test_scratch.py) never are. Course notebooks are
validated (under nbval) as the index has them, whatever JupyterLab saved, renamed or deleted.

They run against a pristine copy of the course with empty learner state, so a learner's own
progress never changes what a notebook prints, and check() inside a notebook also proves that
the reference solution passes. A cell passes when its fresh outputs match the committed ones or,
while the working copy's cells are as committed, the working copy's: running a notebook in
JupyterLab saves the learner's outputs into it, and `make notebooks` a maintainer's.
"""

from __future__ import annotations

import atexit
import fnmatch
import os
import shutil
import tempfile
from collections import defaultdict
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import nbval.plugin
import pytest

from cqrs_kata.course.tracked import course_files, read_notebook
from cqrs_kata.dev import use_pristine_course
from cqrs_kata.learner.notebook import VERIFY_ENV

ROOT = Path(__file__).resolve().parent
COURSE = course_files(ROOT)
_notes: list[str] = []
"""Lines for the end of the run: what was validated instead of the working tree, or left out."""

# Set before nbval starts any kernel: kernels inherit this process's environment.
_pristine = Path(tempfile.mkdtemp(prefix="cqrs-kata-pristine-"))
atexit.register(shutil.rmtree, _pristine, ignore_errors=True)
use_pristine_course(_pristine)
os.environ[VERIFY_ENV] = "1"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--kata-target", choices=["solutions", "exercises"], default="solutions",
        help="run the course checks against the reference (default) or your exercises/",
    )


def pytest_ignore_collect(collection_path: Path, config: pytest.Config) -> bool | None:
    """Only the course's .py files; never a working-tree notebook (CourseNotebooks collects the
    course's from git's index)."""
    if collection_path.suffix not in (".py", ".ipynb"):
        return None
    if not COURSE.includes(collection_path):
        collected = [*config.getini("python_files"), *(["*.ipynb"] if _nbval(config) else [])]
        if any(fnmatch.fnmatch(collection_path.name, p) for p in collected) and _asked_for(
                collection_path, config):
            _notes.append(f"{_relative(collection_path)}: not in git's index, so not collected "
                          "(a new course file? `git add` it)")
        return True
    return True if collection_path.suffix == ".ipynb" else None


@pytest.hookimpl(tryfirst=True)
def pytest_collect_directory(path: Path, parent: pytest.Collector) -> pytest.Collector | None:
    return CourseNotebooks.from_parent(parent, path=path) if path == ROOT / "notebooks" else None


def pytest_terminal_summary(terminalreporter: Any) -> None:
    for note in dict.fromkeys(_notes):
        terminalreporter.write_line(note)


def _relative(path: Path) -> str:
    return path.resolve().relative_to(ROOT).as_posix()


def _asked_for(path: Path, config: pytest.Config) -> bool:
    """Whether ``path`` is in what this run collects (its arguments, else testpaths)."""
    here = config.invocation_params.dir
    return any(path.is_relative_to(here / a.split("::")[0]) for a in config.args)


def _nbval(config: pytest.Config) -> bool:
    return bool(config.option.nbval or config.option.nbval_lax)


class CourseNotebooks(pytest.Dir):  # type: ignore[misc]  # pytest marks Dir final for typing
    """notebooks/: its course notebooks as git's index has them, and what Dir finds otherwise."""

    def collect(self) -> Iterable[pytest.Item | pytest.Collector]:
        # Dir collects even a working-tree notebook named on the command line: not that one.
        yield from (n for n in super().collect() if n.path.suffix != ".ipynb")
        if _nbval(self.config):
            for relative in COURSE.notebooks():
                yield CourseNotebook.from_parent(self, path=ROOT / relative)


class CourseNotebook(nbval.plugin.IPyNbFile):  # type: ignore[misc]
    """nbval's notebook, read from git's index instead of the working tree."""

    def collect(self) -> Iterator[CourseCell]:
        relative = _relative(self.path)
        self.nb = COURSE.notebook(relative)
        working = _working_code_cells(relative, self.nb)
        committed = [c for c in self.nb.cells if c.cell_type == "code"]
        for number, cell in enumerate(committed):
            options: defaultdict[str, Any] = defaultdict(
                bool, nbval.plugin.find_metadata_tags(cell.metadata))
            options.update(nbval.plugin.find_comment_markers(cell.source))
            options.setdefault("check", self.compare_outputs)
            item = CourseCell.from_parent(self, name=f"Cell {number}", cell_num=number,
                                          cell=cell, options=options)
            if working is not None:
                item.working_outputs = nbval.plugin.coalesce_streams(working[number].outputs)
            yield item


def _working_code_cells(relative: str, committed: Any) -> list[Any] | None:
    """The working copy's code cells, when its cells' sources are as committed."""
    working = read_notebook(ROOT / relative)
    if working is None:
        _notes.append(f"{relative}: not in the working tree; validated the committed version")
        return None
    if [(c.cell_type, c.source) for c in working.cells] != [
            (c.cell_type, c.source) for c in committed.cells]:
        _notes.append(f"{relative}: cells differ from git's index; validated the committed "
                      "version (a course edit? `git add` it)")
        return None
    return [c for c in working.cells if c.cell_type == "code"]


class CourseCell(nbval.plugin.IPyNbCell):  # type: ignore[misc]
    """nbval's cell, which also passes on the working copy's outputs."""

    working_outputs: list[Any] | None = None

    def compare_outputs(self, test: Any, ref: Any, skip_compare: Any = None) -> bool:
        """Pass on the working copy's outputs too; the committed ones are compared last, so a
        failure shows the difference from those."""
        if self.working_outputs is not None and super().compare_outputs(
                test, self.working_outputs, skip_compare):
            return True
        return bool(super().compare_outputs(test, ref, skip_compare))

