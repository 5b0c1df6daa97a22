# CORRECT: written from the stub's docstrings, the notebook and the hints (not from solutions/).
"""Step 04 — replays and idempotency: a projector that never double-counts.

Delivery is at-least-once: an event may arrive twice, a replay may start again from position 1,
an old event may turn up late, and a projector may crash after updating the view but before
anyone noted how far it got. Counters are not idempotent (``inc`` twice counts twice), so the
view keeps a *checkpoint*, the position of the last event it applied, right next to its counts,
and skips every event at or below it. A rebuild builds a fresh view aside and swaps it in at
once, so readers never see a half-built one.

Events are step 03's ``Event``: ``position`` is the run's place in the write log (1-based).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from solutions.step02 import RunsWrite, validate_name
from solutions.step03 import Event

ProgressCallback = Callable[[int, int], None]
"""Called as ``on_progress(done, total)`` while a rebuild runs: positions done of positions."""

REBUILD_EVERY = 10_000
"""How many positions a rebuild folds between two progress reports, unless told otherwise."""


def missing(checkpoint: int, position: int) -> str:
    """Words for the gap between ``checkpoint`` and a later ``position``, for error messages."""
    first, last = checkpoint + 1, position - 1
    return f"position {first} is missing" if first == last else \
        f"positions {first}..{last} are missing"


@dataclass
class View:
    """The counts and the checkpoint, kept together: one record, changed in one step.

    ``counts[tenant][status]`` is how many such runs the view has applied; ``checkpoint`` is
    the position of the last event applied (0 for none). Because both live here, whatever
    stores the view stores the checkpoint with it, and a crash can never separate them.
    """

    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    checkpoint: int = 0

    def summary(self, tenant: str) -> dict[str, int]:
        """``{status: count}`` for ``tenant`` (a copy; ``{}`` for a tenant with no runs)."""
        return dict(self.counts.get(tenant, {}))

    def apply(self, event: Event) -> bool:
        """Apply one event unless the view already has it; return True if it was counted.

        - ``event.position <= self.checkpoint``: the view already counted it (a duplicate, a
          replay, a late redelivery). Change nothing and return False.
        - ``event.position == self.checkpoint + 1``: the next event. Add one to
          ``counts[event.tenant][event.status]`` *and* move ``checkpoint`` to its position,
          together, then return True.
        - anything further ahead is a gap: an event in between never arrived, and counting
          this one would let the missing one be skipped forever. Raise ``ValueError`` saying
          which positions are missing (``missing()`` words it), and change nothing.

        Check the event first: it must be an ``Event`` whose ``position`` is an int >= 1 (not a
        bool, not ``2.0``) and whose tenant and status ``validate_name`` accepts; anything else
        raises ``TypeError`` or ``ValueError`` and changes nothing, duplicate or not.
        """
        if not isinstance(event, Event) or type(event.position) is not int:
            raise TypeError(f"apply() takes an Event with an int position, got {event!r}")
        if event.position < 1:
            raise ValueError(f"positions start at 1, got {event.position}")
        validate_name("tenant", event.tenant)
        validate_name("status", event.status)
        if event.position <= self.checkpoint:
            return False
        if event.position != self.checkpoint + 1:
            raise ValueError(
                f"event at position {event.position} after checkpoint {self.checkpoint}: "
                f"{missing(self.checkpoint, event.position)}; deliver those first"
            )
        per_status = self.counts.setdefault(event.tenant, {})
        per_status[event.status] = per_status.get(event.status, 0) + 1
        self.checkpoint = event.position
        return True


@dataclass
class ViewStore:
    """Where the live view is kept; it outlives any projector (think: a table on disk).

    Readers read ``current``. A projector that crashes is replaced by a new one built on the
    same store, so what is in here survives a crash and nothing else does.
    """

    current: View = field(default_factory=View)


@dataclass
class Projector:
    """Applies delivered events to the view in ``store``; can rebuild it from ``write``.

    A projector keeps nothing of its own that matters: its checkpoint is the view's. After a
    crash, ``Projector(write, store)`` on the same store carries on where the view got to.
    """

    write: RunsWrite
    store: ViewStore = field(default_factory=ViewStore)

    @property
    def checkpoint(self) -> int:
        """Position of the last event the live view has applied."""
        return self.store.current.checkpoint

    def summary(self, tenant: str) -> dict[str, int]:
        """What a reader sees for ``tenant``: the live view's counts."""
        return self.store.current.summary(tenant)

    def deliver(self, events: Sequence[Event]) -> int:
        """Apply a batch of delivered events to the live view; return how many were new.

        The live view is ``self.store.current``; keep nothing on the projector itself, since
        a crash throws the projector away and keeps only the store. The batch may hold
        events the view already has (duplicates, replays, late ones), in any order and more
        than once: they count for nothing. Take the events in the batch's order; an event is
        new when it is the next position after the last one applied, the batch's own earlier
        events included. Check the whole batch *before* changing anything: a batch that is not
        a list or tuple of ``Event``, holds a position that is not an int >= 1 (not a bool), an
        event that is not the run at its position in the write log (``self.write.since``
        reads it) or a position past the log's end, or leaves a gap (see ``View.apply``)
        raises TypeError or ValueError and leaves the view exactly as it was. An empty batch
        is fine and returns 0. Leave the caller's batch as it was.
        """
        if not isinstance(events, (list, tuple)):
            raise TypeError(f"a batch must be a list or tuple of Event, got "
                            f"{type(events).__name__}; pass e.g. [event1, event2]")
        view = self.store.current
        upto = view.checkpoint
        new: list[Event] = []
        for index, event in enumerate(events):
            if not isinstance(event, Event):
                raise TypeError(f"batch item {index} is {event!r}, not an Event; "
                                "pass only Event objects")
            position = event.position
            if type(position) is not int:
                raise TypeError(f"batch item {index} has position {position!r}, not an int; "
                                "positions are ints from 1")
            if position < 1:
                raise ValueError(f"batch item {index} has position {position}; positions "
                                 "start at 1")
            logged = self.write.since(position - 1, 1)
            if not logged or (logged[0].tenant, logged[0].status) != (event.tenant, event.status):
                raise ValueError(f"batch item {index} is not the write log's run at position "
                                 f"{position}; nothing was applied")
            if position <= upto:
                continue
            if position != upto + 1:
                raise ValueError(f"batch item {index} is at position {position} after "
                                 f"{upto}: {missing(upto, position)}; nothing was applied")
            upto = position
            new.append(event)
        for event in new:
            view.apply(event)
        return len(new)

    def rebuild(self, on_progress: ProgressCallback | None = None,
                every: int = REBUILD_EVERY) -> None:
        """Recompute the view from ``self.write.all()`` aside, then swap it in at once.

        Build a brand-new ``View`` from the runs (the run at index ``i`` has position
        ``i + 1``) and set its checkpoint to the last position folded. While it is being
        built, readers keep reading the old ``self.store.current``: never zeros, never half
        the counts. Call ``on_progress(done, total)`` (when given) each time ``every`` more
        positions are folded and when the last one is: with ``every=2`` and 5 runs that is
        ``(2, 5)``, ``(4, 5)``, ``(5, 5)``. For an empty log call it once with ``(0, 0)``.
        ``total`` is the number of runs in the log when the rebuild began.

        Runs recorded while you were building (``on_progress`` may record and deliver) are
        in ``self.write.all()`` by the end: apply them to the new view too, so none is lost.
        Then make the new view live with one assignment to ``self.store.current``. Events
        delivered later at or below its checkpoint are skipped, so nothing counts twice.

        ``on_progress`` must be callable or None and ``every`` an int >= 1 (not a bool);
        otherwise raise TypeError or ValueError before doing anything.
        """
        if on_progress is not None and not callable(on_progress):
            raise TypeError(f"on_progress must be callable or None, got {on_progress!r}")
        if type(every) is not int:
            raise TypeError(f"every must be an int, got {every!r}; pass e.g. every=1000")
        if every < 1:
            raise ValueError(f"every must be >= 1, got {every}; pass e.g. every=1000")
        runs = self.write.all()
        total = len(runs)
        fresh = View()
        for position, run in enumerate(runs, start=1):
            per_status = fresh.counts.setdefault(run.tenant, {})
            per_status[run.status] = per_status.get(run.status, 0) + 1
            fresh.checkpoint = position
            if on_progress is not None and (position % every == 0 or position == total):
                on_progress(position, total)
        if total == 0 and on_progress is not None:
            on_progress(0, 0)
        later = self.write.all()[fresh.checkpoint:]
        for position, run in enumerate(later, start=fresh.checkpoint + 1):
            fresh.apply(Event(position, run.tenant, run.status, 0.0))
        self.store.current = fresh
