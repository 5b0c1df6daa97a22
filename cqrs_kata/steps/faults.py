"""The fault harness, for any projection given a plain model of it.

A :class:`Subject` says how to write the log (with the checks' own correct writer), how to call
the learner's projector (a batch, a rebuild, handing effects on) and what a reader must see
(its plain model). The harness generates sequences of what happens in production: writes, two
projectors on their own connections taking batches of every size, a process dying before any
statement of a batch, of a rebuild or of handing effects on (and restarted), a second
projector cutting in before a statement of the first's batch, a receiver that fails, and
rebuilds into new versions. After every step a reader on a connection of its own compares the
view with the model, and every effect handed on with the ledger the model expects; at the end
the view is caught up and every effect must have been handed on, each key with one payload.

It runs on the lab of step 05, so on SQLite and on PostgreSQL alike. A difference is reported
as a short failing sequence of numbered plain steps (:class:`HarnessFailure`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, ClassVar

from hypothesis import strategies as st

from cqrs_kata.db import Database
from cqrs_kata.steps.driver import (
    DEFAULT_EXAMPLES,
    HarnessFailure,
    Player,
    examples_wanted,
    search,
)
from cqrs_kata.steps.step05.lab import Lab, Tap, crashed, lab, run_tapped

QUICK = 0.05
"""Seconds a projector's connection waits for a lock: a projector cut in on by the other waits
for nothing that could ever come (the other is paused in this thread)."""
SHRINK_SECONDS = 2.0
"""Longest spent shortening a failing sequence (a check has 10 s)."""


class SendFailed(Exception):
    """The receiver of effects is down: raised by the harness's receiver when told to."""


class Subject(ABC):
    """One projection under attack: the learner's calls, and the plain model it is held to."""

    WRITES: ClassVar[int] = 1
    """How many kinds of write ``write`` knows (``choice`` is below it)."""

    @abstractmethod
    def prepare(self, db: Database) -> None:
        """Create the projection's tables in a new database."""

    @abstractmethod
    def write(self, db: Database, choice: int) -> str:
        """Append to the log with the checks' correct writer; say what was written."""

    @abstractmethod
    def project(self, db: Database, limit: int) -> object:
        """The learner's projector takes one batch of at most ``limit`` events."""

    @abstractmethod
    def rebuild(self, db: Database, version: int) -> object:
        """The learner's projector rebuilds into ``version`` and switches to it."""

    @abstractmethod
    def hand_on(self, db: Database, send: Callable[[Any], None]) -> object:
        """The learner's projector hands the effects it recorded to ``send``."""

    @abstractmethod
    def look(self, db: Database) -> list[tuple[str, object, object]]:
        """``(what, got, expected)`` for each thing a reader sees, by the model."""

    @abstractmethod
    def effects(self, db: Database) -> dict[str, object]:
        """The effects the model expects from what the views took so far: key -> payload."""

    @abstractmethod
    def all_effects(self, db: Database) -> dict[str, object]:
        """The effects the whole log crosses: key -> payload."""

    @abstractmethod
    def marked(self, db: Database) -> set[str]:
        """The keys the ledger says were handed on."""

    @abstractmethod
    def key_of(self, sent: Any) -> tuple[str, object]:
        """``(key, payload)`` of what was handed to ``send``."""

    def retryable(self, error: Exception) -> bool:
        """Whether ``error`` from ``project`` is a documented refusal (another projector)."""
        return False


# Operations -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Write:
    choice: int


@dataclass(frozen=True)
class Batch:
    who: int
    limit: int


@dataclass(frozen=True)
class CrashBatch:
    who: int
    limit: int
    at: int


@dataclass(frozen=True)
class CutIn:
    who: int
    limit: int
    at: int


@dataclass(frozen=True)
class Rebuild:
    crash_at: int | None


@dataclass(frozen=True)
class Send:
    crash_at: int | None
    down_at: int | None


Operation = Write | Batch | CrashBatch | CutIn | Rebuild | Send


