"""Step 04: replays and idempotency."""

from __future__ import annotations

from collections.abc import Sequence
from functools import partial
from types import ModuleType
from typing import Any

from cqrs_kata.course import Step, Task
from cqrs_kata.expect import expect_equal, expect_raises, fail
from cqrs_kata.harness import (
    ALL_OPERATIONS,
    DELIVERY_OPERATIONS,
    HarnessFailure,
    Subject,
    attack,
)
from cqrs_kata.steps.step02 import folded
from solutions.step02 import MemoryWrite, Run
from solutions.step03 import Event

STEP = Step(
    number="04",
    title="Replays and idempotency",
    minutes=40,
    tasks=(
        Task(
            1,
            "A view that skips what it already has",
            builds=("View.apply",),
            hints=(
                "Compare the event's position with the view's checkpoint: at or below it, the "
                "view has counted that event already.",
                "Three cases: position <= checkpoint (return False, change nothing); position == "
                "checkpoint + 1 (count it and move the checkpoint, return True); anything "
                "bigger is a gap (raise ValueError before changing anything).",
                "`if event.position <= self.checkpoint: return False`; `if event.position != "
                "self.checkpoint + 1: raise ValueError(...)`; then `per = self.counts."
                "setdefault(event.tenant, {}); per[event.status] = per.get(event.status, 0) + 1; "
                "self.checkpoint = event.position; return True`.",
            ),
        ),
        Task(
            2,
            "Deliver at least once, count once",
            builds=("Projector.deliver",),
            hints=(
                "The live view is `self.store.current`, and `View.apply` already skips what it "
                "has. The projector itself must keep nothing that matters: after a crash a new "
                "Projector is built on the same store.",
                "Check the whole batch before applying any of it: a list or tuple, only Events, "
                "positions that are ints >= 1, and no gap once you skip what is at or below "
                "the checkpoint (walk the positions with a local `upto = checkpoint`, keeping "
                "the new events in a list).",
                "Validate: `isinstance(events, list | tuple)`, `isinstance(e, Event)`, `type(e."
                "position) is int and e.position >= 1`; skip `position <= upto`, raise "
                "ValueError on `position != upto + 1`, else `upto = position; new.append(e)`. "
                "Only then `for e in new: self.store.current.apply(e)` and `return len(new)`.",
            ),
        ),
        Task(
            3,
            "Rebuild aside, then swap",
            builds=("Projector.rebuild",),
            hints=(
                "Never reset the live view: build a new `View()` in a local variable, and only "
                "when it is complete assign it to `self.store.current`.",
                "Fold `self.write.all()` into the new view (run i has position i + 1), set its "
                "checkpoint, call `on_progress(done, total)` every `every` positions; before "
                "the swap, apply the runs that arrived meanwhile (`self.write.all()[new."
                "checkpoint:]`) with `View.apply`.",
                "`runs = self.write.all(); fresh = View()`; for each chunk of `every` runs, "
                "count them into `fresh.counts`, set `fresh.checkpoint` to the chunk's end and "
                "report progress; `for pos, r in enumerate(self.write.all()[fresh.checkpoint:], "
                "fresh.checkpoint + 1): fresh.apply(Event(pos, r.tenant, r.status, 0.0))`; "
                "`self.store.current = fresh`.",
            ),
        ),
    ),
    usual_mistakes=(
        "Keeping the checkpoint on the projector (self.applied) instead of in the view: a "
        "crash loses it and the redelivered batch is counted twice (task 2's crash check).",
        "Applying a batch event by event and raising halfway on a gap: half the batch is in. "
        "Check first, then apply.",
        "Rebuilding in place (reset, then replay): correct at the end, but readers see zeros "
        "and the checkpoint goes back to 0 meanwhile.",
        "Forgetting the runs recorded during a rebuild: the new view's checkpoint stops at the "
        "snapshot and those runs are never counted.",
        "Forgetting to set the new view's checkpoint: every later delivery counts again.",
    ),
)


