"""Fixtures for tests that change course files: they get a throw-away copy of the course."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from cqrs_kata.course.paths import ROOT_ENV, STATE_ENV
from cqrs_kata.db.postgres import PostgresUnavailable, fresh_database
from cqrs_kata.dev import pristine_course
from tests.support.browser import browser, chromium, lab  # noqa: F401 - fixtures for browser tests

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


@pytest.fixture
def pg_dsn(request: pytest.FixtureRequest) -> str:
    """A DSN of an empty PostgreSQL database of this test's own, or skip saying why none can be
    had: CQRS_KATA_PG_DSN's server, else a throwaway one (started once per test process).

    In CI (CI=true) no PostgreSQL is a failure: the wheel brings the server, so a skip there
    would hide a broken install.
    """
    try:
        return fresh_database(re.sub(r"\W", "_", request.node.name.lower())[:30])
    except PostgresUnavailable as error:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL test cannot run in CI: {error}")
        pytest.skip(f"PostgreSQL test skipped: {error}")
