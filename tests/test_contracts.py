"""Every sentence of every docstring a learner implements is a rule backed by checks, or a note
that explains; `cqrs-kata contract` shows the table."""

from __future__ import annotations

import difflib
from pathlib import Path

import pytest

from cqrs_kata.course.contract import contract, contract_places, docstrings, problems
from cqrs_kata.course.structure import Step, all_steps
from cqrs_kata.learner import cli

STEPS = [pytest.param(s, id=f"step{s.number}") for s in all_steps()]


@pytest.mark.parametrize("step", STEPS)
def test_the_contract_table_is_whole(step: Step) -> None:
    assert contract(step), f"step {step.number} has no docstring sentences to check"
    assert problems(step) == []


@pytest.mark.parametrize("step", STEPS)
def test_every_rule_is_in_the_learners_stub_too(step: Step) -> None:
    """The stub is generated from the solution; the contract it shows must be the same."""
    from cqrs_kata.course.stubs import stub_for
    from cqrs_kata.runner.run import module_path

    assert module_path(step, "solutions").is_file()
    stub_rules = {(s.where, s.text) for s in contract(step)}
    from cqrs_kata.course.contract import docstrings, sentences

    docs = docstrings(stub_for(step))
    for where, text in stub_rules:
        assert text in sentences(docs.get(where, "")), (where, text)


def test_a_sentence_nobody_placed_is_reported(tmp_path: pytest.TempPathFactory) -> None:
    step = next(s for s in all_steps() if s.number == "00")
    source = '''def tally(statuses):
    """Count how often each status occurs. Also sing a song."""
'''
    path = tmp_path / "step00.py"  # type: ignore[operator]
    path.write_text(source)
    found = problems(step, path)
    assert "tally: no rule or note holds 'Also sing a song.'" in found
    assert any("the docstring does not say" in p for p in found)


def test_contract_command_prints_rules_and_checks(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["contract", "02"]) == 0
    out = capsys.readouterr().out
    assert "✓ Validate both names with ``validate_name`` before touching either store" in out
    assert "task 4: bad_input_changes_nothing" in out
    assert "[explains; nothing to check]" in out
    assert out.rstrip().endswith("checks.")



MUTANTS = Path(__file__).resolve().parent / "mutants"
"""This tree's mutation suite (the one beside this file, wherever the tests run from)."""
SOLUTIONS = Path(__file__).resolve().parent.parent / "solutions"

MUTATION_STEPS = [pytest.param(s, id=f"step{s.number}") for s in all_steps()
                  if (MUTANTS / f"step{s.number}" / "correct.py").is_file()]


def _docstring_diff(solution: str | None, correct: str | None, step: Step,
                    limit: int = 12) -> list[str]:
    lines = list(difflib.unified_diff(
        (solution or "(no docstring)").splitlines(), (correct or "(no docstring)").splitlines(),
        f"solutions/{step.module}.py", "correct.py", n=1, lineterm=""))
    if len(lines) > limit:
        lines = [*lines[:limit], f"... ({len(lines) - limit} more lines of diff)"]
    return ["    " + line for line in lines]


@pytest.mark.parametrize("step", MUTATION_STEPS)
def test_the_mutation_suites_correct_solution_states_the_same_contract(step: Step) -> None:
    """``tests/mutants/stepNN/correct.py`` is written apart from ``solutions/``, but states the
    course's contract word for word: a docstring is changed in the solution and copied there,
    and every mutant diff is then checked against the contract the learner reads."""
    correct = MUTANTS / f"step{step.number}" / "correct.py"
    solution = SOLUTIONS / f"{step.module}.py"
    theirs = docstrings(correct.read_text(encoding="utf-8"))
    ours = docstrings(solution.read_text(encoding="utf-8"))
    differ = [place for place in contract_places(step) if theirs.get(place) != ours.get(place)]
    if differ:
        lines = [f"step {step.number}: tests/mutants/step{step.number}/correct.py states another "
                 f"contract than solutions/{step.module}.py at {len(differ)} place(s): "
                 f"{', '.join(differ)}. Copy the solution's docstring (only the docstring) into "
                 "correct.py, and update each mutant diff whose context quotes the old one."]
        for place in differ:
            lines.append(f"  {place} (step {step.number}):")
            lines.extend(_docstring_diff(ours.get(place), theirs.get(place), step))
        pytest.fail("\n".join(lines), pytrace=False)
    assert problems(step, correct) == []
