"""The fault harness: attack a projector with what at-least-once delivery really does.

Hypothesis generates sequences of operations: record a run, deliver the next batch, deliver the
last batch again, replay everything from position 1, redeliver an old event late, crash between
updating the view and acknowledging the delivery, rebuild (while more runs are recorded and
delivered). After every operation the harness checks what a reader would see:

- the view equals the write log folded up to the view's own checkpoint, for every tenant (so
  nothing is counted twice or missed, and no tenant sees another's runs);
- the checkpoint never goes back (a reader never sees an older view, nor zeros mid-rebuild);
- recorded history never changes;
- after catching up, the view equals the whole write log.

A failure comes back as :class:`HarnessFailure`, holding the shrunk operations as numbered plain
steps and the wrong and the right counts. ``NotImplementedError`` from unwritten code passes
through untouched, so a fresh stub reads as "not started", never as a counterexample.

What the harness drives is :class:`Projector`; a crash throws the projector object away and
builds a new one on the same storage, so only what the projector keeps in its storage survives.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from hypothesis import strategies as st

from cqrs_kata.course.expect import same

# Notebook 04 imports the driver's names it uses from here, with the harness.
from cqrs_kata.steps.driver import HarnessFailure as HarnessFailure
from cqrs_kata.steps.driver import examples_wanted as examples_wanted
from cqrs_kata.steps.driver import search
from cqrs_kata.steps.oracle import folded
from solutions.step02 import MemoryWrite, Run, RunsWrite
from solutions.step03 import Event

MAX_OPERATIONS = 12
TENANTS = ("t1", "t2")
STATUSES = ("ok", "fail")
NOBODY = "nobody"
"""A tenant that never records anything: its summary must stay empty."""


class Projector(Protocol):
    """What the harness drives (step 04's ``Projector`` is one)."""

    @property
    def checkpoint(self) -> int:
        """Position of the last event the live view has applied."""
        ...

    def deliver(self, events: Sequence[Event]) -> int:
        """Apply a batch of delivered events (possibly old or repeated ones)."""
        ...

    def summary(self, tenant: str) -> dict[str, int]:
        """What a reader sees for ``tenant``."""
        ...

    def rebuild(self, on_progress: Callable[[int, int], None] | None = None,
                every: int = ...) -> None:
        """Recompute the view from the write log, reporting ``on_progress(done, total)``."""
        ...


@dataclass(frozen=True)
class Subject:
    """How to build the projector under attack.

    ``new_storage()`` makes the storage the view lives in (it survives crashes);
    ``projector(write, storage)`` builds a projector on it, at the start and after every crash.
    """

    new_storage: Callable[[], Any]
    projector: Callable[[RunsWrite, Any], Projector]


# Operations -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """Record a run in the write log (the projector hears of it only by delivery)."""

    tenant: str
    status: str


@dataclass(frozen=True)
class Drain:
    """Deliver the next events (at most ``max_events``; all when None) as one batch, then ack."""

    max_events: int | None


@dataclass(frozen=True)
class Jumbled:
    """Deliver the next events as one batch with repeats mixed in: before the new event at each
    slot, copies of events below it (old ones, or new ones earlier in the batch); then ack."""

    max_events: int | None
    repeats: tuple[tuple[int, int], ...]
    """(slot, back): before new event number ``slot`` (mod the batch), the event ``back`` + 1
    positions below it (mod the positions below it)."""


@dataclass(frozen=True)
class Refused:
    """Deliver a batch the projector must refuse, changing nothing: the next two events in the
    wrong order (a gap), or the next events as a generator (not a list)."""

    kind: str


@dataclass(frozen=True)
class Duplicate:
    """Deliver the last batch again: its acknowledgement got lost on the way back."""


@dataclass(frozen=True)
class Replay:
    """Deliver every acknowledged event again, from position 1: someone reset the offset."""


@dataclass(frozen=True)
class Late:
    """Deliver one old, acknowledged event again after newer ones: a slow retry."""

    back: int


@dataclass(frozen=True)
class Crash:
    """Deliver the next batch, let the view update, then crash before the acknowledgement."""

    max_events: int | None


@dataclass(frozen=True)
class Rebuild:
    """Rebuild the view; while it runs, record ``during`` and deliver to the live view."""

    during: tuple[tuple[str, str], ...]


Operation = Record | Drain | Jumbled | Refused | Duplicate | Replay | Late | Crash | Rebuild

# In order of how plainly a failure reads: Hypothesis shrinks towards the earlier ones.
ALL_OPERATIONS = ("record", "drain", "duplicate", "replay", "late", "crash", "rebuild",
                  "jumbled", "refused")
DELIVERY_OPERATIONS = tuple(n for n in ALL_OPERATIONS if n != "rebuild")

_WHY: dict[str, str] = {
    "record": "Recording a run must not touch the view; only deliveries do.",
    "drain": "Every new event in a batch is counted once, all of them, and the checkpoint "
             "moves to the last one.",
    "redelivered": "Events delivered before but never acknowledged come again: they are at "
                   "or below the checkpoint, so skip them and count nothing.",
    "jumbled": "Take a batch in its order: an event is new only when it is the next position "
               "after the last one applied (this batch's earlier events included); every "
               "repeat, old or from this very batch, counts nothing.",
    "refused": "A batch that is not a list or tuple, or that leaves a gap, raises TypeError or "
               "ValueError before anything changes.",
    "duplicate": "A redelivered batch is at or below the checkpoint: skip it, count nothing.",
    "replay": "A replay from position 1 brings only events at or below the checkpoint: skip "
              "them, count nothing.",
    "late": "A late event is at or below the checkpoint: skip it, count nothing.",
    "crash": "After a crash a new projector starts on the same storage; keep the checkpoint "
             "in that storage, next to the counts, so the redelivered batch is skipped.",
    "rebuild": "Build the new view aside from write.all(), give it the checkpoint of the last "
               "position it folded, bring it up to the end of the log, then swap it in at "
               "once.",
}


def _span(events: Sequence[Event]) -> str:
    first, last = events[0].position, events[-1].position
    return f"position {first}" if first == last else f"positions {first}..{last}"


@dataclass
class _World:
    """One attack: the write log, the delivery channel and the projector, and what was seen."""

    subject: Subject
    write: MemoryWrite = field(default_factory=MemoryWrite)
    runs: list[Run] = field(default_factory=list)
    """The harness's own copy of history, to tell if the projector changed the log."""
    published: list[Event] = field(default_factory=list)
    acked: int = 0
    """The delivery channel's cursor: events up to here were delivered and acknowledged."""
    sent: int = 0
    """The highest position ever delivered, acknowledged or not."""
    last_batch: list[Event] = field(default_factory=list)
    steps: list[str] = field(default_factory=list)
    cause: str | None = None
    """What the latest step did (a key of _WHY), to say why a failure after it is wrong."""
    highest: int = 0
    """The highest checkpoint a reader has seen so far."""
    storage: Any = None
    projector: Any = None

    def start(self) -> None:
        self.storage = self.subject.new_storage()
        self.projector = self.subject.projector(self.write, self.storage)

    def step(self, cause: str, text: str) -> None:
        self.cause = cause
        self.steps.append(text)

    def fail(self, got: str, expected: str, why: str) -> HarnessFailure:
        return HarnessFailure(self.steps, got, expected, why)

    def because(self, first: str) -> str:
        return f"{first} {_WHY[self.cause]}" if self.cause else first

    # -- what a reader sees --------------------------------------------------------------

    def history_intact(self, when: str) -> None:
        if not same(self.write.all(), self.runs):
            raise self.fail(f"write.all() {when} is {self.write.all()!r}",
                            f"{self.runs!r}, the runs recorded",
                            "Recorded history never changes: a projector reads write.all() "
                            "and never edits the log.")

    def look(self, when: str) -> None:
        """Check everything a reader could see now; raise HarnessFailure if anything is off."""
        self.history_intact(when)
        checkpoint = self.projector.checkpoint
        if type(checkpoint) is not int or not 0 <= checkpoint <= len(self.runs):
            raise self.fail(f"the view's checkpoint {when} is {checkpoint!r}",
                            f"a position from 0 to {len(self.runs)} (the runs recorded)",
                            "The checkpoint is the position of the last event the view applied.")
        if checkpoint < self.highest:
            raise self.fail(f"the view's checkpoint {when} is {checkpoint}",
                            f"at least {self.highest}, where a reader had already seen it",
                            self.because("The checkpoint only ever moves forward: a reader who "
                                         "saw the view at one position must never see an "
                                         "older view (or zeros) afterwards."))
        view = {t: self.projector.summary(t) for t in (*TENANTS, NOBODY)}
        view = {t: counts for t, counts in view.items() if counts}
        truth = folded(self.runs[:checkpoint])
        if not same(view, truth):
            upto = f"positions 1..{checkpoint}" if checkpoint else "no positions"
            raise self.fail(f"view says {view} {when}",
                            f"the write log says {truth} (checkpoint {checkpoint})",
                            self.because("The view must equal the write log folded up to the "
                                         f"view's checkpoint ({upto}): every event there "
                                         "counted exactly once, in its own tenant."))
        self.highest = checkpoint

    # -- what the delivery channel does ------------------------------------------------

    def pending(self, max_events: int | None) -> list[Event]:
        rest = self.published[self.acked:]
        return rest if max_events is None else rest[:max_events]

    def deliver(self, batch: list[Event]) -> None:
        self.projector.deliver(list(batch))
        if batch:
            self.sent = max(self.sent, batch[-1].position)

    def deliver_pending(self, batch: list[Event], how: str, then: str = "") -> None:
        """Deliver the next events and acknowledge them (some may have been sent before)."""
        resent = [e for e in batch if e.position <= self.sent]
        if resent:
            one = len(resent) == 1
            self.step("redelivered", f"{how} {_span(batch)}{then} ({_span(resent)} "
                      f"{'was' if one else 'were'} sent before a crash but never acknowledged, "
                      f"so {'it comes' if one else 'they come'} again)")
        else:
            self.step("drain", f"{how} {_span(batch)}{then}" if batch else
                      f"{how} an empty batch (nothing is left to deliver)")
        self.deliver(batch)
        self.acked += len(batch)
        if batch:
            self.last_batch = batch

    def record(self, tenant: str, status: str) -> str:
        run = Run(tenant, status)
        self.write.add(run)
        self.runs.append(run)
        position = len(self.runs)
        self.published.append(Event(position, tenant, status, float(position)))
        return f"record({tenant!r}, {status!r}) -> position {position}"

    def perform(self, op: Operation) -> None:
        if isinstance(op, Record):
            self.step("record", self.record(op.tenant, op.status))
        elif isinstance(op, Drain):
            batch = self.pending(op.max_events)
            if batch:
                self.deliver_pending(batch, "deliver", " as one batch, acknowledged")
        elif isinstance(op, Jumbled):
            self.jumbled(op)
        elif isinstance(op, Refused):
            self.refused(op)
        elif isinstance(op, Crash):
            batch = self.pending(op.max_events)
            said = f"deliver {_span(batch)}, the view updates, then " if batch else ""
            self.step("crash", said + "the projector crashes before the delivery is "
                      "acknowledged; a new one starts on the same storage")
            if batch:
                self.deliver(batch)
            self.projector = self.subject.projector(self.write, self.storage)
        elif isinstance(op, Duplicate):
            if self.last_batch:
                self.step("duplicate", f"deliver {_span(self.last_batch)} again (a duplicate "
                          "batch: the acknowledgement was lost)")
                self.deliver(self.last_batch)
        elif isinstance(op, Replay):
            if self.acked:
                again = self.published[: self.acked]
                self.step("replay", f"replay from the start: deliver {_span(again)} again")
                self.deliver(again)
        elif isinstance(op, Late):
            if self.acked:
                old = self.published[self.acked - 1 - op.back % self.acked]
                self.step("late", f"deliver position {old.position} again, late (positions "
                          f"up to {self.acked} were already delivered)")
                self.deliver([old])
        else:
            self.rebuild(op)

    def jumbled(self, op: Jumbled) -> None:
        new = self.pending(op.max_events)
        if not new:
            return
        before: dict[int, list[Event]] = {}
        for slot, back in op.repeats:
            at = new[slot % len(new)]
            if at.position > 1:
                below = self.published[(at.position - 2 - back) % (at.position - 1)]
                before.setdefault(slot % len(new), []).append(below)
        batch = [e for i, event in enumerate(new) for e in (*before.get(i, ()), event)]
        batch += [new[back % len(new)] for _, back in op.repeats[:1]]  # and one at the end
        shown = [e.position for e in batch]
        self.step("jumbled", f"deliver positions {shown} as one batch ({_span(new).lower()} "
                  "new, the rest repeats), acknowledged")
        self.deliver(batch)
        self.acked += len(new)
        self.last_batch = batch

    def refused(self, op: Refused) -> None:
        # The two positions after the view's own checkpoint (look() has checked it): after a
        # crash, events sent but never acknowledged may be in the view already, and those,
        # swapped, are repeats that count for nothing, not a gap.
        checkpoint = self.projector.checkpoint
        new = self.published[checkpoint:checkpoint + 2]
        if op.kind == "gap" and len(new) == 2:
            batch: Any = [new[1], new[0]]
            said = f"deliver positions {[e.position for e in batch]} (out of order: a gap)"
        elif op.kind == "generator" and new:
            batch = (e for e in new)
            said = f"deliver {_span(new).lower()} as a generator, not a list"
        else:
            return
        errors = (TypeError, ValueError)
        self.step("refused", said)
        try:
            self.projector.deliver(batch)
        except errors:
            return
        except NotImplementedError:
            raise
        except Exception as error:
            raise self.fail(f"it raised {type(error).__name__}: {error}",
                            " or ".join(e.__name__ for e in errors),
                            self.because("Say what kind of batch was wrong.")) from None
        raise self.fail("deliver() accepted it", "it to raise "
                        + " or ".join(e.__name__ for e in errors) + ", changing nothing",
                        self.because("Refuse it whole."))

    def rebuild(self, op: Rebuild) -> None:
        total = len(self.runs)
        said = "rebuild the view"
        if op.during:
            recorded = ", ".join(f"record({t!r}, {s!r})" for t, s in op.during)
            first, last = total + 1, total + len(op.during)
            where = f"position {first}" if first == last else f"positions {first}..{last}"
            said += (f"; while it runs, {recorded} -> {where}, and all not yet delivered is "
                     "delivered to the live view")
        self.step("rebuild", said)
        progress: list[tuple[int, int]] = []

        def on_progress(done: int, of: int) -> None:
            self.history_intact(f"while the rebuild runs (progress {done}/{of})")
            if not progress:
                for tenant, status in op.during:
                    self.record(tenant, status)
                batch = self.pending(None)
                if batch:
                    self.deliver(batch)
                    self.acked += len(batch)
                    self.last_batch = batch
            progress.append((done, of))
            self.look(f"while the rebuild runs (progress {done}/{of})")

        self.projector.rebuild(on_progress=on_progress, every=1)
        if not progress:
            raise self.fail("rebuild() returned without calling on_progress",
                            f"on_progress(done, total) called, ending with ({total}, {total})",
                            "Progress of a rebuild must be observable: report it as you go.")
        dones = [done for done, _ in progress]
        if not all(type(done) is int and type(of) is int for done, of in progress) or (
                progress[-1] != (total, total) or dones != sorted(dones) or any(
                of != total for _, of in progress)):
            raise self.fail(f"on_progress was called with {progress}",
                            f"calls with total {total} and done rising to {total}",
                            "Progress counts the positions folded, out of the runs in the log "
                            "when the rebuild began.")
        checkpoint = self.projector.checkpoint
        if checkpoint == total < len(self.runs):
            raise self.fail(f"after rebuild() the view's checkpoint is {checkpoint}",
                            f"{len(self.runs)}, the last position in the write log",
                            f"The runs at {_span(self.published[total:]).lower()} were "
                            "recorded while the rebuild ran, so they are in write.all() by its "
                            "end; apply them to the new view before the swap, or they are "
                            "lost.")
        self.look("after the rebuild")
        if self.projector.checkpoint != len(self.runs):
            raise self.fail(f"after rebuild() the view's checkpoint is "
                            f"{self.projector.checkpoint}",
                            f"{len(self.runs)}, the last position in the write log",
                            self.because("A rebuild folds every run in the log."))

    def catch_up(self) -> None:
        self.deliver_pending(self.pending(None), "catch up: deliver")
        self.look("after catching up")
        if self.projector.checkpoint != len(self.runs):
            raise self.fail(f"after catching up the view's checkpoint is "
                            f"{self.projector.checkpoint}",
                            f"{len(self.runs)}, the last position in the write log",
                            "Once everything is delivered the view has applied every run.")


def play(subject: Subject, operations: Sequence[Operation]) -> None:
    """Run ``operations`` against a fresh projector, then catch up; raise HarnessFailure if a
    reader ever sees something wrong. Errors from the projector become failures too, except
    NotImplementedError, which passes through (an unwritten stub is not a counterexample)."""
    world = _World(subject)
    try:
        world.start()
        for op in operations:
            world.perform(op)
            world.look("afterwards")
        world.catch_up()
    except (HarnessFailure, NotImplementedError):
        raise
    except Exception as error:
        where = (f", during step {len(world.steps)} ({world.steps[-1]})" if world.steps
                 else ", building the projector")
        raise world.fail(f"{type(error).__name__}: {error}{where}",
                         "no error: every step is something at-least-once delivery really does",
                         world.because("Take what delivery brings without an error.")
                         ) from error


def _strategy(names: Sequence[str]) -> st.SearchStrategy[list[Operation]]:
    tenant, status = st.sampled_from(TENANTS), st.sampled_from(STATUSES)
    batch = st.one_of(st.none(), st.integers(1, 3))
    options: dict[str, st.SearchStrategy[Operation]] = {
        "record": st.builds(Record, tenant, status),
        "drain": st.builds(Drain, batch),
        "jumbled": st.builds(Jumbled, batch, st.lists(st.tuples(st.integers(0, 3),
                                                                 st.integers(0, 5)),
                                                       min_size=1, max_size=4).map(tuple)),
        "refused": st.builds(Refused, st.sampled_from(("gap", "generator"))),
        "duplicate": st.just(Duplicate()),
        "replay": st.just(Replay()),
        "late": st.builds(Late, st.integers(0, 4)),
        "crash": st.builds(Crash, batch),
        "rebuild": st.builds(Rebuild, st.lists(st.tuples(tenant, status), max_size=2).map(tuple)),
    }
    return st.lists(st.one_of(*(options[n] for n in names)), max_size=MAX_OPERATIONS)


def attack(subject: Subject, operations: Sequence[str] = ALL_OPERATIONS,
           max_examples: int | None = None) -> None:
    """Try up to ``max_examples`` generated sequences of ``operations`` on ``subject``.

    Returns quietly when all pass; raises :class:`HarnessFailure` with the shrunk sequence when
    one fails. Deterministic: the same projector meets the same sequences on every run.
    """
    if not isinstance(subject, Subject) or not callable(subject.new_storage) or not callable(
            subject.projector):
        raise TypeError(f"attack() takes a Subject(new_storage, projector) of two callables, "
                        f"got {subject!r:.80}; e.g. Subject(ViewStore, Projector)")
    unknown = [n for n in operations if n not in ALL_OPERATIONS]
    if unknown or not operations:
        raise ValueError(f"unknown operations {unknown}; choose from {list(ALL_OPERATIONS)}"
                         if unknown else "attack() needs at least one operation")
    search(_strategy(operations), lambda ops: play(subject, ops), max_examples)