def ev(position: int, tenant: str = "t1", status: str = "ok") -> Event:
    return Event(position, tenant, status, float(position))


LOG = [Run("t1", "ok"), Run("t1", "fail"), Run("t2", "ok"), Run("t1", "ok"), Run("t2", "fail")]
"""A small history: position i + 1 is LOG[i]."""
EVENTS = [ev(i, run.tenant, run.status) for i, run in enumerate(LOG, start=1)]


def logged() -> MemoryWrite:
    return MemoryWrite(list(LOG))


def readable(projector: Any) -> dict[str, dict[str, int]]:
    """Every tenant's summary, as a reader sees it (tenants with no runs left out)."""
    seen = {t: projector.summary(t) for t in ("t1", "t2", "t3", "nobody")}
    return {t: counts for t, counts in seen.items() if counts}


def survives(impl: ModuleType, operations: Sequence[str]) -> None:
    try:
        attack(Subject(impl.ViewStore, impl.Projector), operations)
    except HarnessFailure as failure:
        fail(failure.called.replace("\n", "\n" + " " * 9), failure.got, failure.expected,
             failure.why)


# Task 1 ------------------------------------------------------------------------------------


@STEP.check(task=1)
def applies_events_in_order(impl: ModuleType) -> None:
    """apply() counts each next event and moves the checkpoint with it"""
    view = impl.View()
    answers = [view.apply(e) for e in EVENTS[:3]]
    expect_equal("View().apply(e) for positions 1, 2, 3", answers, [True, True, True],
                 "each is the next position after the checkpoint, so each is new")
    expect_equal("view.counts after that", view.counts, folded(LOG[:3]),
                 "one count per event, under its own tenant and status")
    expect_equal("view.checkpoint after that", view.checkpoint, 3,
                 "the checkpoint is the position of the last event applied")


@STEP.check(task=1)
def skips_duplicates_and_late_events(impl: ModuleType) -> None:
    """apply() of an event at or below the checkpoint changes nothing"""
    view = impl.View()
    for e in EVENTS[:3]:
        view.apply(e)
    for e in (EVENTS[2], EVENTS[0], EVENTS[1]):
        expect_equal(f"apply(position {e.position}) when the checkpoint is 3", view.apply(e),
                     False, "the view already counted that event: a duplicate or a late one")
    expect_equal("view.counts after those", view.counts, folded(LOG[:3]),
                 "counters are not idempotent: the checkpoint guard is what makes them so")
    expect_equal("view.checkpoint after those", view.checkpoint, 3,
                 "an old event must not move the checkpoint back")


@STEP.check(task=1)
def refuses_a_gap(impl: ModuleType) -> None:
    """apply() of an event past a gap raises ValueError and changes nothing"""
    view = impl.View()
    view.apply(EVENTS[0])
    error = expect_raises("apply(position 3) when the checkpoint is 1",
                          partial(view.apply, EVENTS[2]), (ValueError,),
                          "position 2 never arrived; counting 3 would skip 2 forever")
    if "2" not in str(error):
        fail("apply(position 3) when the checkpoint is 1", f"the message {str(error)!r}",
             "a message that names the missing position 2",
             "whoever reads it has to know which event went missing")
    expect_equal("view.counts after the refused event", view.counts, folded(LOG[:1]))
    expect_equal("view.checkpoint after the refused event", view.checkpoint, 1,
                 "a refused event changes nothing")


# Task 2 ------------------------------------------------------------------------------------


