"""Known-wrong projectors: step 04's checks, the fault harness first, must catch each one with a
message that points at its bug. Each mutant is the reference with one realistic mistake."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from types import ModuleType

import pytest

import solutions.step04 as reference
from cqrs_kata.course.expect import CheckFailed
from cqrs_kata.course.structure import get_step
from solutions.step02 import MemoryWrite
from solutions.step03 import Event
from solutions.step04 import ProgressCallback, Projector, View

# make quick leaves these out: step 04's wrong projectors against its checks and harness.
pytestmark = pytest.mark.slow

STEP = get_step("04")


def module_with(**replaced: object) -> ModuleType:
    """The reference module with some of its classes swapped for broken ones."""
    module = ModuleType("step04_mutant")
    module.__dict__.update({k: v for k, v in vars(reference).items() if not k.startswith("__")})
    module.__dict__.update(replaced)
    return module


class CountsDuplicates(View):
    """No checkpoint guard: every delivery is counted."""

    def apply(self, event: Event) -> bool:
        per_status = self.counts.setdefault(event.tenant, {})
        per_status[event.status] = per_status.get(event.status, 0) + 1
        self.checkpoint = max(self.checkpoint, event.position)
        return True


class DuplicatesProjector(Projector):
    def deliver(self, events: Sequence[Event]) -> int:
        view = self.store.current
        if not isinstance(view, CountsDuplicates):
            view = self.store.current = CountsDuplicates(view.counts, view.checkpoint)
        return sum(view.apply(e) for e in events)


@dataclass
class CheckpointApart(Projector):
    """Keeps "how far I got" on the projector, not in the view's store: a crash loses it."""

    applied: int = 0

    @property
    def checkpoint(self) -> int:
        return self.applied

    def deliver(self, events: Sequence[Event]) -> int:
        new = [e for e in events if e.position > self.applied]
        for e in new:
            per_status = self.store.current.counts.setdefault(e.tenant, {})
            per_status[e.status] = per_status.get(e.status, 0) + 1
            self.applied = e.position
        return len(new)


class SkipsOnlyWholeOldBatches(Projector):
    """Skips a batch only when all of it is old; a batch that overlaps the checkpoint counts
    its old part again."""

    def deliver(self, events: Sequence[Event]) -> int:
        view = self.store.current
        if not events or events[-1].position <= view.checkpoint:
            return 0
        for e in events:
            per_status = view.counts.setdefault(e.tenant, {})
            per_status[e.status] = per_status.get(e.status, 0) + 1
        view.checkpoint = events[-1].position
        return len(events)


class DropsLastOfBatch(Projector):
    """Off by one: applies all but the last event of a batch, yet moves the checkpoint past it."""

    def deliver(self, events: Sequence[Event]) -> int:
        view = self.store.current
        new = [e for e in events if e.position > view.checkpoint]
        for e in new[:-1]:
            view.apply(e)
        if new:
            view.checkpoint = new[-1].position
        return len(new)


class ForgetsCheckpointOnRebuild(Projector):
    """Rebuilds the counts aside but leaves the new view's checkpoint at 0."""

    def rebuild(self, on_progress: ProgressCallback | None = None,
                every: int = reference.REBUILD_EVERY) -> None:
        fresh = View()
        runs = self.write.all()
        for run in runs:
            per_status = fresh.counts.setdefault(run.tenant, {})
            per_status[run.status] = per_status.get(run.status, 0) + 1
        if on_progress is not None:
            on_progress(len(runs), len(runs))
        self.store.current = fresh


class TruncatesInPlace(Projector):
    """Rebuilds the live view in place: right at the end, zeros meanwhile."""

    def rebuild(self, on_progress: ProgressCallback | None = None,
                every: int = reference.REBUILD_EVERY) -> None:
        self.store.current = View()
        runs = self.write.all()
        for position, run in enumerate(runs, start=1):
            self.store.current.apply(Event(position, run.tenant, run.status, 0.0))
            if on_progress is not None:
                on_progress(position, len(runs))
        if not runs and on_progress is not None:
            on_progress(0, 0)


class LosesRunsDuringRebuild(Projector):
    """Swaps in the snapshot's view without the runs recorded while it was built."""

    def rebuild(self, on_progress: ProgressCallback | None = None,
                every: int = reference.REBUILD_EVERY) -> None:
        fresh = View()
        runs = self.write.all()
        for position, run in enumerate(runs, start=1):
            fresh.apply(Event(position, run.tenant, run.status, 0.0))
            if on_progress is not None:
                on_progress(position, len(runs))
        if not runs and on_progress is not None:
            on_progress(0, 0)
        self.store.current = fresh


class MutatesHistory(Projector):
    """Sorts the write log in place to fold each tenant's runs together: history is edited."""

    def rebuild(self, on_progress: ProgressCallback | None = None,
                every: int = reference.REBUILD_EVERY) -> None:
        assert isinstance(self.write, MemoryWrite)
        self.write.data.sort(key=lambda run: run.tenant)
        super().rebuild(on_progress, every)


class LeaksTenants(Projector):
    """Answers every tenant with the counts of all tenants together."""

    def summary(self, tenant: str) -> dict[str, int]:
        merged: dict[str, int] = {}
        for per_status in self.store.current.counts.values():
            for status, n in per_status.items():
                merged[status] = merged.get(status, 0) + n
        return merged if tenant in self.store.current.counts else {}


