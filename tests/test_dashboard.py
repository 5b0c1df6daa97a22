"""The step 03 dashboard, driven through Python (no browser): buttons, sliders, its task, text.

The background work is an asyncio task: tests that need it run an event loop (``asyncio.run``)
with ``threading.Thread.start`` made to raise, as it does in a browser's Python (Pyodide).
"""

from __future__ import annotations

import ast
import asyncio
import json
import signal
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

from cqrs_kata.steps.step03 import dashboard as dashboard_module
from cqrs_kata.steps.step03.dashboard import Dashboard, Snapshot
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


async def until(condition: Callable[[], bool], seconds: float = 5.0) -> bool:
    """Let the loop run (the dashboard's task with it) until ``condition`` holds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return True
        await asyncio.sleep(0.02)
    return condition()


async def turns(count: int = 3) -> None:
    """Let the loop take a few turns: enough for a cancelled task to end."""
    for _ in range(count):
        await asyncio.sleep(0)


@pytest.fixture
def no_threads(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """As in a browser's Python: starting a thread raises. No thread may be left behind either."""
    def refuse(self: threading.Thread) -> None:
        raise RuntimeError("can't start new thread")

    before = threading.active_count()
    monkeypatch.setattr(threading.Thread, "start", refuse)
    yield
    assert threading.active_count() == before


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


# The background task ---------------------------------------------------------------------


def test_without_a_loop_a_rate_says_nothing_runs_it_and_tick_steps_it(dash: Dashboard,
                                                                        no_threads: None) -> None:
    dash.writer_rate.value = 100
    assert not dash.running and dash.task is None
    assert dash.text().splitlines()[-1] == (
        "writer runs/s set to 100; no event loop runs here, so nothing runs it in the "
        "background: call tick(seconds) to step it by hand")
    dash.tick(0.2)
    assert (dash.refresh().written, dash.refresh().queued) == (20, 20)
    dash.projector_rate.value = 50
    dash.tick(0.1)  # 10 more runs written, 5 events drained
    assert (dash.refresh().written, dash.refresh().queued) == (30, 25)
    dash.tick(0.01)  # half an event is due: it carries over
    dash.tick(0.01)
    assert dash.refresh().queued == 25 + 2 - 1


def test_a_dashboard_no_view_shows_any_more_stops_writing(
        dash: Dashboard, no_threads: None, monkeypatch: pytest.MonkeyPatch) -> None:
    dash.writer_rate.value = 100
    dash.tick(0.1)  # never shown (a script, nbval): it runs
    assert dash.refresh().written == 10 and not dash.stopped
    dash._view_count = 1  # JupyterLab shows it
    dash._view_count = 0  # its output was cleared
    dash.tick(0.1)  # a page reload is shorter than UNSEEN_SECONDS: it runs on
    assert dash.refresh().written == 20 and not dash.stopped
    later = time.monotonic() + dashboard_module.UNSEEN_SECONDS
    monkeypatch.setattr(time, "monotonic", lambda: later)
    dash.tick(0.1)
    assert dash.stopped and dash.refresh().written == 20
    assert dashboard_module.NOT_SHOWN in dash.text()
    assert dash.writer_rate.value == 0 and dash.writer_rate.disabled


def test_no_task_until_a_rate_is_set(dash: Dashboard, no_threads: None) -> None:
    async def body() -> None:
        record(dash, "acme", "ok", 2)
        assert not dash.running and dash.task is None
        dash.writer_rate.value = 1
        assert dash.running and dash.task is not None
        assert dash.task.get_name() == "cqrs-dashboard-projector"

    asyncio.run(body())


def test_lag_grows_while_writes_outpace_the_projector_then_shrinks(dash: Dashboard,
                                                                  no_threads: None) -> None:
    async def body() -> None:
        dash.writer_rate.value = 150
        assert await until(lambda: dash.refresh().queued >= 20), dash.text()
        assert dash.running
        assert "writer runs/s set to 150" in dash.text()
        dash.writer_rate.value = 0
        dash.projector_rate.value = 200
        assert await until(lambda: dash.refresh().queued == 0), dash.text()
        snap = dash.refresh()
        assert snap.written >= 20
        assert snap.stale == ()
        dash.close()
        assert not dash.running

    asyncio.run(body())


