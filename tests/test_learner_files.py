"""`make lint` leaves notebooks out (a learner writes in them); the course's are linted here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cqrs_kata.dev.course_files import course_files

ROOT = Path(__file__).resolve().parent.parent
COURSE = course_files(ROOT)


def test_committed_notebooks_are_lint_clean(tmp_path: Path) -> None:
    """`make lint` leaves notebooks to their user, so lint the course's as committed."""
    for relative in COURSE.notebooks():
        (tmp_path / Path(relative).name).write_text(COURSE.text(relative) or "", encoding="utf-8")
    ruff = Path(sys.executable).with_name("ruff")
    linted = subprocess.run([str(ruff), "check", "--no-cache", "--config",
                             str(ROOT / "pyproject.toml"), *map(str, tmp_path.glob("*.ipynb"))],
                            capture_output=True, text=True, check=False)
    assert linted.returncode == 0, linted.stdout + linted.stderr
