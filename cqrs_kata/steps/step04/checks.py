"""Step 04: replays and idempotency."""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence
from functools import partial
from types import ModuleType, SimpleNamespace
from typing import Any

from cqrs_kata.course.expect import expect_equal, expect_raises, expect_returns, fail
from cqrs_kata.course.structure import Step, Task
from cqrs_kata.steps.driver import HarnessFailure
from cqrs_kata.steps.oracle import folded
from cqrs_kata.steps.step04.harness import (
    ALL_OPERATIONS,
    DELIVERY_OPERATIONS,
    Subject,
    attack,
)
from solutions.step02 import MemoryWrite, Run
from solutions.step03 import Event

STEP = Step(
    number="04",
    title="Replays and idempotency",
    minutes=80,
    tasks=(
        Task(
            1,
            "A view that skips what it already has",
            builds=("View.apply",),
            hints=(
                "Compare the event's position with the view's checkpoint: at or below it, the "
                "view has counted that event already. But first make sure it is an event at "
                "all.",
                "Check the event first (an Event; `type(event.position) is int` and >= 1, since "
                "True is an int too; `validate_name` on tenant and status). Then three cases: "
                "position <= checkpoint (return False, change nothing); position == checkpoint "
                "+ 1 (count it and move the checkpoint, return True); anything bigger is a gap "
                "(raise ValueError before changing anything).",
                "`if not isinstance(event, Event) or type(event.position) is not int: raise "
                "TypeError(...)`, `if event.position < 1: raise ValueError(...)`, "
                "`validate_name(\"tenant\", event.tenant)` and the same for status; "
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
                "positions that are ints >= 1, no gap once you skip what is at or below the "
                "checkpoint (walk the positions with a local `upto = checkpoint`, so a repeat "
                "later in the same batch is skipped too), and each event the write log's run "
                "at its position.",
                "Validate: `isinstance(events, list | tuple)`, `isinstance(e, Event)`, `type(e."
                "position) is int and e.position >= 1`; skip `position <= upto`, raise "
                "ValueError on `position != upto + 1`, else `upto = position; new.append(e)`. "
                "Compare each event with `self.write.since(e.position - 1, 1)` (a list holding "
                "the run at that position, or empty past the log's end). Only then `for e in "
                "new: self.store.current.apply(e)` and `return len(new)`.",
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
        "Comparing every event of a batch with the checkpoint from before the batch: [1, 2, 1, "
        "2] then counts four runs where the log has two.",
        "Accepting True as position 1 (bool is a subclass of int): use `type(p) is int`.",
        "Rebuilding in place (reset, then replay): correct at the end, but readers see zeros "
        "and the checkpoint goes back to 0 meanwhile.",
        "Forgetting the runs recorded during a rebuild: the new view's checkpoint stops at the "
        "snapshot and those runs are never counted.",
        "Forgetting to set the new view's checkpoint: every later delivery counts again.",
    ),
)


# The contract: every sentence of the docstrings the learner implements -----------------------

TOGETHER = STEP.rule("View", "The counts and the checkpoint, kept together: one record, changed "
                     "in one step.")
MEANING = STEP.rule("View", "``counts[tenant][status]`` is how many such runs the view has "
                    "applied; ``checkpoint`` is the position of the last event applied (0 for "
                    "none).")
STEP.note("View", "Because both live here, whatever stores the view stores the checkpoint with "
          "it, and a crash can never separate them.")
APPLY = STEP.rule("View.apply", "Apply one event unless the view already has it; return True if "
                  "it was counted.")
DUPLICATE = STEP.rule("View.apply", "- ``event.position <= self.checkpoint``: the view already "
                      "counted it (a duplicate, a replay, a late redelivery). Change nothing and "
                      "return False.")
NEXT = STEP.rule("View.apply", "- ``event.position == self.checkpoint + 1``: the next event. Add "
                 "one to ``counts[event.tenant][event.status]`` *and* move ``checkpoint`` to its "
                 "position, together, then return True.")
GAP = STEP.rule("View.apply", "- anything further ahead is a gap: an event in between never "
                "arrived, and counting this one would let the missing one be skipped forever. "
                "Raise ``ValueError`` saying which positions are missing (``missing()`` words "
                "it), and change nothing.")
APPLY_BAD = STEP.rule("View.apply", "Check the event first: it must be an ``Event`` whose "
                      "``position`` is an int >= 1 (not a bool, not ``2.0``) and whose tenant and "
                      "status ``validate_name`` accepts; anything else raises ``TypeError`` or "
                      "``ValueError`` and changes nothing, duplicate or not.")
STEP.note("Projector", "Applies delivered events to the view in ``store``; can rebuild it from "
          "``write``.")
CRASH = STEP.rule("Projector", "A projector keeps nothing of its own that matters: its "
                  "checkpoint is the view's. After a crash, ``Projector(write, store)`` on the "
                  "same store carries on where the view got to.")
DELIVER = STEP.rule("Projector.deliver", "Apply a batch of delivered events to the live view; "
                    "return how many were new.")
NOTHING_KEPT = STEP.rule("Projector.deliver", "The live view is ``self.store.current``; keep "
                         "nothing on the projector itself, since a crash throws the projector "
                         "away and keeps only the store.")
REPEATS = STEP.rule("Projector.deliver", "The batch may hold events the view already has "
                    "(duplicates, replays, late ones), in any order and more than once: they "
                    "count for nothing.")
IN_ORDER = STEP.rule("Projector.deliver", "Take the events in the batch's order; an event is new "
                     "when it is the next position after the last one applied, the batch's own "
                     "earlier events included.")
BAD_BATCH = STEP.rule("Projector.deliver", "Check the whole batch *before* changing anything: a "
                      "batch that is not a list or tuple of ``Event``, holds a position that is "
                      "not an int >= 1 (not a bool), an event that is not the run at its "
                      "position in the write log (``self.write.since`` reads it) or a position "
                      "past the log's end, or leaves a gap (see ``View.apply``) raises TypeError "
                      "or ValueError and leaves the view exactly as it was.")
EMPTY = STEP.rule("Projector.deliver", "An empty batch is fine and returns 0.")
CALLERS_BATCH = STEP.rule("Projector.deliver", "Leave the caller's batch as it was.")
ASIDE = STEP.rule("Projector.rebuild", "Recompute the view from ``self.write.all()`` aside, then "
                  "swap it in at once.")
FRESH = STEP.rule("Projector.rebuild", "Build a brand-new ``View`` from the runs (the run at "
                  "index ``i`` has position ``i + 1``) and set its checkpoint to the last "
                  "position folded.")
READERS = STEP.rule("Projector.rebuild", "While it is being built, readers keep reading the old "
                    "``self.store.current``: never zeros, never half the counts.")
PROGRESS = STEP.rule("Projector.rebuild", "Call ``on_progress(done, total)`` (when given) each "
                     "time ``every`` more positions are folded and when the last one is: with "
                     "``every=2`` and 5 runs that is ``(2, 5)``, ``(4, 5)``, ``(5, 5)``. For an "
                     "empty log call it once with ``(0, 0)``. ``total`` is the number of runs "
                     "in the log when the rebuild began.")
MEANWHILE = STEP.rule("Projector.rebuild", "Runs recorded while you were building "
                      "(``on_progress`` may record and deliver) are in ``self.write.all()`` by "
                      "the end: apply them to the new view too, so none is lost.")
SWAP = STEP.rule("Projector.rebuild", "Then make the new view live with one assignment to "
                 "``self.store.current``.")
AFTER = STEP.rule("Projector.rebuild", "Events delivered later at or below its checkpoint are "
                  "skipped, so nothing counts twice.")
REBUILD_BAD = STEP.rule("Projector.rebuild", "``on_progress`` must be callable or None and "
                        "``every`` an int >= 1 (not a bool); otherwise raise TypeError or "
                        "ValueError before doing anything.")


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


def survives(impl: ModuleType, operations: Sequence[str],
             projector: Callable[[ModuleType, Any, Any], Any] | None = None) -> None:
    """The fault harness against ``impl``'s projector (built by ``projector(impl, write,
    store)`` when given)."""
    build = impl.Projector if projector is None else partial(projector, impl)
    try:
        attack(Subject(impl.ViewStore, build), operations)
    except HarnessFailure as failure:
        failure.fail_check()


# Task 1 ------------------------------------------------------------------------------------


@STEP.check(task=1, backs=(TOGETHER, MEANING, APPLY, NEXT))
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


@STEP.check(task=1, backs=(APPLY, DUPLICATE))
def skips_duplicates_and_late_events(impl: ModuleType) -> None:
    """apply() of an event at or below the checkpoint changes nothing"""
    view = impl.View()
    for e in EVENTS[:3]:
        view.apply(e)
    for e in (EVENTS[2], EVENTS[0], EVENTS[1]):
        expect_returns(f"apply(position {e.position}) when the checkpoint is 3",
                       partial(view.apply, e), False,
                       "the view already counted that event (at or below the checkpoint, the "
                       "checkpoint itself too): a duplicate or a late one, not a gap")
    expect_equal("view.counts after those", view.counts, folded(LOG[:3]),
                 "counters are not idempotent: the checkpoint guard is what makes them so")
    expect_equal("view.checkpoint after those", view.checkpoint, 3,
                 "an old event must not move the checkpoint back")


def said_missing(impl: ModuleType, called: str, error: BaseException, checkpoint: int,
                 position: int) -> None:
    """The gap's message says which positions are missing, as ``missing()`` words it."""
    words = impl.missing(checkpoint, position)
    if words not in str(error):
        fail(called, f"the message {str(error)!r}", f"a message that says {words!r}",
             "whoever reads it has to know which events went missing: word it with missing(the "
             f"last position applied, the position that came), here missing({checkpoint}, "
             f"{position})")


@STEP.check(task=1, backs=(GAP,))
def refuses_a_gap(impl: ModuleType) -> None:
    """apply() of an event past a gap raises ValueError and changes nothing"""
    view = impl.View()
    view.apply(EVENTS[0])
    error = expect_raises("apply(position 3) when the checkpoint is 1",
                          partial(view.apply, EVENTS[2]), (ValueError,),
                          "position 2 never arrived; counting 3 would skip 2 forever")
    said_missing(impl, "apply(position 3) when the checkpoint is 1", error, 1, 3)
    error = expect_raises("apply(position 5) when the checkpoint is 1",
                          partial(view.apply, EVENTS[4]), (ValueError,),
                          "positions 2 to 4 never arrived")
    said_missing(impl, "apply(position 5) when the checkpoint is 1", error, 1, 5)
    expect_equal("view.counts after the refused event", view.counts, folded(LOG[:1]))
    expect_equal("view.checkpoint after the refused event", view.checkpoint, 1,
                 "a refused event changes nothing")


@STEP.check(task=1, backs=(APPLY_BAD,))
def apply_refuses_bad_events(impl: ModuleType) -> None:
    """apply() refuses what is not a good Event, duplicate or not, and changes nothing"""
    view = impl.View()
    view.apply(EVENTS[0])
    bad: list[tuple[str, object]] = [
        ("a (tenant, status) tuple", ("t1", "fail")),
        ("position True", Event(True, "t1", "fail", 0.0)),
        ("position 2.0", Event(2.0, "t1", "fail", 0.0)),  # type: ignore[arg-type]
        ("position 0", Event(0, "t1", "fail", 0.0)),
        ("tenant None", Event(2, None, "fail", 0.0)),  # type: ignore[arg-type]
        ("tenant ''", Event(2, "", "fail", 0.0)),
        ("status b'fail'", Event(2, "t1", b"fail", 0.0)),  # type: ignore[arg-type]
        ("a 101-character tenant", Event(2, "x" * 101, "fail", 0.0)),
        ("a duplicate of position 1 with tenant None", Event(1, None, "ok", 0.0)),  # type: ignore[arg-type]
    ]
    for what, event in bad:
        expect_raises(f"view.apply({what}) when the checkpoint is 1", partial(view.apply, event),
                      (TypeError, ValueError), "check the event before anything else")
        expect_equal(f"(view.counts, view.checkpoint) after apply({what})",
                     (view.counts, view.checkpoint), (folded(LOG[:1]), 1),
                     "a refused event changes nothing")


# Task 2 ------------------------------------------------------------------------------------


@STEP.check(task=2, backs=(DELIVER, REPEATS, EMPTY))
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


@STEP.check(task=2, backs=(REPEATS, IN_ORDER))
def repeats_inside_a_batch_count_once(impl: ModuleType) -> None:
    """a batch that repeats its own events, mixed with old ones, counts each new event once"""
    projector = impl.Projector(logged())
    for batch, new, upto in [([1, 2, 1, 2], 2, 2), ([3, 1, 4, 3, 2, 4], 2, 4), ([5, 5], 1, 5)]:
        called = f"deliver(positions {batch}) with the checkpoint at {projector.checkpoint}"
        expect_equal(called, projector.deliver([EVENTS[p - 1] for p in batch]), new,
                     "in the batch's order, each event is new only if it is the next position "
                     "after the last one applied, counting the ones this batch just applied")
        expect_equal(f"every summary after {called}", readable(projector), folded(LOG[:upto]),
                     "every run counted exactly once")


@STEP.check(task=2, backs=(IN_ORDER, REPEATS, BAD_BATCH))
def old_events_at_the_end_of_a_batch_move_nothing(impl: ModuleType) -> None:
    """a batch ending in old events, or a tuple, leaves the checkpoint at its newest event"""
    projector = impl.Projector(logged())
    for batch, new, upto in [([1, 2, 3, 1], 3, 3), ((4, 2), 1, 4), ((5, 4, 3), 1, 5)]:
        events = [EVENTS[p - 1] for p in batch]
        kind = "a tuple" if isinstance(batch, tuple) else "a list"
        called = (f"deliver({kind} of positions {list(batch)}) with the checkpoint at "
                  f"{projector.checkpoint}")
        expect_returns(called, partial(projector.deliver, tuple(events) if kind == "a tuple"
                                       else events), new,
                       "a list or a tuple of events are both batches; an event is new only when "
                       "it is the next position after the last one applied")
        expect_equal(f"checkpoint after {called}", projector.checkpoint, upto,
                     "the checkpoint is the last position applied, not the batch's last event: "
                     "an old event at the end of a batch counts for nothing and moves nothing")
        expect_equal(f"every summary after {called}", readable(projector), folded(LOG[:upto]))


@STEP.check(task=2, backs=(BAD_BATCH, GAP))
def a_gap_in_a_batch_says_which_positions_are_missing(impl: ModuleType) -> None:
    """deliver() refuses a batch with a gap, naming the positions that are missing"""
    projector = impl.Projector(logged())
    projector.deliver(EVENTS[:1])
    for batch, after, position in [([2, 3, 5], 3, 5), ([4], 1, 4)]:
        called = f"deliver(positions {batch}) with the checkpoint at 1"
        error = expect_raises(called, partial(projector.deliver, [EVENTS[p - 1] for p in batch]),
                              (ValueError,), "the batch leaves a gap")
        said_missing(impl, called, error, after, position)
        expect_equal(f"checkpoint after {called}", projector.checkpoint, 1,
                     "a refused batch changes nothing")


@STEP.check(task=2, backs=(NOTHING_KEPT, CALLERS_BATCH))
def deliver_uses_the_view_in_the_store_now(impl: ModuleType) -> None:
    """deliver() applies to whatever View store.current holds now, and keeps the caller's list"""
    write, store = logged(), impl.ViewStore()
    projector = impl.Projector(write, store)
    projector.deliver(EVENTS[:2])
    rebuilt = impl.View(folded(LOG[:3]), 3)  # another projector swapped in a rebuilt view
    store.current = rebuilt
    batch = list(EVENTS)
    expect_equal("deliver(positions 1..5) after store.current became a view at checkpoint 3",
                 projector.deliver(batch), 2,
                 "the live view is store.current, read at each delivery: only 4 and 5 are new "
                 "to it; a projector that holds on to the view it first saw writes into a dead "
                 "one")
    expect_equal("every summary afterwards", readable(projector), folded(LOG))
    expect_equal("the caller's list after deliver(it)", batch, list(EVENTS),
                 "the batch is the caller's: read it, do not sort or empty it")


@STEP.check(task=2, backs=(CRASH, NOTHING_KEPT, TOGETHER))
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


@STEP.check(task=2, backs=(BAD_BATCH,))
def bad_batches_change_nothing(impl: ModuleType) -> None:
    """deliver() refuses a bad batch with a clear error and applies none of it"""
    projector = impl.Projector(logged())
    projector.deliver(EVENTS[:1])
    either = (TypeError, ValueError)
    bad: list[tuple[str, object, tuple[type[Exception], ...]]] = [
        ("a single Event, not a list", EVENTS[1], either),
        ("a generator of events", (e for e in EVENTS[1:3]), either),
        ("a list holding a str", [EVENTS[1], "t1 ok"], either),
        ("an event at position 0", [Event(0, "t1", "ok", 0.0)], either),
        ("an event at position True, where the log's run 1 is t1/ok",
         [Event(True, "t1", "ok", 0.0)], either),
        ("positions 2, 3 and 5 (4 is missing)", [EVENTS[1], EVENTS[2], EVENTS[4]], either),
        ("position 2 as t2/ok, where the log has t1/fail", [ev(2, "t2", "ok")], either),
        ("positions 2 and 3, then a tenant that is a list", [EVENTS[1], EVENTS[2],
                                                             Event(4, ["t1"], "ok", 0.0)], either),  # type: ignore[arg-type]
        ("position 2 with tenant None", [Event(2, None, "fail", 0.0)], either),  # type: ignore[arg-type]
        ("position 2 with status b'fail'", [Event(2, "t1", b"fail", 0.0)], either),  # type: ignore[arg-type]
        ("positions 2..6 (the log ends at 5)", [*EVENTS[1:], ev(6)], either),
        ("a set of events", {EVENTS[1], EVENTS[2]}, either),
        ("positions 3 then 2 (3 comes before 2 arrived)", [EVENTS[2], EVENTS[1]], either),
        ("position 2, then an object that looks like an Event (position 3) but is not one",
         [EVENTS[1], SimpleNamespace(position=3, tenant="t2", status="ok", recorded_at=0.0)],
         either),
    ]
    for what, batch, errors in bad:
        names = " or ".join(e.__name__ for e in errors)
        expect_raises(f"deliver({what})", partial(projector.deliver, batch), errors,
                      f"{names} tells the caller what kind of batch was wrong")
        expect_equal(f"every summary after deliver({what})", readable(projector),
                     folded(LOG[:1]), "check the whole batch first: a refused batch "
                     "must leave the view as it was, not half applied")
        expect_equal(f"checkpoint after deliver({what})", projector.checkpoint, 1)


@STEP.check(task=2, backs=(DELIVER, REPEATS, IN_ORDER, CRASH, NOTHING_KEPT, BAD_BATCH))
def fault_harness_finds_no_delivery_bug(impl: ModuleType) -> None:
    """the fault harness (duplicates, replays, late events, crashes) finds no bug"""
    survives(impl, DELIVERY_OPERATIONS)


# Task 3 ------------------------------------------------------------------------------------


def rebuilding(impl: ModuleType, write: Any, store: Any = None) -> Any:
    """The learner's ``Projector``, delivering with the checks' own correct ``deliver``: task 3
    is checked on ``rebuild``'s code, so a bug in ``deliver`` is reported under task 2 only."""
    projector = impl.Projector(write) if store is None else impl.Projector(write, store)

    def deliver(events: Sequence[Any]) -> int:
        if not isinstance(events, list | tuple):
            raise TypeError(f"a batch is a list or tuple of Event, got {type(events).__name__}")
        view = projector.store.current
        upto, new = view.checkpoint, []
        for event in events:
            if event.position <= upto:
                continue
            if event.position != upto + 1:
                raise ValueError(f"position {upto + 1} is missing before {event.position}")
            upto = event.position
            new.append(event)
        for event in new:
            per_status = view.counts.setdefault(event.tenant, {})
            per_status[event.status] = per_status.get(event.status, 0) + 1
        view.checkpoint = upto
        return len(new)

    projector.deliver = deliver
    return projector



@STEP.check(task=3, backs=(ASIDE, FRESH, SWAP, AFTER))
def rebuild_repairs_and_is_idempotent(impl: ModuleType) -> None:
    """rebuild() recomputes the view from the log; twice gives the same view"""
    projector = rebuilding(impl, logged())
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


@STEP.check(task=3, backs=(ASIDE, READERS, SWAP))
def readers_never_see_half_done(impl: ModuleType) -> None:
    """while rebuild() runs, readers see the old, complete view"""
    projector = rebuilding(impl, logged())
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


@STEP.check(task=3, backs=(SWAP, ASIDE, FRESH))
def the_swap_is_one_assignment(impl: ModuleType) -> None:
    """rebuild() puts a new View in store.current and leaves the old one as it was"""
    projector = rebuilding(impl, logged())
    projector.deliver(EVENTS[:4])
    old = projector.store.current
    kept = (copy.deepcopy(old.counts), old.checkpoint)
    projector.rebuild()
    if projector.store.current is old:
        fail("rebuild(), then compared store.current with the View that was live before",
             "the same View object, changed in place", "a new View in store.current",
             "build the new view aside and make it live with one assignment: a reader that "
             "holds the old View, or looks between two changes, must never see it half-new")
    expect_equal("the old View's (counts, checkpoint) after rebuild()",
                 (old.counts, old.checkpoint), kept,
                 "the old view is left alone: whoever still reads it sees one consistent "
                 "picture, counts and checkpoint from the same moment")


@STEP.check(task=3, backs=(MEANWHILE, AFTER))
def runs_recorded_during_a_rebuild_count_once(impl: ModuleType) -> None:
    """runs recorded (and delivered) while rebuild() runs are neither lost nor doubled"""
    write = logged()
    projector = rebuilding(impl, write)
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


@STEP.check(task=3, backs=(PROGRESS,))
def progress_is_reported(impl: ModuleType) -> None:
    """rebuild() reports progress as (positions done, total)"""
    calls: list[tuple[int, int]] = []
    rebuilding(impl, logged()).rebuild(lambda done, total: calls.append((done, total)), every=2)
    expect_equal("rebuild(on_progress, every=2) of a 5-run log: the on_progress calls",
                 calls, [(2, 5), (4, 5), (5, 5)], "every 2 positions, and once when done")
    calls.clear()
    impl.Projector(MemoryWrite(LOG[:4])).rebuild(lambda d, t: calls.append((d, t)), every=2)
    expect_equal("rebuild(on_progress, every=2) of a 4-run log: the on_progress calls",
                 calls, [(2, 4), (4, 4)], "when the last position falls on a multiple of "
                 "every, the end is reported once, not twice")
    calls.clear()
    impl.Projector(MemoryWrite()).rebuild(lambda done, total: calls.append((done, total)))
    expect_equal("rebuild(on_progress) of an empty log: the on_progress calls", calls,
                 [(0, 0)], "even an empty rebuild says it is done")


@STEP.check(task=3, backs=(REBUILD_BAD,))
def bad_rebuild_arguments_change_nothing(impl: ModuleType) -> None:
    """rebuild() with a bad argument raises and leaves the view alone"""
    projector = rebuilding(impl, logged())
    wrong: tuple[type[Exception], ...] = (TypeError, ValueError)
    for called, action in [
        ("rebuild(on_progress=42)", partial(projector.rebuild, 42)),
        ("rebuild(every=0)", partial(projector.rebuild, None, 0)),
        ("rebuild(every='10')", partial(projector.rebuild, None, "10")),
        ("rebuild(every=True)", partial(projector.rebuild, None, True)),
    ]:
        expect_raises(called, action, wrong, "say what was wrong before doing anything")
        expect_equal(f"every summary after {called}", readable(projector), {},
                     "a refused rebuild changes nothing")


@STEP.check(task=3, backs=(ASIDE, READERS, MEANWHILE, AFTER, CRASH))
def fault_harness_finds_no_bug(impl: ModuleType) -> None:
    """the fault harness, rebuilds included, finds no bug"""
    impl.Projector(MemoryWrite()).rebuild()
    survives(impl, ALL_OPERATIONS, rebuilding)