@STEP.check(task=2)
def duplicates_and_replays_change_nothing(impl: ModuleType) -> None:
    """deliver() counts each event once, however often it arrives"""
    projector = impl.Projector(logged())
    expect_equal("deliver(positions 1..3)", projector.deliver(EVENTS[:3]), 3,
                 "three new events")
    expect_equal("deliver(positions 2..3) again", projector.deliver(EVENTS[1:3]), 0,
                 "a duplicate batch is already counted")
    expect_equal("deliver(positions 1..4), a replay from the start",
                 projector.deliver(EVENTS[:4]), 1, "only position 4 is new")
    expect_equal("deliver([position 1]), late", projector.deliver([EVENTS[0]]), 0,
                 "a late event is already counted")
    expect_equal("deliver([])", projector.deliver([]), 0, "an empty batch brings nothing")
    expect_equal("every summary after those", readable(projector), folded(LOG[:4]),
                 "positions 1..4, each counted exactly once")
    expect_equal("checkpoint after those", projector.checkpoint, 4)


@STEP.check(task=2)
def survives_a_crash_before_the_ack(impl: ModuleType) -> None:
    """after a crash, a new projector on the same store skips the redelivered batch"""
    write, store = logged(), impl.ViewStore()
    impl.Projector(write, store).deliver(EVENTS[:3])  # the view updates, then the crash
    restarted = impl.Projector(write, store)
    expect_equal("Projector(write, same store).deliver(positions 1..5), after the crash",
                 restarted.deliver(list(EVENTS)), 2,
                 "positions 1..3 are in the view already; its checkpoint is in the store too, "
                 "so the restarted projector knows it")
    expect_equal("every summary afterwards", readable(restarted), folded(LOG),
                 "nothing counted twice")


@STEP.check(task=2)
def bad_batches_change_nothing(impl: ModuleType) -> None:
    """deliver() refuses a bad batch with a clear error and applies none of it"""
    projector = impl.Projector(logged())
    projector.deliver(EVENTS[:1])
    bad: list[tuple[str, object, type[Exception]]] = [
        ("a single Event, not a list", EVENTS[1], TypeError),
        ("a list holding a str", [EVENTS[1], "t1 ok"], TypeError),
        ("an event at position 0", [Event(0, "t1", "ok", 0.0)], ValueError),
        ("positions 2, 3 and 5 (4 is missing)", [EVENTS[1], EVENTS[2], EVENTS[4]], ValueError),
    ]
    for what, batch, error in bad:
        expect_raises(f"deliver({what})", partial(projector.deliver, batch), (error,),
                      f"{error.__name__} tells the caller what kind of batch was wrong")
        expect_equal(f"every summary after deliver({what})", readable(projector),
                     folded(LOG[:1]), "check the whole batch first: a refused batch "
                     "must leave the view as it was, not half applied")
        expect_equal(f"checkpoint after deliver({what})", projector.checkpoint, 1)


@STEP.check(task=2)
def fault_harness_finds_no_delivery_bug(impl: ModuleType) -> None:
    """the fault harness (duplicates, replays, late events, crashes) finds no bug"""
    survives(impl, DELIVERY_OPERATIONS)


# Task 3 ------------------------------------------------------------------------------------


@STEP.check(task=3)
def rebuild_repairs_and_is_idempotent(impl: ModuleType) -> None:
    """rebuild() recomputes the view from the log; twice gives the same view"""
    projector = impl.Projector(logged())
    projector.rebuild()
    expect_equal("every summary after rebuild() of a 5-run log", readable(projector),
                 folded(LOG), "the rebuilt view is the write log, folded")
    expect_equal("checkpoint after rebuild()", projector.checkpoint, 5,
                 "the new view has applied positions 1..5; without that checkpoint every "
                 "later delivery would count them again")
    projector.store.current.counts["t1"]["ok"] = 99  # a bug wrote nonsense into the view
    projector.rebuild()
    projector.rebuild()
    expect_equal("every summary after corrupting the view and rebuilding twice",
                 readable(projector), folded(LOG),
                 "a rebuild starts from a new, empty view, so repeating it changes nothing")
    expect_equal("deliver(positions 1..5) after the rebuild", projector.deliver(list(EVENTS)), 0,
                 "the rebuilt view's checkpoint covers them all")