def test_clicks_between_ticks_never_corrupt_counts(dash: Dashboard, svc: QueuedRunService,
                                                   no_threads: None) -> None:
    async def body() -> None:
        dash.writer_rate.value = 200
        dash.projector_rate.value = 120
        for i in range(300):
            record(dash, "acme", "ok" if i % 3 else "fail")
            if i % 4 == 0:
                dash.drain_one_button.click()
            if i % 10 == 0:
                await asyncio.sleep(0.005)  # ticks run here, between clicks
        dash.stop()
        assert not dash.running

    asyncio.run(body())
    dash.drain_all_button.click()
    snap = dash.refresh()
    assert snap.written == len(svc.write.all()) > 300
    assert snap.stale == (), snap.stale
    assert sum(r.view for r in snap.rows) == snap.written
    assert svc.applied == svc.written


def test_asyncio_run_ending_stops_the_dashboard(dash: Dashboard, no_threads: None) -> None:
    async def body() -> None:
        dash.projector_rate.value = 10
        await asyncio.sleep(0.1)

    asyncio.run(body())  # cancels every task still running at its end
    assert dash.stopped and not dash.running
    assert dash.task is not None and dash.task.cancelled()
    assert dash.text().splitlines()[1] == (
        f"background: stopped (its event loop cancelled the background task); {HINT}")
    assert (dash.projector_rate.value, dash.projector_rate.disabled) == (0, True)


def test_the_task_stops_at_interpreter_exit(dash: Dashboard, no_threads: None) -> None:
    async def body() -> None:
        dash.projector_rate.value = 10
        assert dash.running
        dashboard_module._stop_all()  # what atexit runs when the kernel shuts down
        assert not dash.running
        await turns()
        assert dash.task is not None and dash.task.cancelled()

    asyncio.run(body())
    assert dash.stopped


# What a tick does when the service fails, is slow, or is interrupted ---------------------


def test_a_failing_tick_sets_the_sliders_to_0_and_says_why(dash: Dashboard, svc: QueuedRunService,
                                                           no_threads: None) -> None:
    def unwritten(max_events: int | None = None) -> int:
        raise NotImplementedError("QueuedRunService.drain is not written yet")

    svc.drain = unwritten  # type: ignore[method-assign]

    async def body() -> None:
        record(dash, "acme", "ok")
        dash.projector_rate.value = 100
        assert await until(lambda: dash.projector_rate.value == 0)
        assert dash.running and not dash.stopped  # it only stopped the sliders
        assert dash.text().splitlines()[-1] == (
            "background stopped the sliders: drain(5) raised NotImplementedError: "
            "QueuedRunService.drain is not written yet")
        assert "drain(5) raised NotImplementedError" in dash.status_view.value

    asyncio.run(body())


def test_a_sys_exit_in_a_tick_does_not_end_the_kernel(dash: Dashboard,
                                                      svc: QueuedRunService) -> None:
    def exiting(max_events: int | None = None) -> int:
        raise SystemExit(3)  # uncaught in a task, it would stop the kernel's event loop

    svc.drain = exiting  # type: ignore[method-assign]
    record(dash, "acme", "ok")
    dash.projector_rate.value = 20
    dash.tick(0.1)
    assert dash.projector_rate.value == 0
    assert dash.text().splitlines()[-1] == (
        "background stopped the sliders: drain(2) raised SystemExit: 3")


def test_a_slow_tick_sets_the_sliders_to_0(dash: Dashboard, svc: QueuedRunService,
                                           monkeypatch: pytest.MonkeyPatch,
                                           no_threads: None) -> None:
    monkeypatch.setattr(dashboard_module, "SLOW_TICK_SECONDS", 0.05)
    drain = svc.drain

    def slow_drain(max_events: int | None = None) -> int:
        time.sleep(0.1)  # a drain that holds up the kernel, as a learner's might
        return drain(max_events)

    svc.drain = slow_drain  # type: ignore[method-assign]
    record(dash, "acme", "ok", 3)
    dash.projector_rate.value = 20
    dash.tick(0.1)
    assert (dash.projector_rate.value, dash.refresh().queued) == (0, 1)
    message = dash.text().splitlines()[-1]
    assert message.startswith("background stopped the sliders: one step took "), message
    assert message.endswith(" s (more than 0.05 s), which holds up the kernel"), message


