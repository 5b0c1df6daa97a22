"""What this Python can do, found out once: the one place the kata asks.

In a browser kernel (Pyodide, JupyterLite: ``sys.platform == "emscripten"``) there are no
threads, no processes, no signals and no PostgreSQL, and matplotlib may be missing. Checks
declare what they need (``STEP.check(..., needs=("threads",))``); a check whose need is missing
here is reported as running only in a local install, with the reason, never run and failed.
Notebook helpers that need one say so in a sentence instead of raising.

Tests pretend to be somewhere else with :func:`pretend` (or by monkeypatching ``_detected``).
"""

from __future__ import annotations

import importlib.util
import os
import sys
import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal, get_args

Need = Literal["threads", "processes", "signals", "postgresql", "matplotlib"]
NEEDS: tuple[Need, ...] = get_args(Need)

IN_BROWSER = sys.platform in ("emscripten", "wasi")
"""This Python runs inside a browser tab (or another WebAssembly host)."""

LOCAL_ONLY = "runs only in a local install"
START = "see README 'Start'"

_DOES: dict[Need, str] = {
    "threads": "starts threads",
    "processes": "starts processes",
    "signals": "sends signals to processes",
    "postgresql": "needs a PostgreSQL server",
    "matplotlib": "draws plots with matplotlib",
}


@dataclass(frozen=True)
class Capabilities:
    """What can be had here; one field per :data:`Need`, and whether this is a browser."""

    browser: bool
    threads: bool
    processes: bool
    signals: bool
    postgresql: bool
    matplotlib: bool

    def has(self, need: Need) -> bool:
        value: bool = getattr(self, need)
        return value


BROWSER = Capabilities(browser=True, threads=False, processes=False, signals=False,
                       postgresql=False, matplotlib=False)
"""A browser kernel, as the kata sees one: for tests that pretend to be there."""


def _threads_start() -> bool:
    try:
        thread = threading.Thread(target=lambda: None, daemon=True)
        thread.start()
    except RuntimeError:  # "can't start new thread": Pyodide, or a thread limit reached
        return False
    thread.join()
    return True


def _importable(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):
        return False


def detect() -> Capabilities:
    """Look (once a process: :func:`here` keeps the answer)."""
    processes = not IN_BROWSER
    return Capabilities(
        browser=IN_BROWSER,
        threads=not IN_BROWSER and _threads_start(),
        processes=processes,
        signals=processes,  # signals are sent to processes: none without them
        # The server is a process of its own, reached through psycopg.
        postgresql=processes and _importable("psycopg"),
        matplotlib=_importable("matplotlib"),
    )


_detected: Capabilities | None = None


def here() -> Capabilities:
    global _detected
    if _detected is None:
        _detected = detect()
    return _detected


@contextmanager
def pretend(capabilities: Capabilities) -> Iterator[None]:
    """Within the block, the kata sees ``capabilities`` instead of what this Python has."""
    global _detected
    saved = _detected
    _detected = capabilities
    try:
        yield
    finally:
        _detected = saved


SCRATCH_ENV = "CQRS_KATA_SCRATCH"
"""Set in a check process: its own scratch folder, which the runner removes when it ends."""


def scratch_folder() -> str | None:
    """Where scratch databases and files go: a check process's own folder (removed with all
    in it when that process ends, however it ends), else memory-backed /dev/shm when there
    is one (no disk writes at all), else None: the usual temporary folder."""
    given = os.environ.get(SCRATCH_ENV)
    if given and os.path.isdir(given):
        return given
    shm = "/dev/shm"
    return shm if os.path.isdir(shm) and os.access(shm, os.W_OK | os.X_OK) else None


def has(need: Need) -> bool:
    return here().has(need)


def missing(needs: Iterable[Need]) -> tuple[Need, ...]:
    """The needs of ``needs`` that cannot be had here, in the order given."""
    return tuple(n for n in needs if not has(n))


def _kernel() -> str:
    return "a browser kernel" if here().browser else "this Python"


def reason(needs: Iterable[Need]) -> str | None:
    """Why something with these needs cannot run here (``"starts threads, which a browser
    kernel cannot"``), or None when it can."""
    lacking = missing(needs)
    if not lacking:
        return None
    does = " and ".join(_DOES[n] for n in lacking)
    if lacking == ("matplotlib",):  # a package, which a local install has
        where = "this browser kernel does not have" if here().browser else "is not installed here"
        return f"{does}, which {where}"
    return f"{does}, which {_kernel()} cannot"


def local_only(needs: Iterable[Need]) -> str | None:
    """``"runs only in a local install: <reason>; see README 'Start'"``, or None when
    everything needed is here: what a notebook helper prints instead of failing."""
    why = reason(needs)
    return None if why is None else f"{LOCAL_ONLY}: {why}; {START}"


def check_needs(needs: Iterable[str]) -> tuple[Need, ...]:
    """``needs`` as a tuple of known needs; an unknown word raises (a typo in a step)."""
    wanted = tuple(needs)
    unknown = [n for n in wanted if n not in NEEDS]
    if unknown:
        raise ValueError(f"{unknown} are not needs; the needs are {', '.join(NEEDS)}")
    return tuple(n for n in NEEDS if n in wanted)


__all__ = [
    "BROWSER",
    "IN_BROWSER",
    "LOCAL_ONLY",
    "NEEDS",
    "SCRATCH_ENV",
    "Capabilities",
    "Need",
    "check_needs",
    "detect",
    "has",
    "here",
    "local_only",
    "missing",
    "pretend",
    "reason",
    "scratch_folder",
]