def failure(check_name: str, impl: ModuleType) -> str:
    check = next(c for c in STEP.checks if c.name == check_name)
    with pytest.raises(CheckFailed) as caught:
        check(impl)
    return str(caught.value)


HARNESS_CASES: list[tuple[str, ModuleType, str, list[str]]] = [
    ("counts duplicates", module_with(Projector=DuplicatesProjector),
     "fault_harness_finds_no_delivery_bug", ["again", "at or below the checkpoint"]),
    ("checkpoint kept apart from the view", module_with(Projector=CheckpointApart),
     "fault_harness_finds_no_delivery_bug", ["crashes", "keep the checkpoint in that storage"]),
    ("skips only wholly old batches", module_with(Projector=SkipsOnlyWholeOldBatches),
     "fault_harness_finds_no_delivery_bug",
     ["position 1 was sent before a crash but never acknowledged", "skip them"]),
    ("drops the last event of a batch", module_with(Projector=DropsLastOfBatch),
     "fault_harness_finds_no_delivery_bug",
     ["catch up: deliver position 1", "Every new event in a batch"]),
    ("forgets the checkpoint on rebuild", module_with(Projector=ForgetsCheckpointOnRebuild),
     "fault_harness_finds_no_bug", ["rebuild the view", "checkpoint"]),
    ("truncates the live view to rebuild", module_with(Projector=TruncatesInPlace),
     "fault_harness_finds_no_bug", ["while the rebuild runs", "never see an older view"]),
    ("loses runs recorded during a rebuild", module_with(Projector=LosesRunsDuringRebuild),
     "fault_harness_finds_no_bug", ["while it runs", "recorded while the rebuild ran"]),
    ("mutates history", module_with(Projector=MutatesHistory),
     "fault_harness_finds_no_bug", ["write.all()", "Recorded history never changes"]),
    ("shows tenants each other's counts", module_with(Projector=LeaksTenants),
     "fault_harness_finds_no_delivery_bug", ["view says", "in its own tenant"]),
]


@pytest.mark.parametrize(("impl", "check_name", "phrases"),
                         [pytest.param(i, c, p, id=name) for name, i, c, p in HARNESS_CASES])
def test_fault_harness_catches_it(impl: ModuleType, check_name: str, phrases: list[str]) -> None:
    message = failure(check_name, impl)
    assert message.startswith("called   these operations, in order")
    assert "\n           1. " in message
    for phrase in phrases:
        assert phrase in message, f"{phrase!r} missing from:\n{message}"


# The step's other checks catch the same mistakes one at a time, each with its own message. --


class AcceptsGaps(View):
    def apply(self, event: Event) -> bool:
        if event.position <= self.checkpoint:
            return False
        per_status = self.counts.setdefault(event.tenant, {})
        per_status[event.status] = per_status.get(event.status, 0) + 1
        self.checkpoint = event.position
        return True


class HalfAppliesBatch(Projector):
    """Applies event by event, so a gap in the middle leaves the first half applied."""

    def deliver(self, events: Sequence[Event]) -> int:
        if not isinstance(events, list | tuple):
            raise TypeError("deliver() takes a list")
        applied = 0
        for e in events:
            if not isinstance(e, Event):
                raise TypeError("not an Event")
            if type(e.position) is not int or e.position < 1:
                raise ValueError("bad position")
            applied += self.store.current.apply(e)
        return applied


class NoProgress(Projector):
    def rebuild(self, on_progress: ProgressCallback | None = None,
                every: int = reference.REBUILD_EVERY) -> None:
        super().rebuild(None, every)


CHECK_CASES: list[tuple[str, ModuleType, str, str]] = [
    ("counts duplicates", module_with(View=CountsDuplicates),
     "skips_duplicates_and_late_events", "got      True\nexpected False"),
    ("accepts a gap", module_with(View=AcceptsGaps),
     "refuses_a_gap", "it returned True without complaint"),
    ("half-applies a batch with a gap", module_with(Projector=HalfAppliesBatch),
     "bad_batches_change_nothing", "must leave the view as it was, not half applied"),
    ("checkpoint kept apart from the view", module_with(Projector=CheckpointApart),
     "survives_a_crash_before_the_ack", "its checkpoint is in the store too"),
    ("truncates the live view to rebuild", module_with(Projector=TruncatesInPlace),
     "readers_never_see_half_done", "never zeros or half the counts"),
    ("forgets the checkpoint on rebuild", module_with(Projector=ForgetsCheckpointOnRebuild),
     "rebuild_repairs_and_is_idempotent", "called   checkpoint after rebuild()\ngot      0"),
    ("loses runs recorded during a rebuild", module_with(Projector=LosesRunsDuringRebuild),
     "runs_recorded_during_a_rebuild_count_once", "take in the runs that arrived"),
    ("reports no progress", module_with(Projector=NoProgress),
     "progress_is_reported", "got      []"),
    ("reports no progress, to the harness", module_with(Projector=NoProgress),
     "fault_harness_finds_no_bug", "rebuild() returned without calling on_progress"),
]


@pytest.mark.parametrize(("impl", "check_name", "phrase"),
                         [pytest.param(i, c, p, id=name) for name, i, c, p in CHECK_CASES])
def test_targeted_check_catches_it(impl: ModuleType, check_name: str, phrase: str) -> None:
    message = failure(check_name, impl)
    assert phrase in message, f"{phrase!r} missing from:\n{message}"


def test_the_reference_passes_every_check() -> None:
    for check in STEP.checks:
        check(reference)
