"""Step 00: the warm-up task that shows how checks, hints and progress work."""

from __future__ import annotations

from types import ModuleType

from cqrs_kata.course.expect import expect_equal
from cqrs_kata.course.structure import Step, Task

STEP = Step(
    number="00",
    title="How the kata works",
    minutes=15,
    tasks=(
        Task(
            1,
            "Count statuses with tally()",
            builds=("tally",),
            hints=(
                "Walk through the statuses and keep a dict from status to how many times you "
                "have seen it so far.",
                "`counts[s] = counts.get(s, 0) + 1` adds one, starting from zero for a new status.",
                "The standard library already counts: `dict(collections.Counter(statuses))`.",
            ),
        ),
    ),
    usual_mistakes=(
        "Running the notebook's check cell before saving the exercise file: the check reads "
        "the file on disk, so save first (Ctrl+S).",
        "Editing solutions/ instead of exercises/: checks run against exercises/.",
    ),
)


COUNT = STEP.rule("tally", "Count how often each status occurs.")
EXAMPLES = STEP.rule("tally", '``tally(["ok", "ok", "fail"])`` returns ``{"ok": 2, "fail": 1}`` '
                     "and ``tally([])`` returns ``{}``.")
ABSENT = STEP.rule("tally", "A status that never occurs is not in the result.")
ANY_ITERABLE = STEP.rule("tally", "``statuses`` may be any iterable (a list, a tuple, a "
                         "generator); read it once and do not change it.")


@STEP.check(task=1, backs=(COUNT, EXAMPLES, ABSENT))
def counts_each_status(impl: ModuleType) -> None:
    """tally() counts each status"""
    expect_equal('tally(["ok", "ok", "fail"])', impl.tally(["ok", "ok", "fail"]),
                 {"ok": 2, "fail": 1}, "two runs were ok and one failed")


@STEP.check(task=1, backs=(EXAMPLES, ABSENT))
def empty_input_gives_empty_dict(impl: ModuleType) -> None:
    """tally([]) is an empty dict"""
    expect_equal("tally([])", impl.tally([]), {},
                 "with no runs there is nothing to count, and no status should appear")


@STEP.check(task=1, backs=(ANY_ITERABLE,))
def reads_any_iterable_once(impl: ModuleType) -> None:
    """tally() accepts a generator, which can be read only once, and changes no list"""
    statuses = (s for s in ["fail", "ok", "fail"])
    expect_equal('tally(s for s in ["fail", "ok", "fail"])', impl.tally(statuses),
                 {"fail": 2, "ok": 1}, "a generator is used up after one pass; count in that pass")
    given = ["ok", "fail", "ok"]
    expect_equal('tally(("ok", "fail"))', impl.tally(("ok", "fail")), {"ok": 1, "fail": 1},
                 "a tuple is an iterable too")
    impl.tally(given)
    expect_equal('the list after tally(["ok", "fail", "ok"])', given, ["ok", "fail", "ok"],
                 "read the statuses, do not change them: the caller still needs them")
