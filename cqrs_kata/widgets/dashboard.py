"""A live dashboard for a queued projection: record runs, drain, and watch the view lag.

``Dashboard(service)`` shows, side by side, what the write log says (the truth) and what the
view says, which counts are stale, the queue's depth and the lag. Buttons record runs and
drain; two sliders run a background writer and a background projector at a chosen rate, so
lag grows when writes outpace the projector and shrinks when they do not.

Every change goes through the service's own methods, and every snapshot is read under the
service's lock, so clicking while the background thread works never corrupts a count. The
thread is a daemon that stops when the widget is closed, when the widget is garbage
collected, and at interpreter exit (a kernel shutting down).

The widget has a plain-text form (its ``repr``), so a saved notebook reads well without a
browser and nbval compares something deterministic. Both forms show any ``str`` safely: what
UTF-8 cannot encode (a lone surrogate such as ``"\\ud800"``) is shown as a backslash escape.
"""

from __future__ import annotations

import atexit
import html
import random
import threading
import time
import weakref
from collections.abc import Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any, Protocol

import ipywidgets as widgets

TENANTS = ("acme", "globex", "initech")
STATUSES = ("ok", "fail")
MAX_RATE = 200
"""Highest rate, in events (or runs) per second, the sliders offer."""
TICK_SECONDS = 0.05
"""How often the background thread wakes up to write, drain and refresh the display."""


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


def printable(text: str) -> str:
    """``text`` with what UTF-8 cannot encode (lone surrogates) spelled as ``\\udXXX`` escapes.

    A tenant such as ``"\\ud800"`` is a valid ``str`` that no notebook can send or print;
    shown this way it is visible, and the same every time.
    """
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def as_text(snap: Snapshot, projector_rate: int = 0, writer_rate: int = 0,
            message: str = "") -> str:
    lines = [
        f"CQRS dashboard: write log {snap.written} runs | queue {snap.queued} events | "
        f"lag {snap.queued} events, oldest waited {snap.oldest_age:.1f} s",
        f"background: writer {writer_rate} runs/s, projector {projector_rate} events/s",
        f"{'tenant':<10} {'status':<8} {'view':>6} {'truth':>6}",
    ]
    lines += [f"{printable(r.tenant):<10} {printable(r.status):<8} {r.view:>6} {r.truth:>6}"
              + ("  stale" if r.stale else "") for r in snap.rows]
    if not snap.rows:
        lines.append("(no runs recorded yet)")
    if message:
        lines.append(printable(message))
    return "\n".join(lines)


def as_html(snap: Snapshot, message: str = "") -> str:
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
    note = f'<div class="cqrs-message">{escape(message)}</div>' if message else ""
    return (
        '<div class="cqrs-summary" style="font-family: monospace">'
        f'write log <b class="cqrs-written">{snap.written}</b> runs · '
        f'queue <b class="cqrs-queued">{snap.queued}</b> events · '
        f'<span style="color:{lag_colour}">lag <b class="cqrs-lag-events">{snap.queued}</b> '
        f'events, oldest waited <b class="cqrs-lag-age">{snap.oldest_age:.1f}</b> s</span></div>'
        '<table class="cqrs-counts" style="font-family: monospace">'
        "<tr><th>tenant</th><th>status</th><th>view</th><th>truth</th><th></th></tr>"
        f"{rows}</table>{note}"
    )


_STOP_AT_EXIT: set[threading.Event] = set()


@atexit.register
def _stop_all() -> None:
    for stop in list(_STOP_AT_EXIT):
        stop.set()


def _pump(ref: weakref.ReferenceType[Dashboard], stop: threading.Event) -> None:
    """The background thread: holds the dashboard only weakly, so it can be collected."""
    last = time.monotonic()
    while not stop.wait(TICK_SECONDS):
        now = time.monotonic()
        dashboard = ref()
        if dashboard is None:
            return
        dashboard._tick(now - last)
        del dashboard
        last = now


