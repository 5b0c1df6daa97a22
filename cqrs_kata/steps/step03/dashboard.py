"""A live dashboard for a queued projection: record runs, drain, and watch the view lag.

``Dashboard(service)`` shows, side by side, what the write log says (the truth) and what the
view says, which counts are stale, the queue's depth and the lag. Buttons record runs and
drain; two sliders run a background writer and a background projector at a chosen rate, so
lag grows when writes outpace the projector and shrinks when they do not.

Every change goes through the service's own methods, and every snapshot is read under the
service's lock, so a step 03 service built on ``threading.Lock`` or ``Condition`` works as is.

No thread: the background work is one asyncio task on the event loop the dashboard runs in
(ipykernel's loop in JupyterLab; the browser's loop in JupyterLite, where threads cannot
start). It runs while the kernel is idle, between cells or while a cell awaits; a cell that
computes, sleeps or blocks (``wait_for`` on this service, say) pauses it until the cell ends.
Each tick writes and drains in plain calls that never yield, so a click, a cell and a tick
never interleave inside a service call. Where no event loop runs (a script, a plain test), a
rate is kept but nothing runs it, and the dashboard says so; ``tick(seconds)`` steps it by hand.

A tick that raises, that is interrupted (ipykernel ignores its Interrupt button while idle,
so a tick lets it through), or that takes over ``SLOW_TICK_SECONDS`` sets both sliders to 0
and says why, so a broken or slow service cannot hold the kernel unnoticed. A tick that never
returns holds the kernel until it is interrupted: nothing else runs meanwhile.

Life cycle: the task starts at the first non-zero rate set while an event loop runs. A
dashboard stops for good (its task is cancelled, so no tick starts after that, and the task
ends at the loop's next turn if the loop takes one; its sliders go to 0 and are disabled, and
it says so) on ``stop()`` or ``close()``, when a newer ``Dashboard`` is made for the same
service object, when the notebook cell that made it runs again (JupyterLab tells the kernel
which cell runs), when every view that showed it has been removed for ``UNSEEN_SECONDS`` (its
output cleared, its cell deleted: the widgets front end counts the views; a closed or reloaded
browser tab removes none, and is not noticed), when it is garbage
collected, at interpreter exit (a kernel shutting down), and when its event loop cancels the
task (``asyncio.run`` ending). The cell, service and view rules matter because ipywidgets keeps
every widget alive until it is closed, and IPython keeps displayed results in ``Out``: an old
dashboard is never collected.

The widget has a plain-text form (its ``repr``), so a saved notebook reads well without a
browser and nbval compares something deterministic. Both forms show any ``str`` safely: what
UTF-8 cannot encode (a lone surrogate such as ``"\\ud800"``) is shown as a backslash escape.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import html
import random
import signal
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import ipywidgets as widgets

from cqrs_kata.course.expect import printable

TENANTS = ("acme", "globex", "initech")
STATUSES = ("ok", "fail")
MAX_RATE = 200
"""Highest rate, in events (or runs) per second, the sliders offer."""
RATE_STEP = 5
"""The sliders move in steps of this many per second."""
TICK_SECONDS = 0.05
"""How often the background task wakes up to write, drain and refresh the display."""
MAX_TICK_SECONDS = 1.0
"""The most time one tick makes up for: after a long cell the writer does not write in a burst."""
SLOW_TICK_SECONDS = 1.0
"""A tick whose service calls take longer than this sets the sliders to 0."""
RESTART_HINT = "create a new Dashboard(service) to run it again"
NO_LOOP = ("; no event loop runs here, so nothing runs it in the background: "
           "call tick(seconds) to step it by hand")


class _Run(Protocol):
    @property
    def tenant(self) -> str: ...

    @property
    def status(self) -> str: ...


class _Write(Protocol):
    def all(self) -> Sequence[_Run]: ...


class _Read(Protocol):
    def summary(self, tenant: str) -> dict[str, int]: ...


class _Lag(Protocol):
    @property
    def events(self) -> int: ...

    @property
    def oldest_age(self) -> float: ...


class ProjectedService(Protocol):
    """What the dashboard needs: step 03's ``QueuedRunService`` (the reference or yours)."""

    @property
    def write(self) -> _Write: ...

    @property
    def read(self) -> _Read: ...

    @property
    def lock(self) -> AbstractContextManager[Any]: ...

    def record(self, tenant: str, status: str) -> int: ...

    def drain(self, max_events: int | None = None) -> int: ...

    def lag(self) -> _Lag: ...

    def rebuild_read_model(self) -> None: ...


