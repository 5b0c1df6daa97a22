"""Fixtures for tests that change course files: they get a throw-away copy of the course."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from cqrs_kata.dev import pristine_course
from cqrs_kata.paths import ROOT_ENV, STATE_ENV
from tests.browser import browser, chromium, lab  # noqa: F401 - fixtures for browser tests

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def course(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A course root with the reference solutions and freshly generated stubs.

    Fresh stubs, not a copy of exercises/: a learner's own work there must not change any test.
    """
    monkeypatch.setenv(ROOT_ENV, str(ROOT))
    pristine_course(tmp_path)
    monkeypatch.setenv(ROOT_ENV, str(tmp_path))
    monkeypatch.delenv(STATE_ENV, raising=False)
    yield tmp_path