@pytest.fixture
def idle_kernel_sigint() -> Iterator[None]:
    """SIGINT ignored, as ipykernel has it while idle (when the background task ticks)."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    yield
    signal.signal(signal.SIGINT, previous)


def test_the_interrupt_button_reaches_a_looping_tick(dash: Dashboard, svc: QueuedRunService,
                                                     idle_kernel_sigint: None) -> None:
    entered: list[Any] = []

    def looping_drain(max_events: int | None = None) -> int:
        entered.append(signal.getsignal(signal.SIGINT))
        signal.raise_signal(signal.SIGINT)  # the learner presses Interrupt while it loops
        deadline = time.monotonic() + 5  # (loops for ever, but a failing test should end)
        while time.monotonic() < deadline:
            time.sleep(0.01)
        return 0

    svc.drain = looping_drain  # type: ignore[method-assign]
    record(dash, "acme", "ok")
    dash.projector_rate.value = 20
    dash.tick(0.1)
    assert entered == [signal.default_int_handler]
    assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN  # as the kernel had it
    assert dash.projector_rate.value == 0
    assert dash.text().splitlines()[-1] == "background stopped the sliders: interrupted in drain(2)"


def test_a_ctrl_c_someone_else_handles_is_passed_on(dash: Dashboard,
                                                    svc: QueuedRunService) -> None:
    def interrupted(max_events: int | None = None) -> int:
        raise KeyboardInterrupt

    svc.drain = interrupted  # type: ignore[method-assign]
    record(dash, "acme", "ok")
    dash.projector_rate.value = 20
    with pytest.raises(KeyboardInterrupt):  # a script's Ctrl-C ends the script
        dash.tick(0.1)
    assert dash.projector_rate.value == 0
    assert dash.text().splitlines()[-1] == "background stopped the sliders: interrupted in drain(2)"


# Life cycle: what stops a dashboard, and what a stopped one shows --------------------------

HINT = "create a new Dashboard(service) to run it again"


def test_a_new_dashboard_for_the_same_service_stops_the_old_one(dash: Dashboard,
                                                                 svc: QueuedRunService,
                                                                 clock: Clock,
                                                                 no_threads: None) -> None:
    async def body() -> None:
        dash.writer_rate.value = 50
        other = Dashboard(QueuedRunService(MemoryWrite(), MemoryRead(), clock))
        other.projector_rate.value = 5
        newer = Dashboard(svc)
        try:
            assert not dash.running  # no tick starts after this
            await turns()
            assert dash.task is not None and dash.task.cancelled()  # and the task has ended
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

    asyncio.run(body())


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
        monkeypatch: pytest.MonkeyPatch, clock: Clock, no_threads: None) -> None:
    shell = FakeShell()
    monkeypatch.setattr(IPython, "get_ipython", lambda: shell)
    boards: list[Dashboard] = []

    def new_board() -> Dashboard:  # a fresh service each time, as the notebook cell makes one
        board = Dashboard(QueuedRunService(MemoryWrite(), MemoryRead(), clock))
        board.writer_rate.value = 5
        boards.append(board)
        return board

    async def body() -> None:
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

    try:
        asyncio.run(body())
    finally:
        for board in boards:
            board.close()


class _ThisPython(KernelSpecManager):
    """Kernels run by this test's own Python, whatever kernels the machine has installed."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        return KernelSpec(resource_dir=ipykernel.kernelspec.RESOURCES,
                          **ipykernel.kernelspec.get_kernel_dict())


