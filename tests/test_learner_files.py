"""Nothing a learner writes is lost: catchup, reset, restore and the maintainers' stub rebuild
save a changed exercise first, say where, and refuse (changing nothing) when something is in
the way."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from cqrs_kata.course.structure import get_step
from cqrs_kata.course.stubs import reference_for, stub_for
from cqrs_kata.dev import build_stubs
from cqrs_kata.learner import cli

MINE = "# my own attempt\n"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def saved(course: Path) -> list[Path]:
    folder = course / "exercises" / ".saved"
    return sorted(folder.iterdir()) if folder.is_dir() else []


def solution(course: Path, step: str) -> str:
    return (course / "solutions" / f"step{step}.py").read_text()


def test_catchup_fills_failing_steps_and_keeps_passing_ones(
        course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (course / "exercises" / "step00.py").write_text(solution(course, "00") + MINE)  # passes
    (course / "exercises" / "step02.py").write_text(MINE)  # fails: save, then replace
    code, out, _ = run(capsys, "catchup", "04")
    assert code == 0
    assert "exercises/step00.py: your version passes every check; kept" in out
    assert re.search(r"exercises/step02.py: replaced; your version is saved as "
                     r"exercises/.saved/step02\.before-catchup-04\.\d{4}-\d\d-\d\dT\d\d-\d\d-\d\d"
                     r"\.py", out)
    assert "exercises/step03.py: replaced the untouched stub" in out
    assert [p.read_text() for p in saved(course)] == [MINE]
    caught_up = (course / "exercises" / "step02.py").read_text()
    assert caught_up == reference_for(get_step("02"))
    assert "# BEGIN SOLUTION" not in caught_up and "# END SOLUTION" not in caught_up
    assert run(capsys, "check", "02")[0] == 0
    _, again, _ = run(capsys, "catchup", "04")
    assert "already as wanted" not in again and again.count("; kept") == 4
    assert again.count("the reference's code passes; kept") == 3  # catchup's, not the learner's
    assert "exercises/step00.py: your version passes every check; kept" in again
    assert len(saved(course)) == 1


def test_reset_after_catchup_does_not_call_the_reference_yours(
        course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run(capsys, "catchup", "03")
    _, out, _ = run(capsys, "reset", "02")
    assert ("exercises/step02.py: replaced the reference solution that was in it (it stays in "
            "solutions/step02.py)") in out
    assert "your version" not in out and saved(course) == []
    assert (course / "exercises" / "step02.py").read_text() == stub_for(get_step("02"))


def test_list_says_which_passes_are_the_references_code(
        course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # `list` used to count a step caught up with the reference as the learner's own pass.
    run(capsys, "catchup", "02")
    (course / "exercises" / "step02.py").write_text(
        "from solutions.step02 import *  # noqa: F403\n")
    _, out, _ = run(capsys, "list")
    for step in ("00", "01", "02"):
        assert re.search(rf"^step {step} .*· caught up: exercises/ holds the reference's code$",
                         out, flags=re.M), out
    assert not re.search(r"^step 03 .*caught up", out, flags=re.M)
    assert re.search(r"tasks pass, 9 of them with the reference's code \(catchup\)\.", out), out


def test_restore_saves_even_the_reference_it_replaces(
        course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exercise = course / "exercises" / "step02.py"
    exercise.write_text(MINE)
    run(capsys, "catchup", "03")  # saves MINE, puts the reference in
    code, out, _ = run(capsys, "restore", "1")
    assert code == 0 and exercise.read_text() == MINE
    assert "replaced; your version is saved as" in out, out
    assert sorted(p.read_text() for p in saved(course)) == sorted(
        [MINE, reference_for(get_step("02"))])


def test_saved_lists_and_restore_brings_back_saving_the_current_first(
        course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exercise = course / "exercises" / "step02.py"
    assert "No saved versions yet" in run(capsys, "saved")[1]
    exercise.write_text(MINE)
    run(capsys, "reset", "02")
    exercise.write_text("# second attempt\n")
    run(capsys, "reset", "02")
    _, listing, _ = run(capsys, "saved")
    assert re.search(r"^ +1  step 02  before reset .*step02\.before-reset\..*\.py$", listing,
                     flags=re.M)
    assert re.search(r"^ +2  step 02  before reset ", listing, flags=re.M)
    exercise.write_text("# third, unsaved yet\n")
    code, out, _ = run(capsys, "restore", "1")
    assert code == 0 and "restored from exercises/.saved/step02.before-reset." in out
    assert exercise.read_text() == MINE
    contents = sorted(p.read_text() for p in saved(course))
    assert contents == sorted([MINE, "# second attempt\n", "# third, unsaved yet\n"])
    code, _, err = run(capsys, "restore", "99")
    assert code == 2 and "there is no saved version '99'; `cqrs-kata saved` lists them." in err


def test_saved_says_what_each_version_holds(course: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    exercise = course / "exercises" / "step02.py"
    exercise.write_text(exercise.read_text() + "# one line\n# and another\n")
    run(capsys, "reset", "02")
    run(capsys, "catchup", "03")  # the reference into step 02
    run(capsys, "restore", "1")  # saves the reference first
    _, listing, _ = run(capsys, "saved")
    assert re.search(r"^ +1  step 02  before reset .* yours, 2 lines changed +exercises/",
                     listing, flags=re.M), listing
    assert re.search(r"^ +2  step 02  before restore .* the reference +exercises/", listing,
                     flags=re.M), listing


def test_a_folder_where_the_exercise_should_be(course: Path,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    exercise = course / "exercises" / "step02.py"
    exercise.unlink()
    exercise.mkdir()
    (exercise / "notes.txt").write_text("mine")
    code, out, _ = run(capsys, "check", "02")
    assert code == 1
    assert "exercises/step02.py is a folder, not a file; move it out of the way" in out
    code, _, err = run(capsys, "reset", "02")
    assert code == 2 and "exercises/step02.py is a folder, not a file" in err
    assert "Nothing was changed." in err and (exercise / "notes.txt").read_text() == "mine"


def test_a_file_named_saved_in_the_way(course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (course / "exercises" / ".saved").write_text("not a folder")
    (course / "exercises" / "step02.py").write_text(MINE)
    code, _, err = run(capsys, "reset", "02")
    assert code == 2
    assert "exercises/.saved is a file, but the kata keeps saved versions" in err
    assert (course / "exercises" / "step02.py").read_text() == MINE
    assert run(capsys, "saved")[0] == 2


def test_a_read_only_exercise_is_left_alone(course: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    exercise = course / "exercises" / "step02.py"
    exercise.write_text(MINE)
    exercise.chmod(stat.S_IRUSR)
    try:
        code, _, err = run(capsys, "reset", "02")
    finally:
        exercise.chmod(stat.S_IRUSR | stat.S_IWUSR)
    assert code == 2 and "exercises/step02.py is read-only; make it writable" in err
    assert exercise.read_text() == MINE and saved(course) == []


def test_a_file_that_is_not_utf8_is_saved_byte_for_byte(
        course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    exercise = course / "exercises" / "step02.py"
    latin1 = "# résumé\n".encode("latin-1")
    exercise.write_bytes(latin1)
    code, out, _ = run(capsys, "check", "02")
    assert code == 1 and "exercises/step02.py" in out and "Traceback" not in out
    code, out, _ = run(capsys, "reset", "02")
    assert code == 0 and "your version is saved as" in out
    assert [p.read_bytes() for p in saved(course)] == [latin1]


def test_a_file_named_cqrs_kata_in_the_way_of_hints(
        course: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path,
        monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "state-file"
    blocker.write_text("")
    monkeypatch.setenv("CQRS_KATA_STATE", str(blocker))
    code, _, err = run(capsys, "hint", "02", "1")
    assert code == 2 and "a file named .cqrs-kata is in the way" in err


def test_piping_into_head_prints_no_traceback(course: Path) -> None:
    command = f"'{Path(sys.executable).with_name('cqrs-kata')}' guide | head -1"
    done = subprocess.run(["bash", "-o", "pipefail", "-c", command], capture_output=True,
                          text=True, timeout=60, env=dict(os.environ), check=False)
    assert done.stdout.startswith("step 00")
    assert "Traceback" not in done.stderr and "BrokenPipe" not in done.stderr


# The maintainers' stub rebuild -----------------------------------------------------------------


def test_stub_rebuild_is_not_a_learner_command() -> None:
    assert "build-stubs" not in cli._parser().format_help()
    with pytest.raises(SystemExit):
        cli._parser().parse_args(["build-stubs"])


def test_stub_rebuild_saves_a_changed_exercise_first(
        course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert build_stubs.main(["--check"]) == 0
    exercise = course / "exercises" / "step02.py"
    exercise.write_text(MINE)
    assert build_stubs.main(["--check"]) == 1
    assert "exercises/step02.py differs" in capsys.readouterr().out
    assert exercise.read_text() == MINE, "--check changes nothing"
    assert build_stubs.main([]) == 0
    out = capsys.readouterr().out
    assert re.search(r"exercises/step02.py: replaced; your version is saved as "
                     r"exercises/.saved/step02\.before-build-stubs\.", out)
    assert [p.read_text() for p in saved(course)] == [MINE]
    assert exercise.read_text() == stub_for(get_step("02"))


def test_files_the_kata_writes_keep_the_usual_mode(
        course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Written through a temporary file, they came out readable by their owner only (0600).
    exercise = course / "exercises" / "step02.py"
    exercise.write_text(MINE)
    exercise.chmod(0o644)
    old = os.umask(0o022)
    try:
        run(capsys, "catchup", "03")
    finally:
        os.umask(old)
    assert stat.S_IMODE(exercise.stat().st_mode) == 0o644
    assert [stat.S_IMODE(p.stat().st_mode) for p in saved(course)] == [0o644]