@dataclass(frozen=True)
class Row:
    """One tenant and status: what the view says beside what the truth says."""

    tenant: str
    status: str
    view: int
    truth: int

    @property
    def stale(self) -> bool:
        return self.view != self.truth


@dataclass(frozen=True)
class Snapshot:
    """Everything the dashboard shows, read at one instant under the service's lock."""

    written: int
    queued: int
    oldest_age: float
    rows: tuple[Row, ...]

    @property
    def stale(self) -> tuple[Row, ...]:
        return tuple(r for r in self.rows if r.stale)


def snapshot(service: ProjectedService) -> Snapshot:
    """Read the write log, the view and the lag of ``service`` as one consistent picture."""
    with service.lock:
        runs = service.write.all()
        lag = service.lag()
        truth: dict[tuple[str, str], int] = {}
        for run in runs:
            key = (run.tenant, run.status)
            truth[key] = truth.get(key, 0) + 1
        tenants = sorted({t for t, _ in truth} | set(TENANTS))
        view = {(t, s): n for t in tenants for s, n in service.read.summary(t).items()}
    keys = sorted(truth.keys() | view.keys(), key=_row_order)
    rows = tuple(Row(t, s, view.get((t, s), 0), truth.get((t, s), 0)) for t, s in keys)
    return Snapshot(len(runs), lag.events, lag.oldest_age, rows)


def _row_order(key: tuple[str, str]) -> tuple[str, int, str]:
    tenant, status = key
    return (tenant, STATUSES.index(status) if status in STATUSES else len(STATUSES), status)


def stopped_note(reason: str) -> str:
    """What a stopped dashboard says about its background work, and what to do about it."""
    why = f" ({printable(reason)})" if reason else ""
    return f"stopped{why}; {RESTART_HINT}"


def as_text(snap: Snapshot, projector_rate: int = 0, writer_rate: int = 0,
            message: str = "", stopped: str | None = None) -> str:
    """The plain-text form; ``stopped`` is None while running, else why the dashboard stopped."""
    background = (f"writer {writer_rate} runs/s, projector {projector_rate} events/s"
                  if stopped is None else stopped_note(stopped))
    lines = [
        f"CQRS dashboard: write log {snap.written} runs | queue {snap.queued} events | "
        f"lag {snap.queued} events, oldest waited {snap.oldest_age:.1f} s",
        f"background: {background}",
        f"{'tenant':<10} {'status':<8} {'view':>6} {'truth':>6}",
    ]
    lines += [f"{printable(r.tenant):<10} {printable(r.status):<8} {r.view:>6} {r.truth:>6}"
              + ("  stale" if r.stale else "") for r in snap.rows]
    if not snap.rows:
        lines.append("(no runs recorded yet)")
    if message:
        lines.append(printable(message))
    return "\n".join(lines)


