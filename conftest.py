"""Applies to every pytest run here, tests/ and notebooks/ alike.

Notebooks (under nbval) run against a pristine copy of the course with empty learner state, so
a learner's own progress never changes what a notebook prints, and check() inside a notebook
also proves that the reference solution passes. Their outputs are compared with the committed
ones whenever only outputs differ: running a notebook in JupyterLab saves the learner's outputs
into it, and that must not make ``make test`` fail.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import nbval.plugin
import pytest

from cqrs_kata.dev import use_pristine_course
from cqrs_kata.dev.committed import reference_notebook
from cqrs_kata.notebook import VERIFY_ENV

ROOT = Path(__file__).resolve().parent

# Set before nbval starts any kernel: kernels inherit this process's environment.
_pristine = Path(tempfile.mkdtemp(prefix="cqrs-kata-pristine-"))
atexit.register(shutil.rmtree, _pristine, ignore_errors=True)
use_pristine_course(_pristine)
os.environ[VERIFY_ENV] = "1"


def pytest_ignore_collect(collection_path: Path) -> bool | None:
    """Validate the course's notebooks (named like 02-...), not a learner's scratch ones."""
    if collection_path.suffix == ".ipynb" and not collection_path.name[:2].isdigit():
        return True
    return None


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--kata-target", choices=["solutions", "exercises"], default="solutions",
        help="run the course checks against the reference (default) or your exercises/",
    )




_nbval_collect = nbval.plugin.IPyNbFile.collect
_nbval_compare = nbval.plugin.IPyNbCell.compare_outputs


def _collect_with_committed_outputs(self: Any) -> Iterator[Any]:
    """nbval's cells, each also carrying its committed outputs when only outputs changed."""
    cells = list(_nbval_collect(self))
    reference = reference_notebook(Path(str(self.fspath)), ROOT)
    if reference is not None:
        code = [c for c in reference.cells if c.cell_type == "code"]
        for item in cells:
            item.committed_outputs = nbval.plugin.coalesce_streams(code[item.cell_num].outputs)
    yield from cells


def _compare_with_committed_too(self: Any, test: Any, ref: Any, skip_compare: Any = None) -> bool:
    """Pass when the new outputs match the committed ones (a learner re-ran the notebook) or
    the working copy's (an author refreshed them with `make notebooks` and has not committed)."""
    committed = getattr(self, "committed_outputs", None)
    if committed is not None and _nbval_compare(self, test, committed, skip_compare):
        return True
    return bool(_nbval_compare(self, test, ref, skip_compare))


nbval.plugin.IPyNbFile.collect = _collect_with_committed_outputs
nbval.plugin.IPyNbCell.compare_outputs = _compare_with_committed_too