class Kernel:
    """A real ipykernel, spoken to as JupyterLab does: execute requests carry the cell's id, and
    a slider moved on the page arrives as a comm message."""

    def __init__(self) -> None:
        self.manager = KernelManager(kernel_name="this-python", kernel_spec_manager=_ThisPython())
        self.manager.start_kernel(cwd=str(Path(__file__).resolve().parent.parent))
        self.client = self.manager.client()
        self.client.start_channels()
        self.client.wait_for_ready(timeout=60)

    def execute(self, code: str, cell_id: str | None = None, timeout: float = 60,
                **expressions: str) -> dict[str, Any]:
        content = {"code": code, "silent": False, "store_history": True, "allow_stdin": False,
                   "user_expressions": expressions, "stop_on_error": True}
        request = self.client.session.msg(
            "execute_request", content, metadata={} if cell_id is None else {"cellId": cell_id})
        self.client.shell_channel.send(request)
        while True:
            reply: dict[str, Any] = self.client.get_shell_msg(timeout=timeout)
            if reply["parent_header"].get("msg_id") == request["header"]["msg_id"]:
                break
        assert reply["content"]["status"] == "ok", reply["content"]
        result: dict[str, Any] = reply["content"]
        return result

    def look(self, timeout: float = 60, **expressions: str) -> dict[str, Any]:
        """The values of Python expressions (each must have a literal repr)."""
        found = self.execute("", timeout=timeout, **expressions)["user_expressions"]
        for name in expressions:
            assert found[name]["status"] == "ok", found[name]
        return {name: ast.literal_eval(found[name]["data"]["text/plain"]) for name in expressions}

    def move(self, model_id: str, value: int) -> None:
        """What the page sends when a learner moves a slider (no reply comes to it)."""
        self.client.shell_channel.send(self.client.session.msg("comm_msg", {
            "comm_id": model_id,
            "data": {"method": "update", "state": {"value": value}, "buffer_paths": []}}))

    def close(self) -> None:
        self.client.stop_channels()
        self.manager.shutdown_kernel(now=True)


@pytest.fixture
def kernel() -> Iterator[Kernel]:
    started = Kernel()
    try:
        started.execute("import threading\n"
                        "from cqrs_kata.steps.step03.dashboard import Dashboard\n"
                        "from solutions.step03 import MemoryRead, MemoryWrite, QueuedRunService\n"
                        "threads = threading.active_count()")
        yield started
    finally:
        started.close()


def test_in_a_real_kernel_the_task_runs_while_idle_and_a_cell_run_again_ends_it(
        kernel: Kernel) -> None:
    cell = ("board = Dashboard(QueuedRunService(MemoryWrite(), MemoryRead()))\n"
            "board.writer_rate.value = 20\n"
            "board")
    first = kernel.execute(cell, "dashboard-cell")["execution_count"]  # Out[first] keeps it
    kernel.execute(cell, "dashboard-cell")
    seen = kernel.look(old=f"Out[{first}].text().splitlines()[1]",
                       old_running=f"Out[{first}].running", running="board.running",
                       written="len(board.service.write.all())",
                       model="board.projector_rate.model_id")
    assert seen["old"] == f"background: stopped (the cell that made it ran again); {HINT}"
    assert (seen["old_running"], seen["running"]) == (False, True)

    time.sleep(1.0)  # the kernel is idle: only the task can write now
    later = kernel.look(written="len(board.service.write.all())", applied="board.service.applied")
    assert later["written"] >= seen["written"] + 10, (seen, later)
    assert later["applied"] == 0

    kernel.move(seen["model"], 200)  # the learner drags the projector slider on the page
    deadline = time.monotonic() + 20
    while True:
        time.sleep(0.2)
        end = kernel.look(applied="board.service.applied", rate="board.projector_rate.value",
                          tasks="sum(not t.done() and t.get_name() == 'cqrs-dashboard-projector'"
                                " for t in __import__('asyncio').all_tasks(board.task.get_loop()))",
                          threads="threading.active_count() - threads")
        if end["applied"] >= later["written"] or time.monotonic() > deadline:
            break
    assert end["rate"] == 200
    assert end["applied"] >= later["written"], (later, end)
    assert end["tasks"] == 1  # the old board's task has ended
    assert end["threads"] == 0  # the dashboard started no thread


def test_in_a_real_kernel_the_interrupt_button_stops_a_looping_drain(kernel: Kernel) -> None:
    kernel.execute("class Looping(QueuedRunService):\n"
                   "    def drain(self, max_events=None):\n"
                   "        while self.queue:  # never takes the event off the queue\n"
                   "            event = self.queue[0]\n"
                   "board = Dashboard(Looping(MemoryWrite(), MemoryRead()))\n"
                   "board.writer_rate.value = board.projector_rate.value = 20")
    time.sleep(1.0)  # the first tick that drains never returns: the kernel is stuck in it
    kernel.manager.interrupt_kernel()  # the Interrupt button
    seen = kernel.look(timeout=20, message="board.text().splitlines()[-1]",
                       rates="(board.writer_rate.value, board.projector_rate.value)")
    assert seen["message"].startswith("background stopped the sliders: interrupted in drain(")
    assert seen["rates"] == (0, 0)