def as_html(snap: Snapshot, message: str = "", stopped: str | None = None) -> str:
    """The HTML form; ``stopped`` is None while running, else why the dashboard stopped."""
    def escape(value: object) -> str:
        return html.escape(printable(str(value)))

    def cell(value: object, cls: str = "") -> str:
        return f'<td class="{cls}" style="padding: 0 1em 0 0">{escape(value)}</td>'

    rows = "".join(
        f'<tr class="cqrs-row{" cqrs-stale" if r.stale else ""}" '
        f'data-key="{escape(r.tenant)}/{escape(r.status)}">'
        + cell(r.tenant) + cell(r.status) + cell(r.view, "cqrs-view") + cell(r.truth, "cqrs-truth")
        + cell("stale" if r.stale else "", "cqrs-stale-mark").replace(
            "padding", "color: #cf222e; padding") + "</tr>"
        for r in snap.rows
    ) or '<tr><td colspan="5">no runs recorded yet</td></tr>'
    lag_colour = "#cf222e" if snap.queued else "#1a7f37"
    banner = ("" if stopped is None else
              '<div class="cqrs-stopped" style="font-family: monospace; color: #cf222e">'
              f"background {escape(stopped_note(stopped))}</div>")
    note = f'<div class="cqrs-message">{escape(message)}</div>' if message else ""
    return (
        f'{banner}<div class="cqrs-summary" style="font-family: monospace">'
        f'write log <b class="cqrs-written">{snap.written}</b> runs · '
        f'queue <b class="cqrs-queued">{snap.queued}</b> events · '
        f'<span style="color:{lag_colour}">lag <b class="cqrs-lag-events">{snap.queued}</b> '
        f'events, oldest waited <b class="cqrs-lag-age">{snap.oldest_age:.1f}</b> s</span></div>'
        '<table class="cqrs-counts" style="font-family: monospace">'
        "<tr><th>tenant</th><th>status</th><th>view</th><th>truth</th><th></th></tr>"
        f"{rows}</table>{note}"
    )


LAG_WINDOW_SECONDS = 30.0
"""How far back the lag chart reaches."""
_CHART_W, _CHART_H = 480, 90


def lag_chart(samples: Sequence[tuple[float, int]], now: float,
              window: float = LAG_WINDOW_SECONDS) -> str:
    """An SVG of the queue's length (the lag in events) over the last ``window`` seconds, from
    ``(monotonic time, events queued)`` samples: flat at 0 while the projector keeps up, a
    ramp while the writer outpaces it. Plain SVG, so it draws in a browser kernel too."""
    start = now - window
    shown = [(t, n) for t, n in samples if t >= start]
    before = [n for t, n in samples if t < start]
    if before:  # the value the window opens with
        shown.insert(0, (start, before[-1]))
    if not shown:
        return ""
    top = max(1, max(n for _, n in shown))

    def x(t: float) -> float:
        return round((t - start) / window * _CHART_W, 1)

    def y(n: int) -> float:
        return round(_CHART_H - 4 - n / top * (_CHART_H - 18), 1)

    points = []
    for (t, n), following in zip(shown, [*shown[1:], (now, shown[-1][1])], strict=True):
        points += [f"{x(t)},{y(n)}", f"{x(following[0])},{y(n)}"]  # held until the next one
    colour = "#cf222e" if shown[-1][1] else "#1a7f37"
    return (f'<svg class="cqrs-lag-chart" width="{_CHART_W}" height="{_CHART_H}" '
            f'viewBox="0 0 {_CHART_W} {_CHART_H}" style="font: 11px monospace">'
            f'<line x1="0" y1="{y(0)}" x2="{_CHART_W}" y2="{y(0)}" stroke="#ccc"/>'
            f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" '
            f'points="{" ".join(points)}"/>'
            f'<text x="2" y="11">lag in events, last {window:g} s (top: {top})</text></svg>')


# Life cycle ------------------------------------------------------------------------------


class _Pump:
    """One dashboard's background task and its stop flag.

    It holds no reference to the dashboard (the task gets a weak one), so the finalizer and the
    exit hook can stop it without keeping the dashboard alive. Those two may run in any thread
    (the garbage collector runs where it is triggered, in ipykernel's own threads too), so the
    task is cancelled through its loop when they are not on the loop's thread.
    """

    def __init__(self) -> None:
        self.stopped = False
        self.reason = ""
        self.task: asyncio.Task[None] | None = None

    def start(self, dashboard: Dashboard) -> bool:
        """Start the task on the running loop, unless it runs already; False if no loop runs.

        A stopped pump never starts again (True: there is nothing to run).
        """
        if self.stopped or self.task is not None:
            return True
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            return False
        self.task = loop.create_task(_pump(weakref.ref(dashboard), self),
                                     name="cqrs-dashboard-projector")
        with _PUMPS_LOCK:
            _PUMPS.add(self)
        return True

    def halt(self, reason: str) -> None:
        """Stop for good (the first reason given is kept): no tick starts after this.

        Called on the task's loop, it cancels the task there and then, and the task ends at
        the loop's next turn; from another thread it asks the loop to cancel it. A loop that
        is closed runs nothing any more, so its task needs no cancelling.
        """
        if not self.stopped:
            self.stopped, self.reason = True, reason
        with _PUMPS_LOCK:
            _PUMPS.discard(self)
        task = self.task
        if task is None or task.done():
            return
        loop = task.get_loop()
        try:
            if _running_loop() is loop:
                task.cancel()
            else:
                loop.call_soon_threadsafe(task.cancel)
        except RuntimeError:  # the loop is closed
            pass

    @property
    def alive(self) -> bool:
        """Whether the task will tick again."""
        return not self.stopped and self.task is not None and not self.task.done()


