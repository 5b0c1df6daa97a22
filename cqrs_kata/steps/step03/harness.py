"""Step 03's model-based check: the learner's queued service beside a plain model of it.

Hypothesis generates sequences of what a caller does with a ``QueuedRunService``: record runs
(the fake clock moving on), drain batches of every size, rebuild in the middle of a backlog,
ask for the lag, wait for positions already applied and not yet applied, and try bad input
(bad names, bad ``max_events``, a clock that fails). The same sequence is played against a
model made of plain lists. After every step everything a caller can observe is compared: the
write log, ``written``, ``applied``, the queued events, every tenant's summary, and ``lag()``.
A difference is reported as the shortest sequence Hypothesis found, in numbered plain steps,
with what the service says and what the model says (``HarnessFailure``, as in step 04).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any, ClassVar

from hypothesis import strategies as st

from cqrs_kata.steps.driver import Player, search
from cqrs_kata.steps.oracle import Counts, fold

TENANTS = ("t1", "t2")
STATUSES = ("ok", "fail")
BAD_NAMES = ("", "  ", "x" * 101, None, 7, "a\nb")
BAD_MAX_EVENTS = (-1, 1.5, True, "2")


class ClockFailed(RuntimeError):
    """What the harness's clock raises when an operation makes it fail."""


class Clock:
    """A clock the harness moves by hand; it can be told to fail once."""

    def __init__(self) -> None:
        self.now = 0.0
        self.fail_next = False

    def __call__(self) -> float:
        if self.fail_next:
            self.fail_next = False
            raise ClockFailed("the clock is broken")
        return self.now


# Operations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    tenant: str
    status: str
    later: float


@dataclass(frozen=True)
class Drain:
    max_events: int | None


@dataclass(frozen=True)
class Rebuild:
    pass


@dataclass(frozen=True)
class WaitApplied:
    back: int


@dataclass(frozen=True)
class WaitAhead:
    pass


@dataclass(frozen=True)
class BadRecord:
    bad: Any
    as_tenant: bool


@dataclass(frozen=True)
class BadDrain:
    bad: Any


@dataclass(frozen=True)
class ClockFails:
    tenant: str


Operation = (Record | Drain | Rebuild | WaitApplied | WaitAhead | BadRecord | BadDrain
             | ClockFails)


def operations() -> st.SearchStrategy[list[Operation]]:
    name = st.sampled_from(TENANTS)
    one: st.SearchStrategy[Operation] = st.one_of(
        st.builds(Record, name, st.sampled_from(STATUSES), st.sampled_from((0.0, 0.5, 2.0))),
        st.builds(Record, name, st.sampled_from(STATUSES), st.just(1.0)),
        st.builds(Drain, st.one_of(st.none(), st.integers(0, 4))),
        st.just(Rebuild()),
        st.builds(WaitApplied, st.integers(0, 3)),
        st.just(WaitAhead()),
        st.builds(BadRecord, st.sampled_from(BAD_NAMES), st.booleans()),
        st.builds(BadDrain, st.sampled_from(BAD_MAX_EVENTS)),
        st.builds(ClockFails, name),
    )
    return st.lists(one, max_size=14)


# The model ----------------------------------------------------------------------------------


@dataclass
class Model:
    """What a correct service holds, in plain lists."""

    log: list[tuple[str, str]] = field(default_factory=list)
    stamps: list[float] = field(default_factory=list)
    applied: int = 0

    @property
    def written(self) -> int:
        return len(self.log)

    def queued(self) -> list[tuple[int, str, str, float]]:
        return [(p, *self.log[p - 1], self.stamps[p - 1])
                for p in range(self.applied + 1, self.written + 1)]

    def view(self) -> Counts:
        return fold(self.log[: self.applied])

    def lag(self, now: float) -> tuple[int, float]:
        waiting = self.written - self.applied
        return (waiting, now - self.stamps[self.applied]) if waiting else (0, 0.0)


# Playing a sequence ---------------------------------------------------------------------------


_WHY = {
    "record": "record() appends the run to the write log and queues its event (position, "
              "tenant, status, clock time); the view waits for drain().",
    "drain": "drain(n) applies the n oldest queued events (all of them for None), moves "
             "applied to the last one, and returns how many it applied.",
    "rebuild": "A rebuild recomputes the view from the whole write log, empties the queue and "
               "sets applied to written, so nothing is counted twice.",
    "wait": "wait_for returns at once for a position already applied, and raises NotCaughtUp "
            "(after its timeout, here 0 s) for one that is not; it never drains.",
    "bad": "Bad input raises TypeError or ValueError before anything changes.",
    "clock": "record() reads the clock before changing anything: when the clock fails, the "
             "run is neither in the log nor queued.",
}


