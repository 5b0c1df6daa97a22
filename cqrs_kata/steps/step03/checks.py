"""Step 03: eventual projection, with a queue, drain(), measured lag and read-your-writes."""

from __future__ import annotations

import contextlib
import threading
import time
from functools import partial
from types import ModuleType
from typing import Any

from cqrs_kata.course.expect import expect_equal, expect_raises, fail, same, show
from cqrs_kata.course.structure import Step, Task
from cqrs_kata.platform import Need
from cqrs_kata.steps.oracle import fold

STEP = Step(
    number="03",
    title="Eventual projection",
    minutes=60,
    tasks=(
        Task(
            1,
            "record() writes the truth and enqueues an event",
            builds=("QueuedRunService.record",),
            hints=(
                "record still validates and still appends to the write store, but it no longer "
                "calls read.inc: it puts an Event on self.queue for the projector to apply later.",
                "The event's position is the run's place in the write log, counting from 1: add "
                "one to self.written and use that. Stamp it with self.clock(), read before "
                "anything changes (a clock can fail too), and do the append, the counter and the "
                "enqueue inside `with self._changed:` so a projector thread never sees half of "
                "it.",
                "`run = Run(validate_name(\"tenant\", tenant), validate_name(\"status\", "
                "status))`, then under the lock: `now = self.clock()`, `self.write.add(run)`, "
                "`self.written += 1`, `self.queue.append(Event(self.written, run.tenant, "
                "run.status, now))`, `return self.written`.",
            ),
        ),
        Task(
            2,
            "drain() applies queued events to the view",
            builds=("QueuedRunService.drain",),
            hints=(
                "Take events from the front of the queue (oldest first), call read.inc for each, "
                "and count how many you applied. Refuse bad max_events before touching anything.",
                "How many to apply: all of len(self.queue) when max_events is None, else "
                "min(max_events, len(self.queue)). bool is a subclass of int, so reject True "
                "explicitly. After applying, set self.applied to the last event's position and "
                "call self._changed.notify_all() so waiting readers wake up.",
                "Check `isinstance(max_events, bool) or not isinstance(max_events, int)` -> "
                "TypeError, `max_events < 0` -> ValueError; then under `with self._changed:` loop "
                "`event = self.queue.popleft(); self.read.inc(event.tenant, event.status)` "
                "count times.",
            ),
        ),
        Task(
            3,
            "lag() says how far the view is behind",
            builds=("QueuedRunService.lag",),
            hints=(
                "Every event still in the queue is one the view has not applied yet; the oldest "
                "is at the front.",
                "The age is now minus when the oldest waiting event was recorded, and now is "
                "self.clock(), not time.time(), so tests can fix it. An empty queue means "
                "Lag(0, 0.0).",
                "Under the lock: `if not self.queue: return Lag(0, 0.0)`, else "
                "`return Lag(len(self.queue), self.clock() - self.queue[0].recorded_at)`.",
            ),
        ),
        Task(
            4,
            "Read your own writes: wait_for(position, timeout)",
            builds=("QueuedRunService.wait_for",),
            hints=(
                "A reader that just called record() got a position back; it waits until "
                "self.applied reaches it. drain() notifies self._changed whenever applied moves.",
                "threading.Condition.wait_for(predicate, timeout) waits until the predicate is "
                "true, going back to sleep after every wake-up that did not make it true, and "
                "returns False when the timeout ran out first. Refuse a position that was never "
                "written (it could never be reached), a bool, and a negative timeout at once; "
                "threading cannot wait longer than threading.TIMEOUT_MAX.",
                "Validate, then `with self._changed:` check `0 <= position <= self.written` "
                "(ValueError otherwise) and `if not self._changed.wait_for(lambda: self.applied "
                ">= position, min(timeout, threading.TIMEOUT_MAX)): raise NotCaughtUp(...)` "
                "naming where the view got to and what was wanted.",
            ),
        ),
        Task(
            5,
            "Rebuild in the middle of a backlog",
            builds=("QueuedRunService.rebuild_read_model",),
            hints=(
                "A rebuild recomputes the view from write.all(), as in step 02. But the queue "
                "still holds events whose runs are now in the view.",
                "After the rebuild every written run is counted, so the queued events must go, "
                "and self.applied must say the view is at self.written. Do it all under the "
                "lock, so no drain runs in between.",
                "`with self._changed:` reset, re-count `for r in self.write.all()`, "
                "`self.queue.clear()`, `self.applied = self.written`, "
                "`self._changed.notify_all()`.",
            ),
        ),
    ),
    usual_mistakes=(
        "record() still calling read.inc: the view never lags, and drain() then counts every "
        "run a second time.",
        "drain() iterating over self.queue while popping from it (RuntimeError: deque mutated), "
        "or applying newest first with pop() instead of popleft().",
        "drain(max_events=-1) or drain(1.5) silently treated as 'all' or 'none' instead of "
        "raising before anything is applied.",
        "lag() using time.time() instead of self.clock(): the numbers are right but no test can "
        "pin them down.",
        "wait_for() polling with time.sleep in a loop instead of Condition.wait_for, or waiting "
        "the whole timeout even when the view is already there.",
        "wait_for() calling Condition.wait once instead of in a loop: the first partial drain "
        "wakes it, and it gives up before its position is applied.",
        "record() or drain() touching the queue or the log outside `with self._changed:`; the "
        "checks hold the lock in one thread and see whether another thread waits for it.",
        "rebuild_read_model() leaving the queue as it was: the next drain() double-counts the "
        "backlog.",
    ),
)