def _running_loop() -> asyncio.AbstractEventLoop | None:
    try:
        return asyncio.get_running_loop()
    except RuntimeError:
        return None


_PUMPS: set[_Pump] = set()
"""The pumps whose task may still run: what the exit hook stops."""
_PUMPS_LOCK = threading.Lock()
LOOP_ENDED = "its event loop cancelled the background task"
EXITING = "the interpreter is exiting"


@atexit.register
def _stop_all() -> None:
    """Stop every background task: what runs at exit (by then the kernel's loop has stopped)."""
    with _PUMPS_LOCK:
        pumps = list(_PUMPS)
    for pump in pumps:
        pump.halt(EXITING)


async def _pump(ref: weakref.ReferenceType[Dashboard], pump: _Pump) -> None:
    """The background task: holds the dashboard only weakly, so it can be collected."""
    last = time.monotonic()
    try:
        while not pump.stopped:
            await asyncio.sleep(TICK_SECONDS)
            dashboard = ref()
            if dashboard is None or pump.stopped:
                return
            now = time.monotonic()
            dashboard.tick(min(now - last, MAX_TICK_SECONDS))
            del dashboard
            last = now
    except asyncio.CancelledError:
        dashboard = ref()
        if not pump.stopped and dashboard is not None:  # not ours: the loop is going away
            dashboard._halt(LOOP_ENDED)
        raise


def _allow_interrupts() -> bool:
    """Let an interrupt (SIGINT) raise KeyboardInterrupt where the kernel ignores it; True if so.

    ipykernel ignores SIGINT while idle and turns it into KeyboardInterrupt only while it runs
    a request, but a tick runs while the kernel is idle: without this, the Interrupt button
    could not stop a learner's drain that loops. Elsewhere (not the main thread, a browser's
    Python without signals, a handler already set) it changes nothing and returns False.
    """
    try:
        if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
            signal.signal(signal.SIGINT, signal.default_int_handler)
            return True
    except (AttributeError, OSError, ValueError):
        pass
    return False


