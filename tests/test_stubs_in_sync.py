"""The committed exercise stubs are exactly what the generator makes from the solutions.

The committed version (git HEAD) is compared, so a learner's own edits in exercises/ never fail
this test; a maintainer who regenerated the stubs but has not committed yet passes as well.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cqrs_kata.course import Step, all_steps
from cqrs_kata.dev.committed import committed_text
from cqrs_kata.stubs import stub_for

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("step", [pytest.param(s, id=f"step{s.number}") for s in all_steps()])
def test_stub_matches_generator(step: Step) -> None:
    path = f"exercises/{step.module}.py"
    expected = stub_for(step)
    working = (ROOT / path).read_text(encoding="utf-8") if (ROOT / path).is_file() else None
    committed = committed_text(ROOT, path)
    if committed is None and not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: the shipped stub cannot be told apart from your edits")
    assert expected in (committed, working), (
        f"{path} is not what the generator makes from solutions/{step.module}.py; "
        "run `make stubs` and commit the result"
    )