# The contract: every sentence of the docstrings the learner implements -----------------------

Q = "QueuedRunService"
STEP.note(Q, "``record`` writes the truth and enqueues an event; ``drain`` brings the view up to "
          "date.")
ONE_LOCK = STEP.rule(Q, "One lock guards the write log, the queue and the view together, so a "
                     "projector thread may drain while another thread records, and no event is "
                     "ever applied twice or lost.")
LOCK_AND_NOTIFY = STEP.rule(Q, "That lock is ``self._changed``, a ``threading.Condition``: hold "
                            "it (``with self._changed:``) while touching the write log, the "
                            "queue, the counters or the view, and call "
                            "``self._changed.notify_all()`` whenever ``applied`` moves, so that "
                            "readers in ``wait_for`` wake up.")
RECORD = STEP.rule(f"{Q}.record", "Store the run as truth and enqueue its event; return the "
                   "run's position.")
POSITION = STEP.rule(f"{Q}.record", "The position is the run's place in the write log, counting "
                     "from 1; the event carries it, the tenant, the status and ``self.clock()`` "
                     "at the time of recording.")
RECORD_FIRST = STEP.rule(f"{Q}.record", "Validate first (``validate_name``) and read the clock "
                         "before changing anything, so that bad input or a failing clock raises "
                         "and changes nothing.")
NO_VIEW = STEP.rule(f"{Q}.record", "Do not touch the view: that is ``drain``'s job now.")
DRAIN = STEP.rule(f"{Q}.drain", "Apply queued events to the view, oldest first; return how many "
                  "were applied.")
AT_MOST = STEP.rule(f"{Q}.drain", "With ``max_events`` apply at most that many.")
DRAIN_BAD = STEP.rule(f"{Q}.drain", "``max_events`` must be None or an int >= 0 (not a bool): "
                      "anything else raises (TypeError or ValueError, naming ``max_events``) "
                      "and applies nothing.")
APPLIED = STEP.rule(f"{Q}.drain", "Keep ``applied`` at the position of the last applied event, "
                    "and notify waiting readers.")
LAG = STEP.rule(f"{Q}.lag", "How many events wait to be applied, and the age of the oldest (by "
                "``clock``).")
LAG_ZERO = STEP.rule(f"{Q}.lag", "``Lag(0, 0.0)`` when nothing waits, however long ago the last "
                     "run was recorded.")
LAG_LOOKS = STEP.rule(f"{Q}.lag", "Looking changes nothing.")
WAIT = STEP.rule(f"{Q}.wait_for", "Read-your-writes: return once the view has applied "
                 "``position``.")
AT_ONCE = STEP.rule(f"{Q}.wait_for", "Return at once when it already has.")
WAITS = STEP.rule(f"{Q}.wait_for", "Otherwise wait (someone else drains) for at most ``timeout`` "
                  "seconds, waking at every drain and waiting again until ``position`` is "
                  "applied; then raise ``NotCaughtUp`` saying where the view got to and what "
                  "was wanted.")
WAIT_BAD = STEP.rule(f"{Q}.wait_for", "Bad input raises at once and waits for nothing: "
                     "``position`` must be an int (not a bool) that was written already (0 <= "
                     "position <= ``written``), else waiting could never succeed; ``timeout`` "
                     "must be a number of seconds >= 0 (not a bool; ``float(\"inf\")`` waits as "
                     "long as it takes).")
WAIT_LOOKS = STEP.rule(f"{Q}.wait_for", "Waiting changes nothing.")
REBUILD = STEP.rule(f"{Q}.rebuild_read_model", "Recompute the view from ``write.all()`` and "
                    "leave the queue consistent with it.")
NOTHING_TWICE = STEP.rule(f"{Q}.rebuild_read_model", "Every run in the write store is in the "
                          "rebuilt view, so no queued event may be applied again afterwards: "
                          "nothing is counted twice.")
REBUILD_WAKES = STEP.rule(f"{Q}.rebuild_read_model", "Afterwards ``applied`` equals "
                          "``written``, and readers waiting in ``wait_for`` are woken.")

TENANTS_AND_STATUSES = [("t1", "ok"), ("t1", "fail"), ("t2", "ok"), ("t1", "ok"), ("t2", "ok")]


