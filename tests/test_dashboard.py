"""The step 03 dashboard, driven through Python (no browser): buttons, sliders, thread, text."""

from __future__ import annotations

import ast
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import ipykernel.kernelspec
import IPython
import pytest
from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import KernelManager

from cqrs_kata.widgets import Dashboard, Snapshot
from cqrs_kata.widgets import dashboard as dashboard_module
from solutions.step03 import MemoryRead, MemoryWrite, QueuedRunService, Run


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


# Life cycle: what stops a dashboard, and what a stopped one shows --------------------------

HINT = "create a new Dashboard(service) to run it again"


def test_a_new_dashboard_for_the_same_service_stops_the_old_one(dash: Dashboard,
                                                                 svc: QueuedRunService,
                                                                 clock: Clock) -> None:
    dash.writer_rate.value = 50
    other = Dashboard(QueuedRunService(MemoryWrite(), MemoryRead(), clock))
    other.projector_rate.value = 5
    newer = Dashboard(svc)
    try:
        assert not dash.running  # ended and waited for, not only told to stop
        assert dash.stopped and not newer.stopped
        assert other.running  # a dashboard for another service is left alone
        lines = dash.text().splitlines()
        assert lines[1] == ("background: stopped (a newer Dashboard for the same service "
                            f"replaced it); {HINT}")
        assert HINT in dash.status_view.value
        assert 'class="cqrs-stopped"' in dash.status_view.value
        newer.writer_rate.value = 20
        assert newer.running
    finally:
        newer.close()
        other.close()


class FakeShell:
    """What the dashboard asks IPython: the request being handled, as ipykernel keeps it."""

    def __init__(self) -> None:
        self.parent: dict[str, Any] = {}
        self.runs = 0

    def get_parent(self) -> dict[str, Any]:
        return self.parent

    def run(self, cell_id: str | None) -> None:
        """Start handling an execute request, from JupyterLab (with a cell id) or not."""
        self.runs += 1
        self.parent = {"header": {"msg_id": f"request-{self.runs}", "msg_type": "execute_request"},
                       "metadata": {} if cell_id is None else {"cellId": cell_id}}


def test_running_a_cell_again_stops_the_dashboards_its_earlier_run_made(
        monkeypatch: pytest.MonkeyPatch, clock: Clock) -> None:
    shell = FakeShell()
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    boards: list[Dashboard] = []

    def new_board() -> Dashboard:  # a fresh service each time, as the notebook cell makes one
        board = Dashboard(QueuedRunService(MemoryWrite(), MemoryRead(), clock))
        board.writer_rate.value = 5
        boards.append(board)
        return board

    try:
        shell.run("cell-a")
        first, second = new_board(), new_board()  # one run of a cell may make several
        shell.run("cell-b")
        elsewhere = new_board()
        shell.run(None)  # no cell id (nbclient, a terminal): only the same-service rule applies
        unnamed = new_board()
        shell.run(None)
        unnamed_again = new_board()
        assert all(b.running for b in boards)

        shell.run("cell-a")
        again = new_board()
        assert not first.running and not second.running
        assert elsewhere.running and unnamed.running and unnamed_again.running and again.running
        for old in (first, second):
            assert f"background: stopped (the cell that made it ran again); {HINT}" in (
                old.text().splitlines())
            assert HINT in old.status_view.value
    finally:
        for board in boards:
            board.close()


class _ThisPython(KernelSpecManager):
    """Kernels run by this test's own Python, whatever kernels the machine has installed."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(resource_dir=ipykernel.kernelspec.RESOURCES,
                          **ipykernel.kernelspec.get_kernel_dict())


def test_in_a_real_kernel_running_the_cell_again_ends_the_old_thread() -> None:
    """As JupyterLab does it: execute requests carry the cell's id, and Out[n] keeps old boards."""
    manager = KernelManager(kernel_name="this-python", kernel_spec_manager=_ThisPython())
    manager.start_kernel(cwd=str(Path(__file__).resolve().parent.parent))
    client = manager.client()
    client.start_channels()

    def execute(code: str, cell_id: str | None = None,
                **expressions: str) -> dict[str, Any]:
        content = {"code": code, "silent": False, "store_history": True, "allow_stdin": False,
                   "user_expressions": expressions, "stop_on_error": True}
        request = client.session.msg("execute_request", content,
                                     metadata={} if cell_id is None else {"cellId": cell_id})
        client.shell_channel.send(request)
        while True:
            reply: dict[str, Any] = client.get_shell_msg(timeout=60)
            if reply["parent_header"].get("msg_id") == request["header"]["msg_id"]:
                break
        assert reply["content"]["status"] == "ok", reply["content"]
        result: dict[str, Any] = reply["content"]
        return result

    def shown(result: dict[str, Any], name: str) -> Any:
        expression = result["user_expressions"][name]
        assert expression["status"] == "ok", expression
        return ast.literal_eval(expression["data"]["text/plain"])  # a repr

    try:
        client.wait_for_ready(timeout=60)
        execute("import threading\n"
                "from cqrs_kata.widgets import Dashboard\n"
                "from solutions.step03 import MemoryRead, MemoryWrite, QueuedRunService, Run")
        cell = ("board = Dashboard(QueuedRunService(MemoryWrite(), MemoryRead()))\n"
                "board.writer_rate.value = 20\n"
                "board")
        first = execute(cell, "dashboard-cell")["execution_count"]
        threads = ("sum(t.name == 'cqrs-dashboard-projector' and t.is_alive() "
                   "for t in threading.enumerate())")
        after = execute(cell, "dashboard-cell", threads=threads,
                        old=f"Out[{first}].text().splitlines()[1]")
        assert shown(after, "threads") == 1
        assert shown(after, "old") == (
            f"background: stopped (the cell that made it ran again); {HINT}")
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)


