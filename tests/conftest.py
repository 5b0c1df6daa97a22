"""Test set-up: notebooks run against a pristine course; fixtures for tests that change files."""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from cqrs_kata.dev import use_pristine_course
from cqrs_kata.notebook import VERIFY_ENV
from cqrs_kata.paths import ROOT_ENV

ROOT = Path(__file__).resolve().parent.parent

# nbval's kernels inherit the environment of this process. They see a pristine copy of the
# course (so a learner's own progress never changes what a notebook prints), and check() in a
# notebook also proves the reference solution passes.
use_pristine_course(Path(tempfile.mkdtemp(prefix="cqrs-kata-pristine-")))
os.environ[VERIFY_ENV] = "1"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--kata-target", choices=["solutions", "exercises"], default="solutions",
        help="run the course checks against the reference (default) or your exercises/",
    )


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the course's exercises/ and solutions/, used as the course root."""
    for folder in ("exercises", "solutions"):
        shutil.copytree(ROOT / folder, tmp_path / folder,
                        ignore=shutil.ignore_patterns(".saved", "__pycache__"))
    monkeypatch.setenv(ROOT_ENV, str(tmp_path))
    monkeypatch.delenv("CQRS_KATA_STATE")
    yield tmp_path
