"""The course's files are what git's index holds; outside git, what the folder holds."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from cqrs_kata.course.tracked import course_files
from cqrs_kata.dev.lint import command


def _git(root: Path, *args: str) -> None:
    subprocess.run(["git", *args], cwd=root, check=True, capture_output=True)


def _write(root: Path, *files: str) -> None:
    for relative in files:
        (root / relative).parent.mkdir(parents=True, exist_ok=True)
        (root / relative).write_text(f"# {relative}\n", encoding="utf-8")


def test_the_index_is_the_course(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    _write(tmp_path, "notebooks/01-a.ipynb", "notebooks/02-b.ipynb", "pkg/a.py", "tests/test_a.py")
    _git(tmp_path, "add", "-A")
    (tmp_path / "notebooks/01-a.ipynb").write_text("a learner's outputs", encoding="utf-8")
    (tmp_path / "notebooks/02-b.ipynb").rename(tmp_path / "notebooks/b.ipynb")
    _write(tmp_path, "notebooks/01-a-Copy1.ipynb", "Untitled.ipynb", "pkg/scratch.py",
           "tests/test_scratch.py")

    course = course_files(tmp_path)
    assert course.notebooks() == ["notebooks/01-a.ipynb", "notebooks/02-b.ipynb"]
    assert course.text("notebooks/01-a.ipynb") == "# notebooks/01-a.ipynb\n"
    assert course.text("notebooks/02-b.ipynb") == "# notebooks/02-b.ipynb\n"
    assert course.text("pkg/scratch.py") is None
    assert course.python_files() == ["pkg/a.py", "tests/test_a.py"]
    assert course.includes(tmp_path / "tests/test_a.py")
    assert not course.includes(tmp_path / "tests/test_scratch.py")


def test_outside_git_the_folder_is_the_course(tmp_path: Path) -> None:
    _write(tmp_path, "notebooks/01-a.ipynb", "notebooks/01-a-Copy1.ipynb",
           "notebooks/01-a-copy2.ipynb", "notebooks/Untitled.ipynb", "scratch.py")
    course = course_files(tmp_path)
    assert course.tracked is None
    assert course.notebooks() == ["notebooks/01-a.ipynb"]
    assert course.python_files() is None
    assert course.includes(tmp_path / "scratch.py")
    assert command("ruff", tmp_path) == [sys.executable, "-m", "ruff", "check", "."]
    assert command("mypy", tmp_path) == [sys.executable, "-m", "mypy"]


def test_a_folder_inside_another_checkout_is_not_one(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    _write(tmp_path, "course/notebooks/01-a.ipynb")
    assert course_files(tmp_path / "course").tracked is None


def test_lint_runs_on_the_tracked_files_mypy_on_those_its_config_lists(tmp_path: Path) -> None:
    _git(tmp_path, "init", "-q")
    (tmp_path / "pyproject.toml").write_text('[tool.mypy]\nfiles = ["pkg", "conftest.py"]\n')
    _write(tmp_path, "pkg/a.py", "conftest.py", "other/b.py", "deleted.py")
    _git(tmp_path, "add", "-A")
    _write(tmp_path, "pkg/scratch.py", "scratch.py")
    (tmp_path / "deleted.py").unlink()
    ruff, mypy = [sys.executable, "-m", "ruff"], [sys.executable, "-m", "mypy"]
    assert command("ruff", tmp_path) == [*ruff, "check", "--force-exclude", "conftest.py",
                                         "other/b.py", "pkg/a.py"]
    assert command("mypy", tmp_path) == [*mypy, "conftest.py", "pkg/a.py"]