def operations(writes: int) -> st.SearchStrategy[list[Operation]]:
    who = st.integers(0, 1)
    limit = st.integers(1, 5)
    some: list[st.SearchStrategy[Any]] = [
        st.builds(Write, st.integers(0, writes - 1)),
        st.builds(Write, st.integers(0, writes - 1)),
        st.builds(Batch, who, limit),
        st.builds(CrashBatch, who, limit, st.integers(1, 14)),
        st.builds(CutIn, who, limit, st.integers(1, 10)),
        st.builds(Rebuild, st.none() | st.integers(1, 20)),
        st.builds(Send, st.none() | st.integers(1, 6), st.none() | st.integers(1, 2)),
    ]
    return st.lists(st.one_of(*some), min_size=4, max_size=16)


# The play -----------------------------------------------------------------------------------


@dataclass
class _Play(Player):
    subject: Subject
    here: Lab
    steps: list[str] = field(default_factory=list)
    cause: str = ""
    received: dict[str, list[object]] = field(default_factory=dict)
    version: int = 1

    WHY: ClassVar[Mapping[str, str]] = {
        "write": "the view is the log folded up to its checkpoint: all of it, nothing after",
        "batch": "a batch takes the next events after the checkpoint, in ONE transaction with "
                 "the checkpoint and the ledger",
        "crash": "a crash before any statement of a batch leaves the view, its checkpoint and "
                 "the ledger as they were: the transaction rolls back whole",
        "cut": "two projectors on one view: the checkpoint moves only from the value the batch "
               "read, so only one of them takes each event",
        "rebuild": "a rebuild builds aside and switches in one transaction; it crosses the same "
                   "thresholds at the same events, so the ledger gets nothing new",
        "send": "hand each alert on, then mark it sent: a crash or a failing receiver in "
                "between hands it on again with the same key, never loses it",
    }
    UNEXPECTED = "no error: the sequence is one a projector meets in production"

    def __post_init__(self) -> None:
        self.db = self.here.new()
        self.subject.prepare(self.db)
        self.projectors = [self.here.again(self.db, QUICK), self.here.again(self.db, QUICK)]
        self.reader = self.here.again(self.db)

    def restart(self, who: int) -> None:
        crashed(self.here, self.projectors[who])
        self.projectors[who] = self.here.again(self.db, QUICK)

    def send(self, down_at: int | None) -> Callable[[Any], None]:
        count = [0]

        def receive(sent: Any) -> None:
            count[0] += 1
            if down_at is not None and count[0] == down_at:
                raise SendFailed("the receiver is down")
            key, payload = self.subject.key_of(sent)
            self.received.setdefault(key, []).append(payload)

        return receive

    def project(self, who: int, limit: int, tap: Tap | None = None) -> None:
        db = self.projectors[who]

        def action() -> object:
            return self.subject.project(db, limit)

        if tap is None:
            try:
                action()
            except Exception as error:
                if not self.subject.retryable(error):
                    raise
            return
        try:
            run_tapped(db, tap, action)
        except Exception as error:
            if not self.subject.retryable(error):
                raise
        if tap.dead:
            self.restart(who)

    def perform(self, op: Any) -> None:
        if isinstance(op, Write):
            self.step("write", self.subject.write(self.db, op.choice))
        elif isinstance(op, Batch):
            self.step("batch", f"projector {op.who} takes a batch of at most {op.limit}")
            self.project(op.who, op.limit)
        elif isinstance(op, CrashBatch):
            self.step("crash", f"projector {op.who} dies just before statement {op.at} of a "
                               f"batch of at most {op.limit}, and is restarted")
            self.project(op.who, op.limit, Tap(crash_at=op.at))
        elif isinstance(op, CutIn):
            other = 1 - op.who
            self.step("cut", f"projector {op.who} takes a batch of at most {op.limit}; just "
                             f"before its statement {op.at}, projector {other} takes one too")

            def cut(n: int, sql: str) -> None:
                if n == op.at:
                    with suppress(Exception):  # locked out (SQLite, or a row lock): fine
                        self.subject.project(self.projectors[other], op.limit)

            self.project(op.who, op.limit, Tap(meanwhile=cut))
        elif isinstance(op, Rebuild):
            self.version += 1
            db = self.projectors[0]
            if op.crash_at is None:
                self.step("rebuild", f"rebuild into version {self.version}")
                self.subject.rebuild(db, self.version)
            else:
                self.step("rebuild", f"rebuild into version {self.version}, dying just before "
                                     f"its statement {op.crash_at}; restarted")
                tap = Tap(crash_at=op.crash_at)
                run_tapped(db, tap, lambda: self.subject.rebuild(db, self.version))
                if tap.dead:
                    self.restart(0)
        elif isinstance(op, Send):
            db = self.projectors[1]
            said = "hand the alerts on"
            if op.down_at is not None:
                said += f", the receiver failing at the {op.down_at}. one"
            if op.crash_at is not None:
                said += f", the process dying just before statement {op.crash_at}"
            self.step("send", said)
            tap = Tap(crash_at=op.crash_at)
            with suppress(SendFailed):
                run_tapped(db, tap, lambda: self.subject.hand_on(db, self.send(op.down_at)))
            if tap.dead:
                self.restart(1)

    def look(self) -> None:
        for what, got, expected in self.subject.look(self.reader):
            self.expect(what, got, expected)
        self.check_effects(self.subject.effects(self.reader))

    def check_effects(self, expected: dict[str, object]) -> None:
        for key, payloads in self.received.items():
            if key not in expected:
                raise self.fail(f"the receiver got {key!r}, which no crossing taken makes",
                                f"keys only from {sorted(expected)}",
                                "an alert's key is made of the fact it reports "
                                "(alert_key(tenant, fails)): the same crossing, the same key")
            if any(p != expected[key] for p in payloads):
                raise self.fail(f"the receiver got {key!r} with {payloads}",
                                f"{expected[key]} each time", "one key, one alert")
        lost = sorted(self.subject.marked(self.reader) - set(self.received))
        if lost:
            raise self.fail(f"the ledger marks {lost} sent, but the receiver never got them",
                            "an alert marked sent only after send() returned",
                            "hand it on first, then mark it: marking first loses the alert "
                            "when send() fails or the process dies in between")

    def finish(self) -> None:
        """Catch up, hand everything on: every crossing of the log reached the receiver."""
        self.step("batch", "projector 0 catches up, then the alerts are handed on")
        while self.subject.project(self.projectors[0], 1000):
            pass
        self.subject.hand_on(self.projectors[0], self.send(None))
        self.look()
        expected = self.subject.all_effects(self.reader)
        missing = sorted(set(expected) - set(self.received))
        if missing:
            raise self.fail(f"the receiver never got {missing}",
                            f"every alert of the log: {sorted(expected)}",
                            "every crossing is recorded in the ledger with the batch that took "
                            "it, and handed on until it is marked sent: none is lost")


def play(subject: Subject, ops: list[Operation]) -> None:
    with lab() as here:
        world = _Play(subject, here)
        try:
            world.play(ops)
            world.finish()
        except HarnessFailure:
            raise
        except NotImplementedError:
            raise
        except Exception as error:
            raise world.fail(f"{type(error).__name__}: {error}", world.UNEXPECTED) from error


def find(subject: Subject, max_examples: int | None = None,
         default: int = 30) -> HarnessFailure | None:
    """Play generated sequences; the failure of a short failing one, or None."""
    if max_examples is None:
        # $CQRS_KATA_HARNESS_EXAMPLES counts the course's usual histories (driver's default):
        # this harness plays its own share of them, so that the time limits, which grow by the
        # same factor, still fit.
        max_examples = max(1, examples_wanted() * default // DEFAULT_EXAMPLES)
    try:
        search(operations(subject.WRITES), lambda ops: play(subject, ops), max_examples,
               default=default, shrink_seconds=SHRINK_SECONDS)
    except HarnessFailure as failure:
        return failure
    return None
