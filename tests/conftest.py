"""Fixtures for tests that change course files: they get a throw-away copy of the course."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from cqrs_kata.paths import ROOT_ENV, STATE_ENV

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A copy of the course's exercises/ and solutions/, used as the course root."""
    for folder in ("exercises", "solutions"):
        shutil.copytree(ROOT / folder, tmp_path / folder,
                        ignore=shutil.ignore_patterns(".saved", "__pycache__"))
    monkeypatch.setenv(ROOT_ENV, str(tmp_path))
    monkeypatch.delenv(STATE_ENV, raising=False)
    yield tmp_path
