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

from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from solutions.step02 import RunsWrite, validate_name, whole_number
from solutions.step03 import Event

ProgressCallback = Callable[[int, int], None]
"""Called as ``on_progress(done, total)`` while a rebuild runs: positions done of positions."""

REBUILD_EVERY = 10_000
"""How many positions a rebuild folds between two progress reports, unless told otherwise."""


def checked_position(event: object) -> int:
    """The position of ``event`` if it is an ``Event`` with an int position >= 1, else
    ``TypeError`` or ``ValueError`` saying what was wrong."""
    if not isinstance(event, Event):
        raise TypeError(f"{event!r:.60} is a {type(event).__name__}, not an Event; deliver the "
                        "Events of the write log")
    position = event.position
    if isinstance(position, bool) or not isinstance(position, int):
        raise TypeError(f"an event's position must be an int, got {type(position).__name__} "
                        f"{position!r:.20}; positions are whole numbers from 1 up")
    if position < 1:
        raise ValueError(f"an event has position {position}; positions are whole numbers from "
                         "1 up")
    return position


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
        # BEGIN SOLUTION
        position = checked_position(event)
        validate_name("tenant", event.tenant)
        validate_name("status", event.status)
        if position <= self.checkpoint:
            return False
        if position != self.checkpoint + 1:
            raise ValueError(
                f"event at position {position} arrived, but the view's checkpoint is "
                f"{self.checkpoint}: {missing(self.checkpoint, position)}. Deliver events "
                "in order, starting after the checkpoint.")
        per_status = self.counts.setdefault(event.tenant, {})
        per_status[event.status] = per_status.get(event.status, 0) + 1
        self.checkpoint = position
        return True
        # END SOLUTION


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
        # BEGIN SOLUTION
        if not isinstance(events, list | tuple):
            raise TypeError(f"deliver() takes a list of Event, got {type(events).__name__}; "
                            "wrap a single event as [event], or pass list(...) of a generator")
        view = self.store.current
        if not events:
            return 0
        positions = [checked_position(event) for event in events]
        upto = view.checkpoint
        new: list[Event] = []
        for event, position in zip(events, positions, strict=True):
            if position <= upto:
                continue  # the view has it already: a duplicate, a replay, a late one
            if position != upto + 1:
                raise ValueError(
                    f"deliver(): event at position {position} comes after position {upto}, "
                    f"so {missing(upto, position)}; nothing was applied. Deliver events in "
                    f"order, from the checkpoint ({view.checkpoint}) on.")
            upto = position
            new.append(event)
        first, last = min(positions), max(positions)
        log = self.write.since(first - 1, last - first + 1)  # only the span the batch covers
        if len(log) < last - first + 1:
            raise ValueError(f"deliver(): the write log has no run at position "
                             f"{first + len(log)}; nothing was applied. Deliver the events "
                             "of runs that were recorded.")
        for event, position in zip(events, positions, strict=True):
            run = log[position - first]
            if event.tenant != run.tenant or event.status != run.status:
                raise ValueError(f"deliver(): the event at position {position} says "
                                 f"{event.tenant!r:.30}/{event.status!r:.30}, but the write log "
                                 f"has {run.tenant!r}/{run.status!r} there; nothing was applied")
        counts = view.counts  # the same as view.apply(event) for each new event, only faster
        for event in new:
            per_status = counts.get(event.tenant)
            if per_status is None:
                per_status = counts[event.tenant] = {}
            per_status[event.status] = per_status.get(event.status, 0) + 1
        view.checkpoint = upto
        return len(new)
        # END SOLUTION

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
        # BEGIN SOLUTION
        if on_progress is not None and not callable(on_progress):
            raise TypeError(f"on_progress must be a function taking (done, total) or None, "
                            f"got {type(on_progress).__name__}")
        if whole_number("every", every) < 1:
            raise ValueError(f"every must be 1 or more, got {every}")
        runs = self.write.all()
        total = len(runs)
        fresh = View()
        counts = fresh.counts
        for start in range(0, total, every):
            batch = Counter((r.tenant, r.status) for r in runs[start:start + every])
            for (tenant, status), n in batch.items():
                per_status = counts.setdefault(tenant, {})
                per_status[status] = per_status.get(status, 0) + n
            fresh.checkpoint = min(start + every, total)
            if on_progress is not None:
                on_progress(fresh.checkpoint, total)
        if total == 0 and on_progress is not None:
            on_progress(0, 0)
        # Runs recorded while the view was being built: bring the new view up to date.
        later = self.write.since(fresh.checkpoint)
        for position, run in enumerate(later, start=fresh.checkpoint + 1):
            fresh.apply(Event(position, run.tenant, run.status, 0.0))  # no time in the log
        self.store.current = fresh  # the swap: readers see the old view, then the new one
        # END SOLUTION
