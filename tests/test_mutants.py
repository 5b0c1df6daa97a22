"""Wrong solutions a learner plausibly writes (mutants), run through the real check machinery.

``tests/mutants/stepNN/`` holds complete exercise files for steps 02, 03 and 04. Each ``mNN_*.py``
breaks one rule its step's docstrings or notebook state, and says so in its first two lines
(``# MUTANT:`` what is wrong, in the learner's words; ``# RULE:`` the sentence it breaks).
``correct.py`` is a solution written independently of ``solutions/``. They were written from
what a learner sees (stubs, notebooks, hints), without reading the checks.

Every file is copied to ``tmp/stepNN.py`` and checked by ``run_step``, in a child process, as
``cqrs-kata check`` does. A mutant must fail with a real verdict (``wrong``, ``error`` or
``timeout``; never ``todo`` or a load error), and the task whose code it breaks must be among
the failing ones. ``correct.py`` must pass every task.

Mutants the checks do not catch yet stay here, listed in ``NOT_CAUGHT_YET`` as strict xfails:
when a check improves and catches one, its test XPASSes and fails, so remove the entry then.
Run with ``-rA`` to see, for each mutant, which task caught it and the first failing message.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from cqrs_kata.course import get_step
from cqrs_kata.runner import CheckResult, StepResult, run_step

MUTANTS = Path(__file__).resolve().parent / "mutants"
STEPS = ("02", "03", "04")
REAL_VERDICTS = frozenset({"wrong", "error", "timeout"})
MIN_MUTANTS_PER_STEP = 30

TARGET_TASK: dict[str, dict[str, int]] = {
    # The task whose code a mutant breaks, from the first word(s) of its name.
    "02": {"add": 1, "all": 1, "inc": 2, "summary": 2, "reset": 2, "validate": 3, "record": 4,
           "rebuild": 5},
    "03": {"record": 1, "drain": 2, "lag": 3, "wait_for": 4, "rebuild": 5},
    "04": {"apply": 1, "deliver": 2, "rebuild": 3},
}

NOT_CAUGHT_YET: dict[str, str] = {
    # Each one breaks a sentence of the docstrings (see the file's # RULE line); none is caught.
    "step02/m17_validate_measures_length_after_stripping":
        "'x' * 100 + ' ' (101 characters) is accepted; no check sends a long name with "
        "surrounding white space",
    "step02/m23_validate_message_does_not_show_the_value":
        "the docstring wants the message to show what was given; only `what` is looked for",
    "step02/m24_validate_returns_the_stripped_name":
        "validate_name(' acme ') returns 'acme', not the value; no check passes a padded name",
    "step03/m06_record_without_the_lock":
        "record() never takes self._changed; no check holds the lock and sees record() go on "
        "regardless",
    "step03/m18_drain_without_the_lock":
        "drain() pops and counts without the lock; no check holds the lock and sees drain() "
        "go on regardless",
    "step03/m24_wait_for_waits_once_without_a_predicate_loop":
        "one Condition.wait() then a check: any notify_all before the position is reached "
        "(a partial drain) makes it raise NotCaughtUp early; the wake-up check drains "
        "everything at once",
    "step03/m34_rebuild_never_notifies":
        "a reader in wait_for() is not woken by a rebuild and returns only at its timeout; "
        "no check waits while another thread rebuilds",
    "step04/m11_deliver_compares_every_event_with_the_checkpoint_from_the_start":
        "deliver([1, 2, 1, 2]) to an empty view returns 4 (the view is right); no check "
        "repeats an event inside one batch",
    "step04/m12_deliver_counts_repeats_inside_one_batch":
        "deliver([1, 2, 1, 2]) counts runs 1 and 2 twice each; neither the checks nor the "
        "fault harness repeat an event inside one batch",
    "step04/m16_deliver_accepts_true_as_position_one":
        "Event(True, ...) is applied as position 1; the hint says `type(e.position) is int`, "
        "the docstring only 'an int >= 1' (bool is an int subclass)",
    "step04/m18_deliver_accepts_any_iterable":
        "a generator or a set of Events is accepted; the docstring says a list or tuple, "
        "else TypeError",
    "step04/m21_deliver_duck_types_the_events":
        "any object with position/tenant/status is applied; the docstring says 'of Event', "
        "else TypeError",
    "step04/m30_rebuild_progress_reports_the_end_twice":
        "with every=2 and 4 runs it reports (2, 4), (4, 4), (4, 4); the progress check uses "
        "5 runs, where the end is not a multiple of every",
    "step04/m34_rebuild_copies_into_the_live_view":
        "two assignments into the old View instead of one to store.current: a reader holding "
        "the old View sees it change, and a thread could see new counts with the old "
        "checkpoint; no check compares store.current's identity",
}

CAUGHT_BY_ANOTHER_TASK: dict[str, str] = {
    # Caught, but only by a later task's checks: the task that builds the broken code passes.
    "step02/m02_add_inserts_at_the_front":
        "task 1's order check adds t1/ok, t2/fail, t1/ok, a palindrome, so a reversed log "
        "looks right; task 4 catches it",
    "step02/m03_all_returns_newest_first":
        "the same palindrome in task 1; task 4 catches it",
    "step03/m16_drain_never_notifies":
        "task 2's checks never wait on the condition; task 4's wake-up check catches it (and "
        "its message names drain())",
    "step04/m14_deliver_holds_on_to_the_view_it_first_saw":
        "only task 3's fault harness (rebuild, then deliver) catches it; task 2's checks never "
        "rebuild",
}

MESSAGE_MISSES_THE_MISTAKE: dict[str, str] = {
    # Caught, but the first failing message does not point at the mistake (read by hand; the
    # test prints every first message with -rA). Not asserted: it is a judgement.
    "step02/m18_validate_has_no_length_limit":
        "shows the 101-character name elided as 'xxx...xxx' and a generic `why`; neither its "
        "length nor MAX_NAME_LENGTH is mentioned",
    "step03/m15_drain_sets_applied_to_written":
        "got/expected differ only in `applied` (5 vs 2), but the `why` is about the queue "
        "order ('events leave the front of the queue, oldest first')",
    "step03/m21_lag_counts_every_written_run":
        "got events=3, expected 2, but the `why` talks about the oldest age, not the count",
    "step03/m23_lag_takes_the_oldest_off_the_queue":
        "the first message shows wrong numbers after drain(1); only the later lag_only_looks "
        "check says 'asking must not apply them'",
    "step04/m02_apply_skips_below_but_not_at_the_checkpoint":
        "an error outcome: shows the learner's own ValueError ('positions 4..2 are missing') "
        "but not what was called (a duplicate at the checkpoint) or what was expected (False)",
    "step04/m14_deliver_holds_on_to_the_view_it_first_saw":
        "task 3's harness says the checkpoint is 1 after catching up; nothing points at "
        "deliver() writing to a view that is no longer store.current",
}


class NotCaught(AssertionError):
    """Every check of the step passed against a mutant."""


def _mutant_files() -> list[tuple[str, Path]]:
    return [(step, path) for step in STEPS
            for path in sorted((MUTANTS / f"step{step}").glob("m[0-9][0-9]_*.py"))]


def _key(step: str, path: Path) -> str:
    return f"step{step}/{path.stem}"


def _target_task(step: str, path: Path) -> int:
    words = path.stem.split("_", 1)[1]
    hits = [task for prefix, task in TARGET_TASK[step].items() if words.startswith(prefix + "_")]
    assert len(hits) == 1, f"{path.name}: no single task for its name in TARGET_TASK[{step!r}]"
    return hits[0]


def _param(step: str, path: Path) -> object:
    key = _key(step, path)
    marks = []
    if key in NOT_CAUGHT_YET:
        marks.append(pytest.mark.xfail(raises=NotCaught, strict=True,
                                       reason=f"not caught yet: {NOT_CAUGHT_YET[key]}"))
    return pytest.param(step, path, id=key, marks=marks)


def _check(step: str, source: Path, tmp_path: Path) -> StepResult:
    folder = tmp_path / "tmp"
    folder.mkdir()
    shutil.copyfile(source, folder / f"step{step}.py")
    return run_step(get_step(step), folder)


def _problems(result: StepResult) -> list[tuple[int, CheckResult]]:
    return [(task.task.number, check) for task in result.tasks for check in task.results
            if check.outcome != "pass"]


def _describe(result: StepResult) -> str:
    if result.load_error is not None:
        return f"load error: {result.load_error}"
    problems = _problems(result)
    if not problems:
        return "every check passes"
    lines = [f"task {task} {check.check.name}: {check.outcome}" for task, check in problems]
    task, first = problems[0]
    lines.append(f"first failing message (task {task}, {first.check.name}):")
    lines.extend("    " + line for line in first.message.splitlines())
    return "\n".join(lines)


def test_every_step_has_enough_mutants_and_a_correct_solution() -> None:
    for step in STEPS:
        count = sum(1 for s, _ in _mutant_files() if s == step)
        assert count >= MIN_MUTANTS_PER_STEP, f"step {step} has only {count} mutants"
        assert (MUTANTS / f"step{step}" / "correct.py").is_file()


def test_every_table_entry_names_a_mutant_file() -> None:
    keys = {_key(step, path) for step, path in _mutant_files()}
    for table in (NOT_CAUGHT_YET, CAUGHT_BY_ANOTHER_TASK, MESSAGE_MISSES_THE_MISTAKE):
        assert set(table) <= keys, f"stale entries: {sorted(set(table) - keys)}"
    assert not set(NOT_CAUGHT_YET) & set(CAUGHT_BY_ANOTHER_TASK)


@pytest.mark.parametrize(("step", "path"), [_param(s, p) for s, p in _mutant_files()])
def test_mutant_is_caught(step: str, path: Path, tmp_path: Path) -> None:
    header = path.read_text().splitlines()[:2]
    assert header[0].startswith("# MUTANT: ") and header[1].startswith("# RULE: "), path.name
    target = _target_task(step, path)

    result = _check(step, path, tmp_path)
    print(header[0], header[1], _describe(result), sep="\n")

    assert result.load_error is None, f"the mutant does not even load: {result.load_error}"
    outcomes = {check.outcome for task in result.tasks for check in task.results}
    assert "todo" not in outcomes, "a check says 'not written yet': that is not a verdict"
    problems = _problems(result)
    if not problems:
        raise NotCaught(f"{_key(step, path)}: every check of step {step} passes")
    _, first = problems[0]
    assert first.outcome in REAL_VERDICTS, f"first problem is {first.outcome!r}, not a verdict"

    caught_by = sorted({task for task, check in problems if check.outcome in REAL_VERDICTS})
    print(f"caught by task(s) {caught_by}; the broken code is task {target}'s")
    if _key(step, path) in CAUGHT_BY_ANOTHER_TASK:
        assert target not in caught_by, f"task {target} catches it now: drop it from the table"
    else:
        assert target in caught_by, f"task {target}, whose code is wrong, passes"


@pytest.mark.parametrize("step", STEPS)
def test_independent_correct_solution_passes(step: str, tmp_path: Path) -> None:
    result = _check(step, MUTANTS / f"step{step}" / "correct.py", tmp_path)
    print(_describe(result))
    assert result.ok, _describe(result)
