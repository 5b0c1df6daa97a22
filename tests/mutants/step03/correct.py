# CORRECT: written from the stub's docstrings, the notebook and the hints (not from solutions/).
"""Step 03 — eventual projection: ``record`` enqueues, a projector ``drain``s.

The write store is still the truth and is updated at once. The view is no longer touched by
``record``: each run becomes an ``Event`` on a queue, carrying its position in the write log,
and ``drain`` applies queued events to the view later. Between the two the view lags, and
``lag`` says by how much: events behind, and how long the oldest of them has waited.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from solutions.step02 import MemoryRead, MemoryWrite, Run, RunsRead, RunsWrite, validate_name

__all__ = [
    "Clock", "Event", "Lag", "MemoryRead", "MemoryWrite", "NotCaughtUp", "QueuedRunService",
    "Run", "RunsRead", "RunsWrite", "validate_name",
]

Clock = Callable[[], float]
"""Seconds as a float; ``time.monotonic`` in real use, a fake in tests."""


@dataclass(frozen=True)
class Event:
    """A run to project: the run at ``position`` (1-based) in the write log, and when."""

    position: int
    tenant: str
    status: str
    recorded_at: float


@dataclass(frozen=True)
class Lag:
    """How far the view is behind the truth."""

    events: int
    """Events recorded but not applied to the view yet."""
    oldest_age: float
    """Seconds the oldest unapplied event has waited; 0.0 when the view is caught up."""


class NotCaughtUp(TimeoutError):
    """The view did not reach the wanted position in time."""


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass
class QueuedRunService:
    """``record`` writes the truth and enqueues an event; ``drain`` brings the view up to date.

    One lock guards the write log, the queue and the view together, so a projector thread may
    drain while another thread records, and no event is ever applied twice or lost. That lock
    is ``self._changed``, a ``threading.Condition``: hold it (``with self._changed:``) while
    touching the write log, the queue, the counters or the view, and call
    ``self._changed.notify_all()`` whenever ``applied`` moves, so that readers in ``wait_for``
    wake up.
    """

    write: RunsWrite
    read: RunsRead
    clock: Clock = time.monotonic
    queue: deque[Event] = field(default_factory=deque)
    written: int = 0
    """Position of the last run written to the write store."""
    applied: int = 0
    """Position of the last event applied to the view."""
    _changed: threading.Condition = field(default_factory=threading.Condition, repr=False)

    @property
    def lock(self) -> threading.Condition:
        """The lock that guards the queue and the view (re-entrant, so methods nest inside it).

        Hold it to read several numbers as one consistent snapshot, as the dashboard does.
        """
        return self._changed

    def record(self, tenant: str, status: str) -> int:
        """Store the run as truth and enqueue its event; return the run's position.

        The position is the run's place in the write log, counting from 1; the event carries
        it, the tenant, the status and ``self.clock()`` at the time of recording. Validate
        first (``validate_name``) and read the clock before changing anything, so that bad
        input or a failing clock raises and changes nothing. Do not touch the view: that is
        ``drain``'s job now.
        """
        run = Run(validate_name("tenant", tenant), validate_name("status", status))
        with self._changed:
            now = self.clock()
            self.write.add(run)
            self.written += 1
            self.queue.append(Event(self.written, run.tenant, run.status, now))
            return self.written

    def drain(self, max_events: int | None = None) -> int:
        """Apply queued events to the view, oldest first; return how many were applied.

        With ``max_events`` apply at most that many. ``max_events`` must be None or an int
        >= 0 (not a bool): anything else raises (TypeError or ValueError, naming
        ``max_events``) and applies nothing. Keep ``applied`` at the position of the last
        applied event, and notify waiting readers.
        """
        if max_events is not None:
            if not _is_int(max_events):
                raise TypeError(
                    f"max_events must be None or an int, got {max_events!r}; "
                    "pass e.g. drain(10), or drain() for everything"
                )
            if max_events < 0:
                raise ValueError(
                    f"max_events must be >= 0, got {max_events!r}; "
                    "pass e.g. drain(10), or drain() for everything"
                )
        with self._changed:
            count = len(self.queue) if max_events is None else min(max_events, len(self.queue))
            for _ in range(count):
                event = self.queue.popleft()
                self.read.inc(event.tenant, event.status)
                self.applied = event.position
            if count:
                self._changed.notify_all()
            return count

    def lag(self) -> Lag:
        """How many events wait to be applied, and the age of the oldest (by ``clock``).

        ``Lag(0, 0.0)`` when nothing waits, however long ago the last run was recorded.
        Looking changes nothing.
        """
        with self._changed:
            if not self.queue:
                return Lag(0, 0.0)
            return Lag(len(self.queue), self.clock() - self.queue[0].recorded_at)

    def wait_for(self, position: int, timeout: float) -> None:
        """Read-your-writes: return once the view has applied ``position``.

        Return at once when it already has. Otherwise wait (someone else drains) for at most
        ``timeout`` seconds, waking at every drain and waiting again until ``position`` is
        applied; then raise ``NotCaughtUp`` saying where the view got to and what was wanted.
        Bad input raises at once and waits for nothing: ``position`` must be an int (not a
        bool) that was written already (0 <= position <= ``written``), else waiting could never
        succeed; ``timeout`` must be a number of seconds >= 0 (not a bool; ``float("inf")``
        waits as long as it takes). Waiting changes nothing.
        """
        if not _is_int(position):
            raise TypeError(f"position must be an int, got {position!r}; pass what record() "
                            "returned")
        if isinstance(timeout, bool) or not isinstance(timeout, (int, float)):
            raise TypeError(f"timeout must be a number of seconds, got {timeout!r}; "
                            "pass e.g. timeout=1.0")
        if math.isnan(timeout) or timeout < 0:
            raise ValueError(f"timeout must be >= 0 seconds, got {timeout!r}; "
                             "pass e.g. timeout=1.0")
        with self._changed:
            if not 0 <= position <= self.written:
                raise ValueError(
                    f"position {position} was never written (positions 0..{self.written} "
                    "exist), so the view can never reach it; pass what record() returned"
                )
            wait = None if math.isinf(timeout) else float(timeout)
            if not self._changed.wait_for(lambda: self.applied >= position, wait):
                raise NotCaughtUp(
                    f"the view applied position {self.applied} of {self.written}, not "
                    f"{position}, within {timeout} s; {len(self.queue)} events still queued"
                )

    def rebuild_read_model(self) -> None:
        """Recompute the view from ``write.all()`` and leave the queue consistent with it.

        Every run in the write store is in the rebuilt view, so no queued event may be
        applied again afterwards: nothing is counted twice. Afterwards ``applied`` equals
        ``written``, and readers waiting in ``wait_for`` are woken.
        """
        with self._changed:
            self.read.reset()
            for run in self.write.all():
                self.read.inc(run.tenant, run.status)
            self.queue.clear()
            self.applied = self.written
            self._changed.notify_all()