@STEP.check(task=3)
def readers_never_see_half_done(impl: ModuleType) -> None:
    """while rebuild() runs, readers see the old, complete view"""
    projector = impl.Projector(logged())
    projector.deliver(EVENTS[:4])
    before = readable(projector)
    seen: list[tuple[int, dict[str, dict[str, int]]]] = []
    projector.rebuild(lambda done, total: seen.append((projector.checkpoint,
                                                       readable(projector))), every=1)
    if not seen:
        fail("rebuild(on_progress=reader, every=1)", "on_progress was never called",
             "a call per position", "the reader checks the view from on_progress")
    for checkpoint, view in seen:
        expect_equal("a reader's view (checkpoint, summaries) during rebuild()",
                     (checkpoint, view), (4, before),
                     "build the new view aside; readers keep the old one until the swap, "
                     "never zeros or half the counts")
    expect_equal("every summary after rebuild()", readable(projector), folded(LOG))


@STEP.check(task=3)
def runs_recorded_during_a_rebuild_count_once(impl: ModuleType) -> None:
    """runs recorded (and delivered) while rebuild() runs are neither lost nor doubled"""
    write = logged()
    projector = impl.Projector(write)
    projector.deliver(list(EVENTS))
    extra = [Run("t2", "ok"), Run("t3", "fail")]
    late = [ev(6 + i, run.tenant, run.status) for i, run in enumerate(extra)]

    def meanwhile(done: int, total: int) -> None:
        if done == 1:
            for run in extra:
                write.add(run)
            projector.deliver(late)  # the projector keeps serving the live view

    projector.rebuild(meanwhile, every=1)
    expect_equal("every summary after a rebuild during which positions 6..7 were recorded "
                 "and delivered", readable(projector), folded(LOG + extra),
                 "the new view must take in the runs that arrived while it was built")
    expect_equal("checkpoint after that rebuild", projector.checkpoint, 7)
    expect_equal("deliver(positions 6..7) again", projector.deliver(late), 0,
                 "they are in the new view, so redelivery counts nothing")


@STEP.check(task=3)
def progress_is_reported(impl: ModuleType) -> None:
    """rebuild() reports progress as (positions done, total)"""
    calls: list[tuple[int, int]] = []
    impl.Projector(logged()).rebuild(lambda done, total: calls.append((done, total)), every=2)
    expect_equal("rebuild(on_progress, every=2) of a 5-run log: the on_progress calls",
                 calls, [(2, 5), (4, 5), (5, 5)], "every 2 positions, and once when done")
    calls.clear()
    impl.Projector(MemoryWrite()).rebuild(lambda done, total: calls.append((done, total)))
    expect_equal("rebuild(on_progress) of an empty log: the on_progress calls", calls,
                 [(0, 0)], "even an empty rebuild says it is done")


@STEP.check(task=3)
def bad_rebuild_arguments_change_nothing(impl: ModuleType) -> None:
    """rebuild() with a bad argument raises and leaves the view alone"""
    projector = impl.Projector(logged())
    wrong: tuple[type[Exception], ...] = (TypeError, ValueError)
    for called, action in [
        ("rebuild(on_progress=42)", partial(projector.rebuild, 42)),
        ("rebuild(every=0)", partial(projector.rebuild, None, 0)),
        ("rebuild(every='10')", partial(projector.rebuild, None, "10")),
    ]:
        expect_raises(called, action, wrong, "say what was wrong before doing anything")
        expect_equal(f"every summary after {called}", readable(projector), {},
                     "a refused rebuild changes nothing")


@STEP.check(task=3)
def fault_harness_finds_no_bug(impl: ModuleType) -> None:
    """the fault harness, rebuilds included, finds no bug"""
    impl.Projector(MemoryWrite()).rebuild()
    survives(impl, ALL_OPERATIONS)
