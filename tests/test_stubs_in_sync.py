"""The committed exercise stubs are exactly what the generator makes from the solutions.

The committed version (git's index) is compared, so a learner's own edits in exercises/ never
fail this test; a maintainer who regenerated the stubs but has not committed yet passes as well.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from cqrs_kata.course.structure import Step, all_steps
from cqrs_kata.course.stubs import stub_for, write_stubs
from cqrs_kata.course.tracked import course_files

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("step", [pytest.param(s, id=f"step{s.number}") for s in all_steps()])
def test_stub_matches_generator(step: Step) -> None:
    path = f"exercises/{step.module}.py"
    expected = stub_for(step)
    working = (ROOT / path).read_text(encoding="utf-8") if (ROOT / path).is_file() else None
    course = course_files(ROOT)
    if course.tracked is None:
        pytest.skip("not a git checkout: the shipped stub cannot be told apart from your edits")
    committed = course.text(path)
    assert expected in (committed, working), (
        f"{path} is not what the generator makes from solutions/{step.module}.py; "
        "run `make stubs` and commit the result"
    )


def test_generated_stubs_are_lint_clean(tmp_path: Path) -> None:
    """exercises/ is the learner's and not linted by `make test`, so lint what is generated.

    Stubs keep the solution's imports (the answer may need them), hence F401 is allowed.
    """
    write_stubs(tmp_path)
    ruff = Path(sys.executable).with_name("ruff")
    linted = subprocess.run([str(ruff), "check", "--no-cache", "--ignore", "F401",
                             "--config", str(ROOT / "pyproject.toml"), str(tmp_path)],
                            capture_output=True, text=True, check=False)
    assert linted.returncode == 0, linted.stdout + linted.stderr
