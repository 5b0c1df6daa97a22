"""The step 03 dashboard, driven through Python (no browser): buttons, sliders, thread, text."""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator

import pytest

from cqrs_kata.widgets import Dashboard, Snapshot
from cqrs_kata.widgets import dashboard as dashboard_module
from solutions.step03 import MemoryRead, MemoryWrite, QueuedRunService


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def svc(clock: Clock) -> QueuedRunService:
    return QueuedRunService(MemoryWrite(), MemoryRead(), clock)


@pytest.fixture
def dash(svc: QueuedRunService) -> Iterator[Dashboard]:
    board = Dashboard(svc)
    yield board
    board.close()


def record(dash: Dashboard, tenant: str, status: str, times: int = 1) -> None:
    dash.tenant.value, dash.status.value = tenant, status
    for _ in range(times):
        dash.record_button.click()


def counts(snap: Snapshot) -> dict[tuple[str, str], tuple[int, int]]:
    return {(r.tenant, r.status): (r.view, r.truth) for r in snap.rows}


def wait_until(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.02)
    return condition()


def test_buttons_record_then_drain_one_then_all(dash: Dashboard, clock: Clock) -> None:
    record(dash, "acme", "ok", 3)
    clock.now = 2.0
    record(dash, "globex", "fail")
    clock.now = 5.0
    snap = dash.refresh()
    assert (snap.written, snap.queued, snap.oldest_age) == (4, 4, 5.0)
    assert counts(snap) == {("acme", "ok"): (0, 3), ("globex", "fail"): (0, 1)}
    assert [r.tenant for r in snap.stale] == ["acme", "globex"]

    dash.drain_one_button.click()
    snap = dash.refresh()
    assert (snap.queued, counts(snap)[("acme", "ok")]) == (3, (1, 3))
    assert 'class="cqrs-queued">3<' in dash.status_view.value

    dash.drain_all_button.click()
    snap = dash.refresh()
    assert (snap.queued, snap.oldest_age, snap.stale) == (0, 0.0, ())
    assert counts(snap) == {("acme", "ok"): (3, 3), ("globex", "fail"): (1, 1)}
    assert "drained 3 event(s)" in dash.status_view.value


def test_rebuild_button_mid_backlog_counts_nothing_twice(dash: Dashboard) -> None:
    record(dash, "initech", "ok", 5)
    dash.drain_one_button.click()
    dash.rebuild_button.click()
    dash.drain_all_button.click()
    snap = dash.refresh()
    assert counts(snap) == {("initech", "ok"): (5, 5)}
    assert snap.queued == 0


def test_plain_text_form_is_whole_and_deterministic(dash: Dashboard, clock: Clock) -> None:
    record(dash, "acme", "ok", 2)
    record(dash, "acme", "fail")
    dash.drain_one_button.click()
    clock.now = 1.25
    bundle = dash._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"] == "\n".join([
        "CQRS dashboard: write log 3 runs | queue 2 events | lag 2 events, oldest waited 1.2 s",
        "background: writer 0 runs/s, projector 0 events/s",
        "tenant     status     view  truth",
        "acme       ok            1      2  stale",
        "acme       fail          0      1  stale",
        "drained 1 event(s)",
    ])
    assert repr(dash) == bundle["text/plain"]


def test_an_error_in_the_service_is_shown_not_raised(dash: Dashboard,
                                                     svc: QueuedRunService) -> None:
    def unwritten(max_events: int | None = None) -> int:
        raise NotImplementedError("QueuedRunService.drain is not written yet")

    svc.drain = unwritten  # type: ignore[method-assign]
    dash.drain_all_button.click()
    assert "NotImplementedError: QueuedRunService.drain is not written yet" in dash.text()


def test_no_thread_until_a_rate_is_set(dash: Dashboard) -> None:
    record(dash, "acme", "ok", 2)
    assert not dash.running


def test_lag_grows_while_writes_outpace_the_projector_then_shrinks(dash: Dashboard) -> None:
    dash.writer_rate.value = 150
    assert wait_until(lambda: dash.refresh().queued >= 20), dash.text()
    assert dash.running
    assert "writer runs/s set to 150" in dash.text()
    dash.writer_rate.value = 0
    dash.projector_rate.value = 200
    assert wait_until(lambda: dash.refresh().queued == 0), dash.text()
    snap = dash.refresh()
    assert snap.written >= 20
    assert snap.stale == ()
    dash.close()
    assert not dash.running


def test_clicks_while_the_thread_works_never_corrupt_counts(dash: Dashboard,
                                                            svc: QueuedRunService) -> None:
    dash.writer_rate.value = 200
    dash.projector_rate.value = 120
    for i in range(300):
        record(dash, "acme", "ok" if i % 3 else "fail")
        if i % 4 == 0:
            dash.drain_one_button.click()
    time.sleep(0.2)
    dash.stop()
    assert not dash.running
    dash.drain_all_button.click()
    snap = dash.refresh()
    assert snap.written == len(svc.write.all()) > 300
    assert snap.stale == (), snap.stale
    assert sum(r.view for r in snap.rows) == snap.written
    assert svc.applied == svc.written


def test_the_thread_stops_at_interpreter_exit(dash: Dashboard) -> None:
    dash.projector_rate.value = 10
    assert dash.running
    dashboard_module._stop_all()  # what atexit runs when the kernel shuts down
    assert wait_until(lambda: not dash.running, 2.0)


def test_any_str_shows_safely_and_the_same_every_time(dash: Dashboard,
                                                      svc: QueuedRunService) -> None:
    svc.record("\ud800", "ok")  # a lone surrogate: a valid str that UTF-8 cannot encode
    svc.record("acme", "fa\udfffil")

    def failing(max_events: int | None = None) -> int:
        raise ValueError("cannot drain \udcff")

    svc.drain = failing  # type: ignore[method-assign]
    dash.drain_all_button.click()
    text = dash.text()
    text.encode("utf-8")  # what printing it, or sending it to a notebook, does
    assert text == dash.text()
    assert text.splitlines()[3:] == [
        "acme       fa\\udfffil      0      1  stale",
        "\\ud800     ok            0      1  stale",
        "ValueError: cannot drain \\udcff",
    ]
    page = dash.status_view.value
    page.encode("utf-8")
    assert 'data-key="\\ud800/ok"' in page
    assert "fa\\udfffil" in page and "cannot drain \\udcff" in page
    json.dumps(dash._repr_mimebundle_(), ensure_ascii=False).encode("utf-8")