def test_a_stopped_dashboard_refuses_rates_and_says_it_is_stopped(dash: Dashboard,
                                                                   svc: QueuedRunService,
                                                                   no_threads: None) -> None:
    async def body() -> None:
        dash.writer_rate.value = 30
        dash.stop()
        assert not dash.running
        assert (dash.writer_rate.value, dash.writer_rate.disabled,
                dash.projector_rate.disabled) == (0, True, True)
        dash.writer_rate.value = 50  # as code, or a front end that had not heard yet, might
        dash.projector_rate.value = 80
        await turns()
        assert not dash.running
        assert (dash.writer_rate.value, dash.projector_rate.value) == (0, 0)

    asyncio.run(body())
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
def test_every_way_of_stopping_cancels_the_task(how: str, dash: Dashboard,
                                                svc: QueuedRunService, no_threads: None) -> None:
    drains: list[int | None] = []
    drain = svc.drain

    def counted(max_events: int | None = None) -> int:
        drains.append(max_events)
        return drain(max_events)

    svc.drain = counted  # type: ignore[method-assign]

    async def body() -> None:
        dash.projector_rate.value = 200
        assert await until(lambda: len(drains) >= 2)
        STOP_PATHS[how](dash)
        assert not dash.running  # no tick starts after this...
        ticks = len(drains)
        await asyncio.sleep(0.2)
        assert len(drains) == ticks
        assert dash.task is not None and dash.task.cancelled()  # ...and the task has ended

    asyncio.run(body())


def test_stopping_from_the_garbage_collectors_thread_cancels_through_the_loop(
        dash: Dashboard) -> None:
    async def body() -> None:
        dash.projector_rate.value = 200
        collector = threading.Thread(target=dash._finalizer)  # the collector may run anywhere
        collector.start()
        collector.join()
        assert not dash.running
        await turns()
        assert dash.task is not None and dash.task.done()

    asyncio.run(body())


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


def test_stopping_from_inside_a_tick_neither_waits_nor_deadlocks(svc: QueuedRunService,
                                                                  no_threads: None) -> None:
    returned: list[str] = []
    boards: list[Dashboard] = []

    def stop_from_inside() -> None:  # runs inside the tick, holding the service's plain lock
        boards[0].stop()
        returned.append(boards[0].status_view.value)

    board = Dashboard(LockedService(svc, stop_from_inside))
    boards.append(board)

    async def body() -> None:
        board.projector_rate.value = 10
        assert await until(lambda: bool(returned)), "stop() from inside a tick did not return"
        assert HINT in returned[0]  # shown at once, from the last snapshot
        await turns()
        assert board.task is not None and board.task.cancelled()

    try:
        asyncio.run(body())
        assert board.text().splitlines()[1] == f"background: stopped (stop() was called); {HINT}"
        assert HINT in board.status_view.value
    finally:
        board.close()


def test_the_lag_chart_ramps_while_the_queue_grows_and_falls_back_to_zero() -> None:
    from cqrs_kata.steps.step03.dashboard import lag_chart

    assert lag_chart([], now=100.0) == ""
    growing = lag_chart([(90.0, 0), (95.0, 10), (99.0, 20)], now=100.0)
    points = growing.split('points="')[1].split('"')[0].split()
    heights = [float(p.split(",")[1]) for p in points]
    assert heights == sorted(heights, reverse=True), "a growing queue climbs (SVG y falls)"
    assert "top: 20" in growing and "#cf222e" in growing  # still behind: red
    caught_up = lag_chart([(60.0, 30), (99.0, 0)], now=100.0)  # the 30 is before the window
    assert "top: 30" in caught_up and "#1a7f37" in caught_up  # opens at 30, ends at 0: green
    assert caught_up.split('points="')[1].startswith("0.0,")


def test_the_dashboard_draws_its_lag_over_time(dash: Dashboard, svc: QueuedRunService) -> None:
    dash.refresh()
    for _ in range(3):
        svc.record("acme", "ok")
        dash.refresh()
    chart = dash.lag_view.value
    assert chart.startswith('<svg class="cqrs-lag-chart"') and "top: 3" in chart
