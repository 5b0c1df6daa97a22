"""The learner's tools, driven the way a learner drives them: right, wrong and broken."""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import pytest

from cqrs_kata.course.structure import all_steps
from cqrs_kata.learner import cli

SOLUTION_02 = Path(__file__).resolve().parent.parent / "solutions" / "step02.py"


def run(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = cli.main(list(args))
    out, err = capsys.readouterr()
    return code, out, err


def edit(course: Path, step: str, old: str, new: str) -> None:
    """Write the reference into exercises/ with one deliberate change, as a learner's attempt."""
    source = (course / "solutions" / f"step{step}.py").read_text()
    assert old in source, f"the reference no longer contains {old!r}; update this test"
    (course / "exercises" / f"step{step}.py").write_text(source.replace(old, new, 1))


def test_pristine_exercise_fails_and_points_to_the_first_task(
        course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "check", "02")
    assert code == 1
    assert "0 of 5 tasks pass. Next: task 1" in out
    assert "MemoryWrite.all is not written yet: step 02, task 1" in out


def test_reference_in_exercises_passes(course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (course / "exercises" / "step02.py").write_text(SOLUTION_02.read_text())
    code, out, _ = run(capsys, "check", "02")
    assert code == 0
    assert "5 of 5 tasks pass. Step 02 is done; `cqrs-kata solution 02` shows the reference" in out


def test_wrong_answer_says_called_got_expected(
        course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(course, "02", "return dict(self.counts.get(tenant, {}))",
         "return self.counts.setdefault(tenant, {})")
    code, out, _ = run(capsys, "check", "02")
    assert code == 1
    assert "✗ task 2" in out and "✓ task 1" in out
    assert re.search(r"called +summary\(\"nobody\"\), then looked at counts", out)
    assert "got      counts = {'nobody': {}, 't1': {'ok': 1}}" in out
    assert "use .get, not setdefault" in out


def test_rebuild_without_reset_is_caught(course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(course, "02", "        self.read.reset()\n", "")
    _, out, _ = run(capsys, "check", "02")
    assert "✗ task 5" in out
    assert "called   summary(\"t1\") after corrupting the view and rebuilding" in out


def test_inc_before_validation_is_caught(course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(course, "02",
         '        run = Run(validate_name("tenant", tenant), validate_name("status", status))\n'
         "        self.write.add(run)\n"
         "        self.read.inc(run.tenant, run.status)",
         "        self.read.inc(tenant, status)\n"
         '        run = Run(validate_name("tenant", tenant), validate_name("status", status))\n'
         "        self.write.add(run)")
    _, out, _ = run(capsys, "check", "02")
    assert "✗ task 4" in out
    assert "called   read.counts after record('', 'ok')" in out


def test_crash_in_learner_code_names_the_line(
        course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(course, "02", "        per_status[status] = per_status.get(status, 0) + 1",
         "        per_status[status] += 1")
    _, out, _ = run(capsys, "check", "02")
    where = r"\(exercises/step02.py, line \d+, in inc\)"
    assert re.search(r"your code raised KeyError: 'ok' " + where, out)


def test_syntax_error_is_one_sentence(course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (course / "exercises" / "step02.py").write_text("def broken(:\n    pass\n")
    code, out, _ = run(capsys, "check", "02")
    assert code == 1
    assert "exercises/step02.py, line 1: invalid syntax" in out
    assert "Traceback" not in out


def test_missing_exercise_says_how_to_get_it_back(
        course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (course / "exercises" / "step02.py").unlink()
    code, out, _ = run(capsys, "check", "02")
    assert code == 1
    assert "exercises/step02.py is missing; `cqrs-kata reset`" in out
    code, out, _ = run(capsys, "reset", "02")
    assert code == 0 and (course / "exercises" / "step02.py").is_file()


def test_unknown_step_is_one_sentence(course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "check", "42")
    assert code == 2 and out == ""
    known = ", ".join(s.number for s in all_steps())  # grows as steps are added
    assert err == f"cqrs-kata: there is no step '42'; the steps are {known}. " \
                  "`cqrs-kata list` shows them all.\n"
    code, _, err = run(capsys, "hint", "02", "9")
    assert code == 2 and "step 02 has no task 9; its tasks are 1, 2, 3, 4, 5." in err


def test_hints_come_one_level_at_a_time(course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    outputs = [run(capsys, "hint", "02", "5")[1] for _ in range(4)]
    assert "hint 1 of 3" in outputs[0] and "hint 2 of 3" not in outputs[0]
    assert "hint 2 of 3" in outputs[1] and "hint 3 of 3" not in outputs[1]
    assert "hint 3 of 3" in outputs[2] and "That was the last hint" in outputs[2]
    assert outputs[3] == outputs[2]


def test_hint_without_task_picks_the_first_unfinished(
        course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    stub = (course / "exercises" / "step02.py").read_text()
    source = SOLUTION_02.read_text()
    # tasks 1 and 2 solved, the rest still stubs: splice the first part of each.
    cut = "def validate_name"
    (course / "exercises" / "step02.py").write_text(
        source[: source.index(cut)] + stub[stub.index(cut):])
    _, out, _ = run(capsys, "hint", "02")
    assert out.startswith("Step 02, task 3: Only sensible names get in")


def test_list_shows_each_state(course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    edit(course, "02", "return dict(self.counts.get(tenant, {}))", "return self.counts[tenant]")
    solved = (course / "solutions" / "step00.py").read_text()
    (course / "exercises" / "step00.py").write_text(solved)
    _, out, _ = run(capsys, "list")
    assert "✓ task 1  Count statuses with tally()" in out
    assert re.search(r"✓ task 1  The write store keeps history +passing", out)
    assert re.search(r"✗ task 2  The view counts per tenant and status +failing", out)
    total = sum(len(s.tasks) for s in all_steps())  # grows as steps are added
    assert f"4 of {total} tasks pass, 1 of them with the reference's code (catchup)." in out


def test_every_command_has_help() -> None:
    parser = cli._parser()
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    helps = {a.dest: a.help for a in subparsers._choices_actions}
    assert set(helps) == set(subparsers.choices)
    assert all(helps.values()), helps


def test_project_runs_the_learners_projector_unless_told_and_says_whose(
        course: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # It used to run the reference by default, so a learner's kill tests proved nothing.
    from cqrs_kata.db import open_database
    from solutions.step05 import DurableLog

    where = str(tmp_path / "runs.db")
    with open_database(where) as db:
        DurableLog(db).record_many([("acme", "ok")] * 3)
    code, out, err = run(capsys, "project", where, "--until-caught-up")
    assert code == 2, out + err
    assert "your projector (exercises/step05.py), view 'dashboard'" in err
    assert "DurableProjector.project_batch is not written yet: step 05, task 2" in err
    assert "`--impl solutions` runs the reference instead" in err
    code, _, err = run(capsys, "project", str(tmp_path / "typo.db"), "--impl", "solutions")
    assert code == 2 and "there is no database at" in err and not (tmp_path / "typo.db").exists()
    code, _, err = run(capsys, "project", where, "--impl", "sollutions")
    assert code == 2 and "--impl takes exercises (yours), solutions, naive or" in err
    code, out, err = run(capsys, "project", where, "--until-caught-up", "--impl", "solutions")
    assert (code, out.strip()) == (0, "projected 3 events into view 'dashboard'"), err
    assert "the reference projector (solutions/step05.py)" in err


def test_solution_waits_for_a_pass_then_shows_the_reference_beside_yours(
        course: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "solution", "02")
    assert code == 1
    assert out.startswith("Step 02 does not pass yet (0 of 5 tasks): the reference is shown "
                          "once it does. `cqrs-kata hint 02` helps with task 1")
    assert "def " not in out  # nothing of the reference before a pass
    edit(course, "02", "self.data.append(r)", "self.data += [r]")  # passes, written differently
    exercise = course / "exercises" / "step02.py"
    exercise.write_text("# Step 02 exercise: the stub's header\n" + exercise.read_text())
    code, out, _ = run(capsys, "solution", "02")
    assert "Step 02 exercise" not in out  # the stub's header is no difference worth showing
    assert code == 0 and out.startswith("Step 02 passes. The reference beside your code")
    assert "-        self.data += [r]" in out and "+        self.data.append(r)" in out
    assert "# BEGIN SOLUTION" not in out


def test_watch_checks_again_on_every_save_and_leaves_on_ctrl_c(
        course: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    import time

    exercise = course / "exercises" / "step02.py"
    looks = 0

    def sleep(_: float) -> None:  # between two looks at the file: the learner saves, or leaves
        nonlocal looks
        looks += 1
        if looks == 2:
            exercise.write_text(SOLUTION_02.read_text())
        elif looks == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(time, "sleep", sleep)
    assert cli.main(["watch", "02"]) == 0
    out = capsys.readouterr().out
    banner = "watching exercises/step02.py: every save checks it again (Ctrl-C leaves)"
    assert out.count(banner) == 2
    first, second = out.split("watching exercises/step02.py")[1:]
    assert "0 of 5 tasks pass" in first and "task 1" in first
    assert "5 of 5 tasks pass. Step 02 is done" in second, second
    assert out.rstrip().endswith("stopped watching; nothing was changed.")
    assert exercise.read_text() == SOLUTION_02.read_text()
