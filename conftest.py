"""Applies to every pytest run here, tests/ and notebooks/ alike.

Notebooks (under nbval) run against a pristine copy of the course with empty learner state, so
a learner's own progress never changes what a notebook prints, and check() inside a notebook
also proves that the reference solution passes.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

from cqrs_kata.dev import use_pristine_course
from cqrs_kata.notebook import VERIFY_ENV

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