def test_a_stopped_dashboard_refuses_rates_and_says_it_is_stopped(dash: Dashboard,
                                                                   svc: QueuedRunService) -> None:
    dash.writer_rate.value = 30
    dash.stop()
    assert not dash.running
    assert (dash.writer_rate.value, dash.writer_rate.disabled, dash.projector_rate.disabled) == (
        0, True, True)
    dash.writer_rate.value = 50  # as code, or a front end that had not heard yet, might
    dash.projector_rate.value = 80
    assert not dash.running
    assert (dash.writer_rate.value, dash.projector_rate.value) == (0, 0)
    lines = dash.text().splitlines()
    assert lines[1] == f"background: stopped (stop() was called); {HINT}"
    assert lines[-1] == "projector ev/s stays 0: this dashboard is stopped"
    assert "stopped (stop() was called)" in dash.status_view.value

    # The buttons act on the service directly, so they still work; it still says stopped.
    written = len(svc.write.all())
    record(dash, "acme", "ok", 2)
    assert dash.refresh().written == written + 2
    assert dash.text().splitlines()[1] == f"background: stopped (stop() was called); {HINT}"
    assert HINT in dash.status_view.value


def test_any_str_shows_safely_and_the_same_every_time(dash: Dashboard,
                                                      svc: QueuedRunService) -> None:
    # Lone surrogates: valid strs that UTF-8 cannot encode. record() refuses them, but a buggy
    # writer can put them in the log directly, and the dashboard must still show the log.
    svc.write.add(Run("\ud800", "ok"))
    svc.write.add(Run("acme", "fa\udfffil"))

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


STOP_PATHS: dict[str, Callable[[Dashboard], object]] = {
    "stop()": lambda board: board.stop(),
    "close()": lambda board: board.close(),
    "a newer dashboard": lambda board: Dashboard(board.service).close(),
    "interpreter exit": lambda board: dashboard_module._stop_all(),
    "garbage collection": lambda board: board._finalizer(),  # what the finalizer runs
}


@pytest.mark.parametrize("how", STOP_PATHS)
def test_every_way_of_stopping_waits_for_the_thread(how: str, dash: Dashboard,
                                                    svc: QueuedRunService) -> None:
    inside, drain = threading.Event(), svc.drain

    def slow_drain(max_events: int | None = None) -> int:
        inside.set()
        time.sleep(0.3)  # so that the stop below comes while the thread is in here
        return drain(max_events)

    svc.drain = slow_drain  # type: ignore[method-assign]
    dash.projector_rate.value = 200
    assert inside.wait(5)
    STOP_PATHS[how](dash)
    assert not dash.running


class LockedService:
    """The step 03 service behind a plain lock, which deadlocks whoever takes it twice."""

    def __init__(self, inner: QueuedRunService, on_drain: Callable[[], None]) -> None:
        self.inner, self.write, self.read = inner, inner.write, inner.read
        self.lock: AbstractContextManager[Any] = threading.Lock()
        self.on_drain = on_drain

    def record(self, tenant: str, status: str) -> int:
        with self.lock:
            return self.inner.record(tenant, status)

    def drain(self, max_events: int | None = None) -> int:
        with self.lock:
            self.on_drain()
            return self.inner.drain(max_events)

    def lag(self) -> Any:
        return self.inner.lag()

    def rebuild_read_model(self) -> None:
        with self.lock:
            self.inner.rebuild_read_model()


def test_stopping_from_the_thread_itself_neither_waits_nor_deadlocks(
        svc: QueuedRunService) -> None:
    returned = threading.Event()
    boards: list[Dashboard] = []

    def stop_from_inside() -> None:  # runs in the background thread, holding the lock
        boards[0].stop()
        returned.set()

    board = Dashboard(LockedService(svc, stop_from_inside))
    boards.append(board)
    try:
        board.projector_rate.value = 10
        assert returned.wait(5), "stop() from the background thread did not return"
        assert wait_until(lambda: not board.running)
        assert board.text().splitlines()[1] == f"background: stopped (stop() was called); {HINT}"
        assert wait_until(lambda: HINT in board.status_view.value), board.status_view.value
    finally:
        board.close()