class Dashboard(widgets.VBox):  # type: ignore[misc]
    """The live dashboard for a step 03 service; display it with ``Dashboard(service)``."""

    def __init__(self, service: ProjectedService, *, seed: int = 3) -> None:
        self.service = service
        self._random = random.Random(seed)
        self._credit = {"write": 0.0, "drain": 0.0}
        self._message = ""
        self._render_lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._since_render = 0.0

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
        super().__init__(children=[
            widgets.HBox([self.tenant, self.status, self.record_button]),
            widgets.HBox([self.drain_one_button, self.drain_all_button, self.rebuild_button]),
            widgets.HBox([self.writer_rate, self.projector_rate]),
            self.status_view,
        ])
        self.add_class("cqrs-dashboard")
        weakref.finalize(self, self._stop.set)
        _STOP_AT_EXIT.add(self._stop)
        self.refresh()

    # Building blocks ---------------------------------------------------------------------

    def _button(self, label: str, cls: str, action: Any) -> widgets.Button:
        button = widgets.Button(description=label, tooltip=label)
        button.add_class(cls)
        button.on_click(lambda _: self._guarded(action))
        return button

    def _slider(self, label: str, cls: str) -> widgets.IntSlider:
        slider = widgets.IntSlider(value=0, min=0, max=MAX_RATE, step=1, description=label,
                                   continuous_update=False,
                                   style={"description_width": "initial"})
        slider.add_class(cls)
        slider.observe(self._on_rate, names="value")
        return slider

    def _guarded(self, action: Any) -> None:
        """Run a button's action; show what went wrong instead of losing it in a log."""
        try:
            self._message = action() or ""
        except Exception as error:  # the learner's service may raise anything
            self._message = f"{type(error).__name__}: {error}"
        self.refresh()

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
        self._message = f"{change['owner'].description} set to {change['new']}"
        if change["new"] and self._thread is None and not self._stop.is_set():
            self._thread = threading.Thread(target=_pump, args=(weakref.ref(self), self._stop),
                                            name="cqrs-dashboard-projector", daemon=True)
            self._thread.start()
        self.refresh()

    def _tick(self, seconds: float) -> None:
        """One step of the background thread: write and drain what the rates allow."""
        changed = False
        try:
            writes = self._take("write", int(self.writer_rate.value) * seconds)
            for _ in range(writes):
                self.service.record(self._random.choice(TENANTS), self._random.choice(STATUSES))
            drains = self._take("drain", int(self.projector_rate.value) * seconds)
            if drains:
                self.service.drain(drains)
            changed = bool(writes or drains)
        except Exception as error:
            self.writer_rate.value = self.projector_rate.value = 0
            self._message = f"background thread stopped sliders: {type(error).__name__}: {error}"
            changed = True
        self._since_render += seconds
        if changed or self._since_render >= 0.25:  # ages grow even when nothing happens
            self.refresh()

    def _take(self, kind: str, amount: float) -> int:
        """Whole events due now; the fraction carries over, so low rates still progress."""
        self._credit[kind] += amount
        whole = int(self._credit[kind])
        self._credit[kind] -= whole
        return whole

    # Display and life cycle --------------------------------------------------------------

    @property
    def running(self) -> bool:
        """Whether the background thread is alive."""
        return self._thread is not None and self._thread.is_alive()

    def refresh(self) -> Snapshot:
        """Read a fresh snapshot and show it; returns it (handy in tests)."""
        with self._render_lock:
            snap = snapshot(self.service)
            self.status_view.value = as_html(snap, self._message)
            self._since_render = 0.0
            return snap

    def text(self) -> str:
        return as_text(snapshot(self.service), int(self.projector_rate.value),
                       int(self.writer_rate.value), self._message)

    def __repr__(self) -> str:
        return self.text()

    def _repr_mimebundle_(self, **kwargs: Any) -> dict[str, Any]:
        bundle: dict[str, Any] = super()._repr_mimebundle_(**kwargs)
        bundle["text/plain"] = self.text()  # whole, where ipywidgets would cut at 110 chars
        return bundle

    def stop(self, timeout: float = 2.0) -> None:
        """Stop the background thread and wait for it (at most ``timeout`` seconds)."""
        self._stop.set()
        _STOP_AT_EXIT.discard(self._stop)
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    def close(self) -> None:
        self.stop()
        for child in self._descendants():
            child.close()
        super().close()

    def _descendants(self) -> list[widgets.Widget]:
        found: list[widgets.Widget] = []
        pending = list(self.children)
        while pending:
            child = pending.pop()
            found.append(child)
            pending.extend(getattr(child, "children", ()))
        return found
