"""The fault harness itself: the reference survives a long attack, unwritten code is "not
started" rather than a counterexample, failures are numbered, deterministic and plain."""

from __future__ import annotations

import os
from collections.abc import Sequence

import pytest

from cqrs_kata.steps import driver
from cqrs_kata.steps.driver import HarnessFailure
from cqrs_kata.steps.step04 import harness
from cqrs_kata.steps.step04.harness import Subject, attack
from solutions.step03 import Event
from solutions.step04 import ProgressCallback, Projector, ViewStore

REFERENCE = Subject(ViewStore, Projector)


def test_reference_survives_a_long_attack() -> None:
    # `cqrs-kata check 04` tries DEFAULT_EXAMPLES sequences; the test suite tries many more
    # (the README's "try harder" is 500).
    attack(REFERENCE, max_examples=int(os.environ.get("CQRS_KATA_LONG_ATTACK", "500")))


def test_swapped_repeats_after_a_crash_are_not_a_gap() -> None:
    # Found at 500 examples: after a crash the view holds positions 1..2 though they were never
    # acknowledged; [2, 1] is then two repeats, which count for nothing, not a gap to refuse.
    harness.play(REFERENCE, [harness.Record("t1", "ok"), harness.Record("t1", "ok"),
                             harness.Crash(None), harness.Refused("gap")])
    with pytest.raises(HarnessFailure, match=r"deliver\(\) accepted it"):
        harness.play(Subject(ViewStore, AcceptsGaps), [harness.Record("t1", "ok"),
                                                        harness.Record("t1", "ok"),
                                                        harness.Refused("gap")])


class AcceptsGaps(Projector):
    """Skips what is not the next position instead of refusing the batch."""

    def deliver(self, events: Sequence[Event]) -> int:
        view, new = self.store.current, 0
        for event in events:
            if event.position == view.checkpoint + 1:
                new += view.apply(event)
        return new


class Unwritten(Projector):
    def deliver(self, events: Sequence[Event]) -> int:
        raise NotImplementedError("Projector.deliver is not written yet")


class RebuildUnwritten(Projector):
    def rebuild(self, on_progress: ProgressCallback | None = None, every: int = 1) -> None:
        raise NotImplementedError("Projector.rebuild is not written yet")


@pytest.mark.parametrize("projector", [Unwritten, RebuildUnwritten])
def test_unwritten_code_passes_through(projector: type[Projector]) -> None:
    with pytest.raises(NotImplementedError, match="not written yet"):
        attack(Subject(ViewStore, projector))


def test_unwritten_rebuild_is_fine_when_rebuilds_are_not_attacked() -> None:
    attack(Subject(ViewStore, RebuildUnwritten), harness.DELIVERY_OPERATIONS, max_examples=30)


class FailsOnFail(Projector):
    def deliver(self, events: Sequence[Event]) -> int:
        if any(e.status == "fail" for e in events):
            raise KeyError("fail")
        return super().deliver(events)


def test_an_error_becomes_a_numbered_counterexample() -> None:
    with pytest.raises(HarnessFailure) as caught:
        attack(Subject(ViewStore, FailsOnFail))
    failure = caught.value
    assert failure.steps == ["record('t1', 'fail') -> position 1",
                             "catch up: deliver position 1"]
    assert failure.got == "KeyError: 'fail', during step 2 (catch up: deliver position 1)"
    assert failure.expected.startswith("no error")


class Doubles(Projector):
    def deliver(self, events: Sequence[Event]) -> int:
        view = self.store.current
        for e in events:
            per_status = view.counts.setdefault(e.tenant, {})
            per_status[e.status] = per_status.get(e.status, 0) + 1
            view.checkpoint = max(view.checkpoint, e.position)
        return len(events)


def test_failures_are_shrunk_plain_and_deterministic() -> None:
    messages = []
    for _ in range(2):
        with pytest.raises(HarnessFailure) as caught:
            attack(Subject(ViewStore, Doubles), harness.DELIVERY_OPERATIONS)
        messages.append(str(caught.value))
    assert messages[0] == messages[1]
    assert messages[0].startswith(
        "called   these operations, in order (the fewest Hypothesis found that fail):\n"
        "           1. record('t1', 'ok') -> position 1\n"
        "           2. ")
    assert "got      view says {'t1': {'ok': 2}}" in messages[0]
    assert "expected the write log says {'t1': {'ok': 1}} (checkpoint 1)" in messages[0]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"operations": ("record", "explode")}, "unknown operations ['explode']; choose from"),
    ({"operations": ()}, "needs at least one operation"),
    ({"max_examples": 0}, "max_examples must be a whole number >= 1, got 0"),
    ({"max_examples": True}, "max_examples must be a whole number >= 1, got True"),
])
def test_bad_arguments_are_refused(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message.replace("[", r"\[").replace("]", r"\]")):
        attack(REFERENCE, **kwargs)  # type: ignore[arg-type]


def test_bad_example_count_in_the_environment_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(driver.EXAMPLES_ENV, "lots")
    with pytest.raises(ValueError, match="CQRS_KATA_HARNESS_EXAMPLES='lots' is not a whole"):
        attack(REFERENCE)
    monkeypatch.setenv(driver.EXAMPLES_ENV, "7")
    assert driver.examples_wanted() == 7


def test_a_subject_that_cannot_build_anything_is_refused() -> None:
    with pytest.raises(TypeError, match=r"Subject\(new_storage, projector\) of two callables"):
        attack(Subject(ViewStore(), Projector))  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="attack\\(\\) takes a Subject"):
        attack((ViewStore, Projector))  # type: ignore[arg-type]


class BrokenConstructor(Projector):
    def __init__(self, write: object, store: object) -> None:
        raise AttributeError("no such store")


def test_a_projector_that_cannot_be_built_is_a_counterexample() -> None:
    with pytest.raises(HarnessFailure, match="AttributeError: no such store, building the"):
        attack(Subject(ViewStore, BrokenConstructor))


def test_trying_harder_gives_the_checks_as_much_more_time(monkeypatch: pytest.MonkeyPatch) -> None:
    # 3,000 examples used to end in a timeout of the reference: the limits did not grow.
    from cqrs_kata.runner import isolation

    for name in ("CHECK", "IMPORT", "STEP"):
        monkeypatch.delenv(f"CQRS_KATA_{name}_SECONDS", raising=False)
    monkeypatch.setenv(driver.EXAMPLES_ENV, str(driver.DEFAULT_EXAMPLES * 10))
    got = isolation.limits()
    assert (got.check, got.imports, got.step) == (
        isolation.CHECK_SECONDS * 10, isolation.IMPORT_SECONDS, isolation.STEP_SECONDS * 10)
    monkeypatch.setenv("CQRS_KATA_CHECK_SECONDS", "3")
    assert isolation.limits().check == 3.0  # a limit set outright is kept
    monkeypatch.setenv(driver.EXAMPLES_ENV, "1")
    assert isolation.limits().step == isolation.STEP_SECONDS  # fewer never means less time
    monkeypatch.setenv(driver.EXAMPLES_ENV, "lots")
    with pytest.raises(isolation.SettingError, match="'lots' is not a whole number"):
        isolation.limits()