def _ignore_interrupts() -> None:
    """Undo ``_allow_interrupts``; an interrupt still pending is dropped with it."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


@dataclass(frozen=True)
class _Cell:
    """Which notebook cell made a dashboard, and which run of that cell."""

    cell_id: str
    run_id: str


def _current_cell() -> _Cell | None:
    """The notebook cell running now, or None (no IPython kernel, or no cell id sent).

    ipykernel keeps the request it is handling (``get_ipython().get_parent()``); JupyterLab
    puts the cell's id in an execute request's metadata, and the request's ``msg_id`` tells one
    run of the cell from the next. Other front ends (nbclient, the terminal) send no cell id.
    """
    try:
        from IPython import get_ipython
    except ImportError:
        return None
    get_parent = getattr(get_ipython(), "get_parent", None)
    if not callable(get_parent):
        return None
    try:
        parent = get_parent()
    except Exception:  # a shell without a current request
        return None
    if not isinstance(parent, dict):
        return None
    metadata, header = parent.get("metadata"), parent.get("header")
    cell_id = metadata.get("cellId") if isinstance(metadata, dict) else None
    run_id = header.get("msg_id") if isinstance(header, dict) else None
    if not (isinstance(cell_id, str) and cell_id and isinstance(run_id, str) and run_id):
        return None
    return _Cell(cell_id, run_id)


_LIVE: weakref.WeakSet[Dashboard] = weakref.WeakSet()
"""Dashboards not stopped yet: a new one stops those it replaces."""
_LIVE_LOCK = threading.Lock()
SAME_SERVICE = "a newer Dashboard for the same service replaced it"
NOT_SHOWN = "no view shows it any more (its output was cleared, or its cell deleted)"
UNSEEN_SECONDS = 3.0
"""How long a dashboard that was shown may have no view before it stops."""
CELL_RUN_AGAIN = "the cell that made it ran again"


def _replaced_by(new: Dashboard, old: Dashboard) -> str:
    """Why ``new`` replaces ``old`` ("" if it does not)."""
    if old.service is new.service:
        return SAME_SERVICE
    if (new._cell is not None and old._cell is not None
            and new._cell.cell_id == old._cell.cell_id and new._cell.run_id != old._cell.run_id):
        return CELL_RUN_AGAIN  # an earlier run of this cell; one run may make several
    return ""


def _take_over(new: Dashboard) -> None:
    """Register ``new`` as live and stop every live dashboard it replaces."""
    with _LIVE_LOCK:
        replaced = [(old, why) for old in list(_LIVE) if (why := _replaced_by(new, old))]
        _LIVE.add(new)
    for old, why in replaced:
        old._halt(why)


class Dashboard(widgets.VBox):  # type: ignore[misc]
    """The live dashboard for a step 03 service; display it with ``Dashboard(service)``.

    A new dashboard for the same service, or a new run of the notebook cell that made this
    one, stops this one for good, as do ``stop()`` and ``close()``. A stopped dashboard says
    so; its sliders stay at 0 and are disabled, while its buttons keep working, since they act
    on the service directly and need no background task.
    """

    def __init__(self, service: ProjectedService, *, seed: int = 3) -> None:
        self.service = service
        self._random = random.Random(seed)
        self._credit = {"write": 0.0, "drain": 0.0}
        self._message = ""
        self._pump = _Pump()
        self._last: Snapshot | None = None
        self._lag_samples: collections.deque[tuple[float, int]] = collections.deque(maxlen=2000)
        self._closed = False
        self._since_render = 0.0
        self._in_service = False
        self._calling = ""
        """The service call a tick is in, or was in last: what its messages name."""
        self._cell = _current_cell()
        self._seen = False
        self._unseen_since: float | None = None

        self.tenant = widgets.Dropdown(options=TENANTS, value=TENANTS[0], description="tenant")
        self.status = widgets.Dropdown(options=STATUSES, value=STATUSES[0], description="status")
        self.record_button = self._button("Record run", "cqrs-record", self._on_record)
        self.drain_one_button = self._button("Drain one", "cqrs-drain-one", self._on_drain_one)
        self.drain_all_button = self._button("Drain all", "cqrs-drain-all", self._on_drain_all)
        self.rebuild_button = self._button("Rebuild view", "cqrs-rebuild", self._on_rebuild)
        self.writer_rate = self._slider("writer runs/s", "cqrs-writer-rate")
        self.projector_rate = self._slider("projector ev/s", "cqrs-projector-rate")
        self.status_view = widgets.HTML()
        self.status_view.add_class("cqrs-dashboard-status")
        self.lag_view = widgets.HTML()
        self.lag_view.add_class("cqrs-dashboard-lag")
        super().__init__(children=[
            widgets.HBox([self.tenant, self.status, self.record_button]),
            widgets.HBox([self.drain_one_button, self.drain_all_button, self.rebuild_button]),
            widgets.HBox([self.writer_rate, self.projector_rate]),
            self.status_view,
            self.lag_view,
        ])
        self.add_class("cqrs-dashboard")
        # Never fires while ipywidgets holds the widget (until close()); kept for when it does.
        # Not at exit: _stop_all stops every task then.
        self._finalizer = weakref.finalize(self, self._pump.halt, "garbage collected")
        self._finalizer.atexit = False
        # The widgets front end counts the views it shows (0 starts the count): a dashboard that
        # was shown and whose views were all removed (output cleared, cell deleted) stops.
        self._view_count = 0
        self.observe(self._on_views, names="_view_count")
        self.refresh()
        _take_over(self)

    # Building blocks ---------------------------------------------------------------------

    def _button(self, label: str, cls: str, action: Callable[[], str]) -> widgets.Button:
        button = widgets.Button(description=label, tooltip=label)
        button.add_class(cls)
        button.on_click(lambda _: self._guarded(action))
        return button

    def _slider(self, label: str, cls: str) -> widgets.IntSlider:
        # Steps of 5 on a wide track: the rates the notebook asks for (10, 20, 40) are a drag
        # apart (10 px a step), where steps of 1 on the default track put them pixels apart.
        slider = widgets.IntSlider(value=0, min=0, max=MAX_RATE, step=RATE_STEP,
                                   description=label, continuous_update=False,
                                   layout=widgets.Layout(width="480px"),
                                   style={"description_width": "initial"})
        slider.add_class(cls)
        slider.observe(self._on_rate, names="value")
        return slider

    def _guarded(self, action: Callable[[], str]) -> None:
        """Run a button's action; show what went wrong instead of losing it in a log."""
        self._in_service = True
        try:
            self._message = action()
        except Exception as error:  # the learner's service may raise anything
            self._message = f"{type(error).__name__}: {error}"
        finally:
            self._in_service = False
        self._redraw()

    # Actions -----------------------------------------------------------------------------

    def _on_record(self) -> str:
        position = self.service.record(str(self.tenant.value), str(self.status.value))
        return f"recorded {self.tenant.value}/{self.status.value} at position {position}"

    def _on_drain_one(self) -> str:
        return f"drained {self.service.drain(1)} event(s)"

    def _on_drain_all(self) -> str:
        return f"drained {self.service.drain()} event(s)"

    def _on_rebuild(self) -> str:
        self.service.rebuild_read_model()
        return "rebuilt the view from the write log"

    def _on_rate(self, change: dict[str, Any]) -> None:
        if self.stopped:
            if change["new"]:  # nothing would run at that rate: refuse it, and say why
                self._message = f"{change['owner'].description} stays 0: this dashboard is stopped"
                change["owner"].value = 0  # comes back here with 0, which is left alone
                self._redraw()
            return
        self._message = f"{change['owner'].description} set to {change['new']}"
        if change["new"] and not self._pump.start(self):
            self._message += NO_LOOP
        self._redraw()

    def _on_views(self, change: dict[str, Any]) -> None:
        views = change["new"] or 0
        if views > 0:
            self._seen, self._unseen_since = True, None
        elif self._seen and self._unseen_since is None:
            self._unseen_since = time.monotonic()

    def tick(self, seconds: float = TICK_SECONDS) -> None:
        """One step of the background work: write and drain what the rates allow in ``seconds``.

        The background task calls it every ``TICK_SECONDS``; call it yourself where no event
        loop runs. If the service raises, is interrupted, or takes longer than
        ``SLOW_TICK_SECONDS``, both sliders go to 0 and the dashboard says why.
        """
        started = time.monotonic()
        if (self._unseen_since is not None and not self.stopped
                and started - self._unseen_since >= UNSEEN_SECONDS):
            self._halt(NOT_SHOWN)
            return
        changed, problem = False, ""
        self._in_service = True
        allowed = _allow_interrupts()
        try:
            changed = self._work(seconds)
        except KeyboardInterrupt:
            if not allowed:  # someone else's Ctrl-C (a script, a cell awaiting): theirs to handle
                self._stop_rates(f"background stopped the sliders: interrupted in {self._calling}")
                raise
            problem = f"interrupted in {self._calling}"
        except (Exception, SystemExit) as error:  # anything; sys.exit() would end the kernel
            problem = f"{self._calling} raised {type(error).__name__}: {error}"
        finally:
            if allowed:
                _ignore_interrupts()
            self._in_service = False
        took = time.monotonic() - started
        if not problem and took > SLOW_TICK_SECONDS:
            problem = (f"one step took {took:.1f} s (more than {SLOW_TICK_SECONDS:g} s), "
                       "which holds up the kernel")
        if problem:
            self._stop_rates(f"background stopped the sliders: {problem}")
        self._since_render += seconds
        if changed or problem or self.stopped or self._since_render >= 0.25:
            self._redraw()  # ages grow even when nothing happens

    def _work(self, seconds: float) -> bool:
        """The service calls of one tick; whether anything changed."""
        writes = self._take("write", int(self.writer_rate.value) * seconds)
        for _ in range(writes):
            if self.stopped:
                break
            tenant, status = self._random.choice(TENANTS), self._random.choice(STATUSES)
            self._calling = f"record({tenant!r}, {status!r})"
            self.service.record(tenant, status)
        drains = 0 if self.stopped else self._take(
            "drain", int(self.projector_rate.value) * seconds)
        if drains:
            self._calling = f"drain({drains})"
            self.service.drain(drains)
        return bool(writes or drains)

    def _take(self, kind: str, amount: float) -> int:
        """Whole events due now; the fraction carries over, so low rates still progress."""
        self._credit[kind] += amount
        whole = int(self._credit[kind])
        self._credit[kind] -= whole
        return whole

    def _stop_rates(self, message: str) -> None:
        """Both sliders to 0 (the task keeps refreshing the display), and say why."""
        self.writer_rate.value = self.projector_rate.value = 0
        self._message = message  # after the sliders, whose change sets a message of its own

    # Display and life cycle --------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the background task will tick again."""
        return self._pump.alive

    @property
    def task(self) -> asyncio.Task[None] | None:
        """The background task (None until a rate is set while a loop runs); await it if needed.

        Once the dashboard stops it is cancelled, and ends at its loop's next turn.
        """
        return self._pump.task

    @property
    def stopped(self) -> bool:
        """Whether this dashboard has stopped for good (see the class docstring)."""
        return self._pump.stopped

    def _stopped_reason(self) -> str | None:
        return self._pump.reason if self.stopped else None

    def refresh(self) -> Snapshot:
        """Read a fresh snapshot and show it; returns it (handy in tests)."""
        snap = snapshot(self.service)
        self._last = snap
        self.status_view.value = as_html(snap, self._message, self._stopped_reason())
        now = time.monotonic()
        self._lag_samples.append((now, snap.queued))
        self.lag_view.value = lag_chart(self._lag_samples, now)
        self._since_render = 0.0
        return snap

    def _redraw(self) -> None:
        """Refresh; if the service cannot be read, show the last snapshot and say why."""
        try:
            self.refresh()
        except Exception as error:  # the learner's lag() may raise anything
            self._message = f"cannot read the service: {type(error).__name__}: {error}"
            self._show_last()

    def text(self) -> str:
        return as_text(snapshot(self.service), int(self.projector_rate.value),
                       int(self.writer_rate.value), self._message, self._stopped_reason())

    def __repr__(self) -> str:
        return self.text()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle: dict[str, Any] = super()._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = self.text()  # whole, where ipywidgets would cut at 110 chars
        return bundle

    def stop(self) -> None:
        """Stop for good: cancel the background task, so that no tick starts after this.

        The sliders go to 0 and are disabled, and the display says the dashboard is stopped;
        the buttons still act on the service. Called from inside a tick (say, from inside the
        service), the rest of that tick writes and drains nothing more.
        To run the background again, create a new ``Dashboard(service)``.
        """
        self._halt("stop() was called")

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._halt("close() was called", show=False)
        for child in self._descendants():
            child.close()
        super().close()

    def _halt(self, reason: str, *, show: bool = True) -> None:
        """Every way of stopping ends here: the task, the registry, the sliders, the display."""
        self._pump.halt(reason)
        with _LIVE_LOCK:
            _LIVE.discard(self)
        for slider in (self.writer_rate, self.projector_rate):
            slider.disabled = True
            slider.value = 0  # _on_rate leaves a 0 alone once stopped
        if not show:
            return
        if self._in_service:
            # Inside a service call, which may hold the service's lock that refresh() would
            # wait for: show the last snapshot now; the tick or button refreshes after the call.
            self._show_last()
        else:
            self._redraw()

    def _show_last(self) -> None:
        """Show the last snapshot, without reading the service (its lock may be held)."""
        if self._last is not None:
            self.status_view.value = as_html(self._last, self._message, self._stopped_reason())

    def _descendants(self) -> list[widgets.Widget]:
        found: list[widgets.Widget] = []
        pending = list(self.children)
        while pending:
            child = pending.pop()
            found.append(child)
            pending.extend(getattr(child, "children", ()))
        return found