class FakeClock:
    """A clock that only moves when told to, so lag ages are exact numbers."""

    def __init__(self, now: float = 100.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now




def service(impl: ModuleType, clock: FakeClock | None = None) -> Any:
    return impl.QueuedRunService(impl.MemoryWrite(), impl.MemoryRead(), clock or FakeClock())


def backlog(impl: ModuleType, svc: Any, pairs: list[tuple[str, str]],
            clock: FakeClock | None = None) -> None:
    """Write runs and queue their events the way a correct record() does, without calling it,
    so the drain, lag, wait and rebuild checks do not depend on task 1."""
    for tenant, status in pairs:
        svc.write.add(impl.Run(tenant, status))
        svc.written += 1
        svc.queue.append(impl.Event(svc.written, tenant, status,
                                    clock.now if clock else 0.0))
        if clock:
            clock.now += 1.0


def view(svc: Any, tenants: tuple[str, ...] = ("t1", "t2")) -> dict[str, dict[str, int]]:
    """What the view says, through its public summary(), for every tenant that has counts."""
    return {t: s for t in tenants if (s := svc.read.summary(t))}


def positions(svc: Any) -> list[int]:
    return [e.position for e in svc.queue]


def snapshot(svc: Any) -> dict[str, object]:
    """Everything record, drain and rebuild may change, by name, to compare before and after."""
    return {"write.all()": svc.write.all(), "written": svc.written, "applied": svc.applied,
            "positions queued": positions(svc), "view": view(svc, ("t1", "t2", "t3"))}


def changes(before: dict[str, object], after: dict[str, object]) -> str:
    """What differs between two snapshots, each as ``name: before -> after``."""
    return "; ".join(f"{name}: {show(before[name])} -> {show(after[name])}" for name in before
                     if not same(before[name], after[name]))


class SpyCondition(threading.Condition):
    """A stand-in for the service's ``_changed`` that counts who took it, waited on it and
    notified it, so the locking and waking rules are checked by events, not by timing."""

    def __init__(self) -> None:
        super().__init__(threading.RLock())
        self.attempts = self.waits = self.notified_all = 0
        self._seen = threading.Condition(threading.Lock())
        taking = self.acquire

        def acquire(*args: Any, **kwargs: Any) -> bool:
            self._count("attempts")
            return bool(taking(*args, **kwargs))

        self.acquire = acquire  # type: ignore[method-assign]

    def _count(self, name: str) -> None:
        with self._seen:
            setattr(self, name, getattr(self, name) + 1)
            self._seen.notify_all()

    def __enter__(self) -> bool:
        return self.acquire()

    def wait(self, timeout: float | None = None) -> bool:
        self._count("waits")
        return super().wait(timeout)

    def notify_all(self) -> None:
        self._count("notified_all")
        super().notify_all()

    def until(self, condition: Any, seconds: float) -> bool:
        """Wait (at most ``seconds``) until ``condition()`` holds; say whether it does.

        Counting wakes it at once; what no count signals (a thread that ended) is looked at
        every 10 ms, so an unwritten method that raises at once costs no waiting.
        """
        deadline = time.monotonic() + seconds
        with self._seen:
            while not condition():
                left = deadline - time.monotonic()
                if left <= 0:
                    return False
                self._seen.wait(min(left, 0.01))
            return True


def spied(impl: ModuleType, pairs: list[tuple[str, str]]) -> tuple[Any, SpyCondition]:
    svc = service(impl)
    spy = SpyCondition()
    svc._changed = spy
    backlog(impl, svc, pairs)
    return svc, spy


THREADS: tuple[Need, ...] = ("threads",)
"""What the checks that start a thread of their own need: a browser kernel has none."""


def in_thread(action: Any) -> tuple[threading.Thread, list[object]]:
    """Start ``action`` in a daemon thread; the list gets its result or the error it raised."""
    outcome: list[object] = []

    def run() -> None:
        try:
            outcome.append(action())
        except BaseException as error:  # reported by the check, in the check's own thread
            outcome.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, outcome


def todo_first(outcome: list[object]) -> None:
    """An unwritten method in the other thread means "not started", not a wrong answer."""
    for item in outcome:
        if isinstance(item, NotImplementedError):
            raise item


def blocked_while_held(impl: ModuleType, called: str, action_of: Any) -> None:
    """Hold the service's lock; ``action_of(svc)`` in another thread must wait for it."""
    svc, spy = spied(impl, TENANTS_AND_STATUSES[:3])
    with spy:
        before = snapshot(svc)
        thread, outcome = in_thread(lambda: action_of(svc))
        # Ours, then the other thread's: or the other thread ended without trying.
        spy.until(lambda: spy.attempts >= 2 or not thread.is_alive(), 2.0)
        tried = spy.attempts >= 2
        if not tried:
            thread.join(2.0)
        during = snapshot(svc)
    thread.join(5.0)
    todo_first(outcome)
    if not tried or during != before:
        fail(f"{called} in another thread while the check held the service's lock",
             f"it changed {changes(before, during)} without waiting for the lock"
             if during != before else "it finished without ever taking the lock",
             "it to wait until the lock was free, changing nothing before",
             "hold `with self._changed:` around every change of the write log, the queue, the "
             "counters and the view, or a projector and a writer corrupt them between them")
    for item in outcome:
        if isinstance(item, BaseException):
            raise item


# Task 1 ------------------------------------------------------------------------------------


@STEP.check(task=1, backs=(RECORD, POSITION, NO_VIEW))
def record_writes_truth_but_not_the_view(impl: ModuleType) -> None:
    """record() appends to the write store and returns positions 1, 2, 3, but leaves the view"""
    svc = service(impl)
    got = [svc.record(t, s) for t, s in TENANTS_AND_STATUSES[:3]]
    expect_equal("the values record() returned for three runs", got, [1, 2, 3],
                 "each run's position in the write log, counting from 1")
    expect_equal("write.all() after three record() calls", svc.write.all(),
                 [impl.Run(t, s) for t, s in TENANTS_AND_STATUSES[:3]],
                 "the write store is the truth and is updated at once")
    expect_equal('read.summary("t1") before any drain()', svc.read.summary("t1"), {},
                 "record() must not touch the view any more: projecting is drain()'s job")
    expect_equal("written after three record() calls", svc.written, 3,
                 "written is the position of the last run in the write log")


@STEP.check(task=1, backs=(RECORD, POSITION))
def record_enqueues_positioned_timed_events(impl: ModuleType) -> None:
    """record() enqueues one Event per run, with its position and the clock's time"""
    clock = FakeClock(10.0)
    svc = service(impl, clock)
    svc.record("t1", "ok")
    clock.now = 12.5
    svc.record("t2", "fail")
    expect_equal("list(queue) after record('t1','ok') at 10.0 and record('t2','fail') at 12.5",
                 list(svc.queue),
                 [impl.Event(1, "t1", "ok", 10.0), impl.Event(2, "t2", "fail", 12.5)],
                 "oldest first, each carrying its write-log position and self.clock() at record")


@STEP.check(task=1, backs=(RECORD_FIRST,))
def record_refuses_bad_names_and_changes_nothing(impl: ModuleType) -> None:
    """record() with a bad name raises and changes neither the log nor the queue"""
    svc = service(impl)
    svc.record("t1", "ok")
    for tenant, status, error in [("", "ok", ValueError), ("t1", None, TypeError),
                                  ("t1", "x" * 101, ValueError), (42, "ok", TypeError)]:
        called = f"record({show(tenant)}, {show(status)})"
        expect_raises(called, partial(svc.record, tenant, status), (error,),
                      "bad input is refused with a clear error, as in step 02")
        expect_equal(f"(write.all(), positions in queue, written) after {called}",
                     (svc.write.all(), positions(svc), svc.written),
                     ([impl.Run("t1", "ok")], [1], 1),
                     "validate before touching anything, so nothing is half-written")


@STEP.check(task=1, backs=(RECORD_FIRST,))
def a_failing_clock_changes_nothing(impl: ModuleType) -> None:
    """record() with a clock that fails raises and leaves no run without its event"""
    clock = FakeClock(5.0)
    svc = service(impl, clock)
    svc.record("t1", "ok")

    def broken() -> float:
        raise RuntimeError("the clock is broken")

    svc.clock = broken
    expect_raises('record("t2", "ok") while the clock fails', partial(svc.record, "t2", "ok"),
                  (RuntimeError,), "the clock's error reaches the caller")
    expect_equal("(write.all(), written, positions queued) after that", (svc.write.all(),
                 svc.written, positions(svc)), ([impl.Run("t1", "ok")], 1, [1]),
                 "read the clock before changing anything: a run in the log with no event "
                 "queued would never reach the view")


@STEP.check(task=1, backs=(ONE_LOCK, LOCK_AND_NOTIFY), needs=THREADS)
def record_waits_for_the_lock(impl: ModuleType) -> None:
    """record() changes nothing while another thread holds the service's lock"""
    blocked_while_held(impl, 'record("t3", "ok")', lambda svc: svc.record("t3", "ok"))


# Task 2 ------------------------------------------------------------------------------------


@STEP.check(task=2, backs=(DRAIN, APPLIED))
def drain_brings_the_view_up_to_the_truth(impl: ModuleType) -> None:
    """before drain() the view lags; after it the view equals the truth"""
    svc = service(impl)
    backlog(impl, svc, TENANTS_AND_STATUSES)
    before = view(svc)
    got = svc.drain()
    expect_equal("the view before drain(), with five runs queued", before, {},
                 "nothing is projected until the projector drains")
    expect_equal("drain() with five events queued", got, 5, "it returns how many it applied")
    expect_equal("the view after drain()", view(svc), fold(TENANTS_AND_STATUSES),
                 "after a full drain the view says what the write log says")
    expect_equal("len(queue) after drain()", len(svc.queue), 0,
                 "drain() with no limit takes every event it applies off the queue")
    expect_equal("applied after drain()", svc.applied, 5,
                 "every event was applied, oldest first, so the last one applied is position 5")


@STEP.check(task=2, backs=(DRAIN,))
def drain_of_an_empty_queue_returns_zero(impl: ModuleType) -> None:
    """drain() with nothing queued returns 0 and changes nothing"""
    svc = service(impl)
    expect_equal("drain() on a new service", svc.drain(), 0, "there was nothing to apply")
    backlog(impl, svc, TENANTS_AND_STATUSES[:2])
    svc.drain()
    expect_equal("drain() a second time, right after a full drain", svc.drain(), 0,
                 "a drained queue is empty")
    expect_equal("the view after the second drain()", view(svc),
                 fold(TENANTS_AND_STATUSES[:2]), "draining nothing must not change the view")


@STEP.check(task=2, backs=(DRAIN, AT_MOST, APPLIED))
def partial_drains_apply_exactly_max_events_in_order(impl: ModuleType) -> None:
    """drain(max_events=n) applies exactly n events, oldest first"""
    svc = service(impl)
    backlog(impl, svc, TENANTS_AND_STATUSES)
    expect_equal("drain(max_events=2) with five queued", svc.drain(max_events=2), 2,
                 "at most max_events are applied")
    expect_equal("the view after drain(2)", view(svc), fold(TENANTS_AND_STATUSES[:2]),
                 "the two oldest events, and only those, are applied")
    expect_equal("positions still queued after drain(2)", positions(svc), [3, 4, 5],
                 "events leave the front of the queue, oldest first")
    expect_equal("applied after drain(2)", svc.applied, 2,
                 "applied is the position of the last event applied, not of the last written")
    expect_equal("drain(max_events=0)", svc.drain(max_events=0), 0, "zero means apply none")
    expect_equal("drain(max_events=10) with three left", svc.drain(max_events=10), 3,
                 "asking for more than is queued applies what there is")
    expect_equal("the view after all the partial drains", view(svc),
                 fold(TENANTS_AND_STATUSES), "in the end every run is counted once")


@STEP.check(task=2, backs=(DRAIN_BAD,))
def drain_refuses_bad_max_events_and_applies_nothing(impl: ModuleType) -> None:
    """drain(-1), drain(1.5), drain("2") and drain(True) raise and apply nothing"""
    svc = service(impl)
    backlog(impl, svc, TENANTS_AND_STATUSES[:3])
    for bad in [-1, 1.5, "2", True, float("nan")]:
        called = f"drain(max_events={show(bad)})"
        raised = expect_raises(called, partial(svc.drain, max_events=bad), (TypeError, ValueError),
                               "TypeError or ValueError says what kind of value was wrong")
        if "max_events" not in str(raised):
            fail(called, f"the message {str(raised)!r}", "a message that names max_events",
                 "the caller needs to know which argument was wrong")
        expect_equal(f"(view, positions queued, applied) after {called}",
                     (view(svc), positions(svc), svc.applied), ({}, [1, 2, 3], 0),
                     "bad input must be refused before anything is applied")


@STEP.check(task=2, backs=(ONE_LOCK, LOCK_AND_NOTIFY), needs=THREADS)
def drain_waits_for_the_lock(impl: ModuleType) -> None:
    """drain() changes nothing while another thread holds the service's lock"""
    blocked_while_held(impl, "drain()", lambda svc: svc.drain())


@STEP.check(task=2, backs=(LOCK_AND_NOTIFY, APPLIED))
def drain_notifies_whenever_applied_moves(impl: ModuleType) -> None:
    """every drain() that moves applied calls notify_all() on the service's condition"""
    svc, spy = spied(impl, TENANTS_AND_STATUSES[:3])
    for position in (1, 2, 3):
        before = spy.notified_all
        svc.drain(max_events=1)
        if spy.notified_all == before:
            fail(f"drain(max_events=1), moving applied to {position}",
                 "no call of self._changed.notify_all()", "one call of notify_all()",
                 "a reader in wait_for sleeps on the condition until it is notified; without "
                 "it, readers sit out their whole timeout")


# Task 3 ------------------------------------------------------------------------------------


@STEP.check(task=3, backs=(LAG_LOOKS,))
def lag_only_looks(impl: ModuleType) -> None:
    """lag() counts the events waiting, and asking changes nothing"""
    clock = FakeClock(0.0)
    svc = service(impl, clock)
    backlog(impl, svc, TENANTS_AND_STATUSES[:3], clock)
    first = svc.lag()
    second = svc.lag()
    if getattr(first, "events", None) == 3 and getattr(first, "oldest_age", 3.0) != 3.0:
        fail("lag() with the service's clock at 3.0 and the oldest event recorded at 0.0",
             f"{show(first)}: an age of {show(first.oldest_age)} s",
             "an age of 3.0 s, by the service's clock",
             "read the time with self.clock(), the clock the service was given, not "
             "time.time() or time.monotonic(): the check gives it a clock it sets by hand")
    expect_equal("lag() at 3, with three events recorded at 0, 1 and 2 queued", first,
                 impl.Lag(3, 3.0),
                 "lag() counts the events still queued, and the age of the oldest of them")
    expect_equal("lag() called again right after", second, first,
                 "asking must not apply anything, so a second lag() says the same")
    expect_equal("positions queued after lag()", positions(svc), [1, 2, 3])


@STEP.check(task=3, backs=(LAG_ZERO,))
def lag_of_a_caught_up_view_is_zero(impl: ModuleType) -> None:
    """lag() is Lag(0, 0.0) when nothing waits"""
    clock = FakeClock(50.0)
    svc = service(impl, clock)
    expect_equal("lag() on a new service", svc.lag(), impl.Lag(0, 0.0),
                 "no events recorded, so the view is not behind")
    backlog(impl, svc, TENANTS_AND_STATUSES[:2], clock)
    svc.drain()
    clock.now += 30.0
    expect_equal("lag() after a full drain, 30 s later", svc.lag(), impl.Lag(0, 0.0),
                 "age is about unapplied events; a caught-up view has none, however old")


@STEP.check(task=3, backs=(LAG,))
def lag_matches_what_was_recorded_and_applied(impl: ModuleType) -> None:
    """lag() counts unapplied events and the age of the oldest, by the injected clock"""
    clock = FakeClock(10.0)
    svc = service(impl, clock)
    for tenant, status, at in [("t1", "ok", 10.0), ("t1", "fail", 12.0), ("t2", "ok", 15.0)]:
        clock.now = at
        svc.record(tenant, status)
    clock.now = 20.0
    expect_equal("lag() at 20.0 after records at 10.0, 12.0 and 15.0", svc.lag(),
                 impl.Lag(3, 10.0), "three events wait (events counts what is still queued); "
                 "the oldest was recorded 10 s ago")
    svc.drain(max_events=1)
    expect_equal("lag() at 20.0 after drain(1)", svc.lag(), impl.Lag(2, 8.0),
                 "two events still wait, not the three written; the oldest waiting one is "
                 "now the one recorded at 12.0")
    clock.now = 21.5
    expect_equal("lag() at 21.5, still two waiting", svc.lag(), impl.Lag(2, 9.5),
                 "the age grows with the clock while nothing is applied")
    svc.drain()
    expect_equal("lag() after a full drain", svc.lag(), impl.Lag(0, 0.0))


# Task 4 ------------------------------------------------------------------------------------


def _timed(action: Any) -> tuple[object, float]:
    start = time.monotonic()
    result = action()
    return result, time.monotonic() - start


@STEP.check(task=4, backs=(WAIT, AT_ONCE))
def wait_for_returns_at_once_when_caught_up(impl: ModuleType) -> None:
    """wait_for() returns at once when the view already has the position"""
    svc = service(impl)
    backlog(impl, svc, TENANTS_AND_STATUSES[:3])
    svc.drain(max_events=2)
    for position in (2, 1, 0):
        _, took = _timed(partial(svc.wait_for, position, 5.0))
        if took > 1.0:
            fail(f"wait_for({position}, timeout=5.0) with applied == 2",
                 f"it returned after {took:.1f} s", "it to return at once",
                 "the view already has that position; there is nothing to wait for")


@STEP.check(task=4, backs=(WAITS, WAIT_LOOKS))
def wait_for_raises_after_its_timeout(impl: ModuleType) -> None:
    """wait_for() raises NotCaughtUp once its timeout runs out"""
    svc = service(impl)
    backlog(impl, svc, TENANTS_AND_STATUSES[:3])
    svc.drain(max_events=1)
    expect_equal("(positions queued, applied) after drain(max_events=1)",
                 (positions(svc), svc.applied), ([2, 3], 1),
                 "drain(1) applies the oldest event and takes it off the queue (task 2); "
                 "this check needs that before it can look at wait_for")
    called = "wait_for(3, timeout=0.2) with applied == 1 and nobody draining"
    start = time.monotonic()
    raised = expect_raises(called, partial(svc.wait_for, 3, 0.2), (impl.NotCaughtUp,),
                           "the view cannot reach 3 without a drain; the reader must be told")
    took = time.monotonic() - start
    if not 0.15 <= took <= 3.0:
        fail(called, f"NotCaughtUp after {took:.2f} s", "NotCaughtUp after about 0.2 s",
             "wait the whole timeout (in case a projector drains), but no longer")
    if "1" not in str(raised) or "3" not in str(raised):
        fail(called, f"the message {str(raised)!r}",
             "a message that says where the view got to (1) and what was wanted (3)")
    expect_equal(f"(positions queued, applied) after {called}",
                 (positions(svc), svc.applied), ([2, 3], 1), "waiting must not drain")


@STEP.check(task=4, backs=(WAIT, WAITS), needs=THREADS)
def wait_for_wakes_up_when_a_projector_drains(impl: ModuleType) -> None:
    """wait_for() returns as soon as another thread's drain() reaches the position"""
    svc = service(impl)
    backlog(impl, svc, TENANTS_AND_STATUSES[:3])
    errors: list[BaseException] = []
    drained = threading.Event()

    def projector() -> None:
        time.sleep(0.1)
        try:
            svc.drain()
            drained.set()
        except BaseException as error:  # reported below, in the check's own thread
            errors.append(error)

    thread = threading.Thread(target=projector, daemon=True)
    thread.start()
    try:
        _, took = _timed(partial(svc.wait_for, 3, 5.0))
    except impl.NotCaughtUp as error:
        blocked = not drained.is_set() and not errors
        fail("wait_for(3, timeout=5.0) while another thread drains after 0.1 s",
             f"NotCaughtUp: {error}", "it to return once the drain applied position 3",
             "the drain could not even start: wait_for held self._changed the whole time it "
             "waited. Wait with self._changed.wait_for(...) (or wait()), which lets go of the "
             "lock while waiting, never with time.sleep under the lock" if blocked else
             "drain() must notify the condition (notify_all) when applied moves"
             + (f"; the drain itself raised {errors[0]!r}" if errors else ""))
    thread.join(5.0)
    if took > 3.0:
        fail("wait_for(3, timeout=5.0) while another thread drains after 0.1 s",
             f"it returned after {took:.1f} s", "it to return about 0.1 s later",
             "drain() must call self._changed.notify_all() when applied moves, and wait_for "
             "must wake up on it rather than sleep through the timeout")


@STEP.check(task=4, backs=(WAIT_BAD,))
def wait_for_refuses_impossible_waits(impl: ModuleType) -> None:
    """wait_for() refuses a position never written, a bool, a negative timeout, at once"""
    svc = service(impl)
    backlog(impl, svc, TENANTS_AND_STATUSES[:2])
    for position, timeout in [(3, 5.0), (-1, 5.0), (1, -0.5), ("1", 5.0), (1, "soon"),
                              (True, 5.0), (1, True), (1.0, 5.0), (1, float("nan"))]:
        called = f"wait_for({show(position)}, timeout={show(timeout)}) with 2 runs written"
        start = time.monotonic()
        expect_raises(called, partial(svc.wait_for, position, timeout), (TypeError, ValueError),
                      "waiting for that could never succeed: say so at once")
        if time.monotonic() - start > 1.0:
            fail(called, "the error only after waiting", "the error at once",
                 "check the arguments before waiting")


@STEP.check(task=4, backs=(WAITS,), needs=THREADS)
def wait_for_keeps_waiting_until_its_position(impl: ModuleType) -> None:
    """wait_for(3) goes back to waiting when a drain applies only 1, then 2"""
    svc, spy = spied(impl, TENANTS_AND_STATUSES[:3])
    thread, outcome = in_thread(lambda: svc.wait_for(3, 5.0))
    spy.until(lambda: spy.waits >= 1 or not thread.is_alive(), 1.0)
    for position in (1, 2):
        if not thread.is_alive():
            todo_first(outcome)
            happened = (f"it raised {type(outcome[0]).__name__}: {outcome[0]}"
                        if outcome and isinstance(outcome[0], BaseException) else "it returned")
            fail("wait_for(3, timeout=5.0) in another thread, while drain(1) applies one "
                 "position at a time", f"{happened}; afterwards applied == {svc.applied}",
                 "it to keep waiting until position 3 is applied",
                 "a wake-up only says that something changed: check the position again and "
                 "wait again while it is not applied (Condition.wait_for(predicate, timeout) "
                 "loops like that)")
        svc.drain(max_events=1)
        wanted = position + 1
        spy.until(lambda: spy.waits >= wanted or not thread.is_alive(), 1.0)  # noqa: B023
    svc.drain(max_events=1)
    thread.join(3.0)
    todo_first(outcome)
    if thread.is_alive() or (outcome and isinstance(outcome[0], BaseException)):
        got = "it was still waiting 3 s later" if thread.is_alive() else f"it raised {outcome[0]!r}"
        fail("wait_for(3, timeout=5.0), then drains apply positions 1, 2 and 3", got,
             "it to return once position 3 was applied")


@STEP.check(task=4, backs=(WAITS,), needs=THREADS)
def the_timeout_bounds_the_whole_wait(impl: ModuleType) -> None:
    """wait_for(40, timeout=0.25) gives up after about 0.25 s while drains keep waking it"""
    svc = service(impl)
    backlog(impl, svc, [("t1", "ok")] * 40)
    stop = threading.Event()

    def projector() -> None:  # one event every 0.1 s: 40 would take 4 s; stops after 2 s
        for _ in range(20):
            if stop.wait(0.1):
                return
            with contextlib.suppress(Exception):  # a broken drain is task 2's to report
                svc.drain(max_events=1)

    thread = threading.Thread(target=projector, daemon=True)
    thread.start()
    called = "wait_for(40, timeout=0.25) while another thread drains one event every 0.1 s"
    try:
        start = time.monotonic()
        try:
            svc.wait_for(40, 0.25)
            outcome = "it returned"
        except impl.NotCaughtUp:
            outcome = "NotCaughtUp"
        took = time.monotonic() - start
    finally:
        stop.set()
        thread.join(3.0)
    if outcome != "NotCaughtUp" or took > 1.5:
        fail(called, f"{outcome} after {took:.2f} s, with applied == {svc.applied}",
             "NotCaughtUp after about 0.25 s",
             "the timeout bounds the whole wait, however many drains wake it: take a deadline "
             "once (time.monotonic() + timeout) and, after each wake-up, wait only for what "
             "is left of it (Condition.wait_for(predicate, timeout) does exactly that)")


@STEP.check(task=4, backs=(WAIT_BAD,), needs=THREADS)
def wait_for_takes_any_long_timeout(impl: ModuleType) -> None:
    """wait_for() takes float("inf") and 1e300 as timeouts"""
    svc = service(impl)
    backlog(impl, svc, TENANTS_AND_STATUSES[:2])
    svc.drain(max_events=1)
    for timeout in (float("inf"), 1e300):
        svc.wait_for(1, timeout)  # already applied: at once
    thread, outcome = in_thread(lambda: svc.wait_for(2, float("inf")))
    time.sleep(0.1)
    svc.drain()
    thread.join(3.0)
    todo_first(outcome)
    if thread.is_alive() or (outcome and isinstance(outcome[0], BaseException)):
        got = "it was still waiting 3 s after the drain" if thread.is_alive() else \
            f"it raised {type(outcome[0]).__name__}: {outcome[0]}"
        fail('wait_for(2, timeout=float("inf")) while another thread drains', got,
             "it to return once position 2 was applied",
             "an infinite timeout means wait as long as it takes; threading waits at most "
             "threading.TIMEOUT_MAX seconds, so cap the timeout there")


# Task 5 ------------------------------------------------------------------------------------


@STEP.check(task=5, backs=(REBUILD, NOTHING_TWICE, REBUILD_WAKES))
def rebuild_mid_backlog_counts_nothing_twice(impl: ModuleType) -> None:
    """a rebuild in the middle of a backlog leaves no event to be counted twice"""
    svc = service(impl)
    backlog(impl, svc, TENANTS_AND_STATUSES)
    svc.drain(max_events=2)
    svc.rebuild_read_model()
    truth = fold(TENANTS_AND_STATUSES)
    expect_equal("the view after drain(2) then rebuild_read_model()", view(svc), truth,
                 "a rebuild counts every run in write.all(), drained or not")
    expect_equal("drain() right after the rebuild", svc.drain(), 0,
                 "the rebuilt view already has every queued run; applying them again would "
                 "count them twice, so the queue must be empty")
    expect_equal("(view, lag(), applied) after that drain()",
                 (view(svc), svc.lag(), svc.applied), (truth, impl.Lag(0, 0.0), 5),
                 "the view is caught up with position 5, and says so")
    backlog(impl, svc, [("t2", "fail")])
    svc.drain()
    expect_equal("the view after one more run and drain()", view(svc),
                 fold([*TENANTS_AND_STATUSES, ("t2", "fail")]),
                 "events written after the rebuild are projected as usual")


@STEP.check(task=5, backs=(REBUILD, REBUILD_WAKES))
def rebuild_repairs_the_view_from_the_write_log(impl: ModuleType) -> None:
    """rebuild_read_model() recomputes a corrupted view from write.all()"""
    svc = service(impl)
    backlog(impl, svc, TENANTS_AND_STATUSES[:3])
    svc.drain()
    svc.read.inc("t1", "ok")  # a buggy projector counted a run twice
    svc.read.inc("t2", "lost")  # and one that never happened
    svc.rebuild_read_model()
    expect_equal("the view after corrupting it and rebuild_read_model()", view(svc),
                 fold(TENANTS_AND_STATUSES[:3]), "the write log is the truth; the view is "
                 "recomputed from it, not patched")
    _, took = _timed(partial(svc.wait_for, 3, 5.0))
    if took > 1.0:
        fail("wait_for(3, timeout=5.0) after the rebuild", f"it returned after {took:.1f} s",
             "it to return at once", "after a rebuild the view has every written position; "
             "set applied to written")


@STEP.check(task=5, backs=(REBUILD_WAKES, LOCK_AND_NOTIFY), needs=THREADS)
def rebuild_wakes_the_readers_waiting(impl: ModuleType) -> None:
    """a reader waiting for a position is woken by a rebuild that covers it"""
    svc, spy = spied(impl, TENANTS_AND_STATUSES[:3])
    thread, outcome = in_thread(lambda: svc.wait_for(3, 8.0))
    spy.until(lambda: spy.waits >= 1 or not thread.is_alive(), 1.0)
    svc.rebuild_read_model()
    thread.join(2.0)
    todo_first(outcome)
    if thread.is_alive():
        fail("wait_for(3, timeout=8.0) in another thread, then rebuild_read_model()",
             "the reader was still waiting 2 s after the rebuild", "it to return at once",
             "the rebuild moved applied to written: call self._changed.notify_all() so waiting "
             "readers see it")
    if outcome and isinstance(outcome[0], BaseException):
        raise outcome[0]


@STEP.check(task=5, backs=(RECORD, DRAIN, AT_MOST, APPLIED, LAG, LAG_ZERO, AT_ONCE, WAITS,
                           NOTHING_TWICE, REBUILD, RECORD_FIRST, DRAIN_BAD, WAIT_LOOKS))
def the_service_matches_a_model(impl: ModuleType) -> None:
    """long generated sequences of every operation leave the service as a plain model says"""
    from cqrs_kata.steps.driver import HarnessFailure  # Hypothesis: imported only when needed
    from cqrs_kata.steps.step03.harness import attack

    try:
        attack(impl)
    except HarnessFailure as failure:
        failure.fail_check()