@dataclass
class _Play(Player):
    impl: ModuleType
    clock: Clock = field(default_factory=Clock)
    model: Model = field(default_factory=Model)
    steps: list[str] = field(default_factory=list)
    cause: str = ""
    svc: Any = None

    WHY: ClassVar[Mapping[str, str]] = _WHY
    UNEXPECTED: ClassVar[str] = "no error: each step is something a caller may do"

    def look(self) -> None:
        """Compare everything a caller can observe with the model."""
        svc, model = self.svc, self.model
        runs = [(r.tenant, r.status) for r in svc.write.all()]
        self.expect("the write log (tenant, status)", runs, model.log)
        self.expect("(written, applied)", (svc.written, svc.applied),
                    (model.written, model.applied))
        queued = [(e.position, e.tenant, e.status, e.recorded_at) for e in svc.queue]
        self.expect("the queued events (position, tenant, status, recorded_at)", queued,
                    model.queued())
        view = {t: s for t in TENANTS if (s := svc.read.summary(t))}
        self.expect("the view (every tenant's summary)", view, model.view())
        lag = svc.lag()
        # Compared last: the log, the counters and the queue match the model, so a wrong lag
        # is lag()'s own mistake, whatever the step before it was.
        self.expect("lag() (events, oldest_age)", (lag.events, lag.oldest_age),
                    model.lag(self.clock.now),
                    "lag() counts the events still queued (written - applied) and the age of "
                    "the oldest of them (now - its recorded_at), (0, 0.0) when none waits; the "
                    "log, written, applied and the queue all match the model, so lag() is off.")

    def refused(self, called: str, action: Any, errors: tuple[type[BaseException], ...]) -> None:
        try:
            action()
        except errors:
            return
        except NotImplementedError:
            raise
        except Exception as error:
            raise self.fail(f"{called} raised {type(error).__name__}: {error}",
                            " or ".join(e.__name__ for e in errors)) from None
        raise self.fail(f"{called} returned without an error", " or ".join(
            e.__name__ for e in errors))

    def perform(self, op: Operation) -> None:
        svc, model = self.svc, self.model
        if isinstance(op, Record):
            self.clock.now += op.later
            self.step("record", f"at t={self.clock.now:g}: record({op.tenant!r}, "
                      f"{op.status!r})")
            position = svc.record(op.tenant, op.status)
            model.log.append((op.tenant, op.status))
            model.stamps.append(self.clock.now)
            self.expect(f"the position record({op.tenant!r}, {op.status!r}) returned", position,
                        model.written)
        elif isinstance(op, Drain):
            self.step("drain", f"drain({op.max_events})")
            count = svc.drain(op.max_events)
            waiting = model.written - model.applied
            n = waiting if op.max_events is None else min(op.max_events, waiting)
            model.applied += n
            self.expect(f"what drain({op.max_events}) returned", count, n)
        elif isinstance(op, Rebuild):
            self.step("rebuild", "rebuild_read_model()")
            svc.rebuild_read_model()
            model.applied = model.written
        elif isinstance(op, WaitApplied):
            position = max(model.applied - op.back, 0)
            self.step("wait", f"wait_for({position}, timeout=0) with applied == {model.applied}")
            try:
                svc.wait_for(position, 0)
            except self.impl.NotCaughtUp as error:
                raise self.fail(f"wait_for({position}, timeout=0) raised NotCaughtUp: {error}",
                                "it to return at once: that position is applied") from None
        elif isinstance(op, WaitAhead):
            if model.applied == model.written:
                return
            position = model.applied + 1
            self.step("wait", f"wait_for({position}, timeout=0) with applied == {model.applied}")
            self.refused(f"wait_for({position}, timeout=0)",
                         lambda: svc.wait_for(position, 0), (self.impl.NotCaughtUp,))
        elif isinstance(op, BadRecord):
            tenant, status = (op.bad, "ok") if op.as_tenant else ("t1", op.bad)
            called = f"record({tenant!r:.20}, {status!r:.20})"
            self.step("bad", called)
            self.refused(called, lambda: svc.record(tenant, status), (TypeError, ValueError))
        elif isinstance(op, BadDrain):
            self.step("bad", f"drain({op.bad!r})")
            self.refused(f"drain({op.bad!r})", lambda: svc.drain(op.bad),
                         (TypeError, ValueError))
        else:
            self.step("clock", f"record({op.tenant!r}, 'ok') while the clock fails")
            self.clock.fail_next = True
            self.refused(self.steps[-1], lambda: svc.record(op.tenant, "ok"),
                         (ClockFailed,))
            self.clock.fail_next = False

    def run(self, ops: list[Operation]) -> None:
        self.svc = self.impl.QueuedRunService(self.impl.MemoryWrite(), self.impl.MemoryRead(),
                                              self.clock)
        self.play(ops)


def attack(impl: ModuleType, max_examples: int | None = None) -> None:
    """Play generated sequences against ``impl.QueuedRunService`` and the model; raise the
    shortest failing one as :class:`HarnessFailure`."""
    search(operations(), lambda ops: _Play(impl).run(ops), max_examples)
