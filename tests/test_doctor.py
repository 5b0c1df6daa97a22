"""`cqrs-kata doctor`: each check's problem found and explained (by patching what it looks at),
and a real run on this machine."""

from __future__ import annotations

import importlib.metadata
import io
import os
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import pytest

from cqrs_kata.course.paths import ROOT_ENV, STATE_ENV, CourseNotFound
from cqrs_kata.learner import doctor

ROOT = Path(__file__).resolve().parent.parent
Usage = namedtuple("Usage", "total used free")


def test_python_too_old_is_a_problem_and_too_new_a_warning() -> None:
    old = doctor.check_python((3, 9, 18), "/usr/bin/python3.9")
    assert old.level == "problem"
    assert "3.9.18 (/usr/bin/python3.9) is too old" in old.detail and "3.10" in old.fix
    assert doctor.check_python((3, 14, 0), "py").level == "warning"
    assert doctor.check_python((3, 10, 0), "py").level == "ok"
    assert doctor.check_python((3, 13, 1), "py").level == "ok"


def test_venv_says_which_python_it_is(tmp_path: Path) -> None:
    bare = doctor.check_venv("/usr", "/usr", "/usr/bin/python3", tmp_path)
    assert bare.level == "warning" and "/usr/bin/python3" in bare.detail
    other = doctor.check_venv(str(tmp_path / "elsewhere"), "/usr", "python", tmp_path)
    assert other.level == "warning" and "not the course's .venv" in other.detail
    (tmp_path / ".venv").mkdir()
    own = doctor.check_venv(str(tmp_path / ".venv"), "/usr", "python", tmp_path)
    assert own.level == "ok"


def test_missing_jupyterlab_is_a_problem(monkeypatch: pytest.MonkeyPatch) -> None:
    def missing(name: str) -> str:
        raise importlib.metadata.PackageNotFoundError(name)

    monkeypatch.setattr(importlib.metadata, "version", missing)
    found = doctor.check_jupyterlab()
    assert found.level == "problem" and "make lab" in found.fix


def test_missing_widgets_labextension_is_a_problem(tmp_path: Path) -> None:
    found = doctor.check_widgets([str(tmp_path)])
    assert found.level == "problem"
    assert "jupyterlab-manager" in found.detail and "jupyterlab_widgets" in found.fix
    package = tmp_path / doctor.WIDGETS_EXTENSION / "package.json"
    package.parent.mkdir(parents=True)
    package.write_text('{"version": "5.0.16"}')
    assert doctor.check_widgets([str(tmp_path)]).detail.startswith(
        "@jupyter-widgets/jupyterlab-manager 5.0.16")


def test_a_kernel_that_cannot_import_the_course_is_a_problem() -> None:
    found = doctor.check_kernel("import cqrs_kata_no_such_module", timeout=60, cwd=ROOT)
    assert found.level == "problem"
    assert "ModuleNotFoundError" in found.detail and "kernelspec" in found.fix


def test_a_kernel_that_does_not_start_is_a_problem() -> None:
    found = doctor.check_kernel(kernel_name="no-such-kernel", timeout=10, cwd=ROOT)
    assert found.level == "problem" and "did not start" in found.detail


def test_no_postgresql_is_only_a_warning(monkeypatch: pytest.MonkeyPatch,
                                         tmp_path: Path) -> None:
    monkeypatch.setenv("CQRS_KATA_PG_DSN", f"host={tmp_path} dbname=nowhere")
    found = doctor.check_postgres()
    assert found.level == "warning"
    assert "CQRS_KATA_PG_DSN" in found.detail and "steps 05 to 07" in found.fix


@pytest.mark.parametrize(("free", "level"), [(100 * 2**20, "problem"), (2**29, "warning"),
                                             (10 * 2**30, "ok")])
def test_disk_space(tmp_path: Path, free: int, level: str) -> None:
    found = doctor.check_disk([tmp_path], usage=lambda _: Usage(free * 2, free, free))
    assert found.level == level and str(tmp_path) in found.detail


def test_course_folders_and_writable_exercises(course: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    # The fixture's course has no notebooks/: a copy missing a folder.
    found = doctor.check_course(course)
    assert found.level == "problem" and "lacks notebooks/" in found.detail
    (course / "notebooks").mkdir()
    assert doctor.check_course(course).level == "ok"

    def refused(folder: Path) -> None:
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(doctor, "_try_write", refused)
    found = doctor.check_course(course)
    assert found.level == "problem" and "Permission denied" in found.detail
    assert "chmod" in found.fix


def test_no_course_at_all_is_a_problem(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ROOT_ENV, str(tmp_path))
    found = doctor.check_course()
    assert found.level == "problem" and "run `cqrs-kata doctor` from inside" in found.fix


def test_a_check_that_breaks_is_a_problem_and_the_rest_still_run() -> None:
    def check_broken() -> doctor.Finding:
        raise ValueError("boom")

    out = io.StringIO()
    findings = doctor.run_checks([check_broken, lambda: doctor.check_python((3, 12, 0), "py")],
                                 out)
    assert [f.level for f in findings] == ["problem", "ok"]
    assert "the check failed: ValueError: boom" in out.getvalue()
    assert doctor.verdict(findings).startswith("1 problem: fix it")


def test_doctor_on_this_machine() -> None:
    environment = {k: v for k, v in os.environ.items() if k not in (ROOT_ENV, STATE_ENV)}
    done = subprocess.run([sys.executable, "-m", "cqrs_kata.learner.cli", "doctor"], cwd=ROOT,
                          env=environment, capture_output=True, text=True, timeout=300,
                          check=False)
    lines = done.stdout.splitlines()
    levels = {line.split()[1]: line.split()[0] for line in lines[1:-1]
              if line.split() and line.split()[0] in ("ok", "warning", "problem")}
    assert done.returncode == 0, done.stdout + done.stderr
    assert set(levels) == {"python", "venv", "course", "disk", "jupyterlab", "widgets",
                           "kernel", "postgresql"}, done.stdout
    assert "problem" not in levels.values(), done.stdout
    assert levels["kernel"] == "ok" and lines[-1].startswith("Ready"), done.stdout
    if os.environ.get("CI") == "true":  # the wheel brings PostgreSQL: a warning hides a fault
        assert levels["postgresql"] == "ok", done.stdout


def test_a_course_missing_exercises_is_named_and_the_fix_keeps_the_rest(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Without exercises/ the kata cannot find its course, but doctor still knows the folder
    (its pyproject.toml names cqrs-kata): it names what is missing, calls the venv the
    course's own, and its fix brings back only that folder (never `git restore .`, which
    would undo the learner's work elsewhere)."""
    course = tmp_path / "course"
    for name in ("notebooks", "solutions", ".venv"):
        (course / name).mkdir(parents=True)
    (course / "pyproject.toml").write_text('[project]\nname = "cqrs-kata"\n', encoding="utf-8")
    monkeypatch.delenv(ROOT_ENV, raising=False)
    monkeypatch.chdir(course)

    def lost() -> Path:  # as course_root() is when this course is the one installed
        raise CourseNotFound("cannot find the kata's folders (exercises/ and solutions/)")

    monkeypatch.setattr(doctor, "course_root", lost)
    found = doctor.check_course()
    assert found.level == "problem" and "lacks exercises/" in found.detail, found
    assert "git restore exercises" in found.fix and "restore ." not in found.fix
    venv = doctor.check_venv(prefix=str(course / ".venv"), base_prefix="/usr",
                             executable=str(course / ".venv/bin/python"))
    assert venv.level == "ok", venv
