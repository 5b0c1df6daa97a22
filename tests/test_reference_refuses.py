"""The reference solutions refuse every input their docstrings rule out, and change nothing.

Hypothesis generates bad input for every public method of steps 01, 02, 03 and 04 (wrong types,
bools where ints belong, blank, long and unprintable names, positions out of range, events the
write log does not have, batches with a bad event after good ones) and checks three things for
each: the call raises TypeError or ValueError; it is raised by the reference itself (the last
frame is in solutions/), not by some internal operation that happened to fail; and every
store, queue, view and checkpoint is exactly as it was.
"""

from __future__ import annotations

import copy
import sqlite3
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import solutions.step01 as s01
import solutions.step02 as s02
import solutions.step03 as s03
import solutions.step04 as s04

SOLUTIONS = Path(s02.__file__).resolve().parent
SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=list(HealthCheck))

anything = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.binary(max_size=5),
                     st.lists(st.integers(), max_size=2), st.just(object()), st.text(max_size=5))
not_a_str = anything.filter(lambda v: not isinstance(v, str))
bad_text = st.one_of(
    st.text(alphabet=" \t\n", max_size=4),  # empty or blank
    st.text(min_size=101, max_size=300),  # too long
    st.tuples(st.text(max_size=5), st.sampled_from("\n\t\x00\x07\ud800\u2028"),
              st.text(max_size=5)).map("".join),  # holds something unprintable
)
bad_name = st.one_of(not_a_str, bad_text)
not_a_whole_number = anything.filter(
    lambda v: isinstance(v, bool) or not isinstance(v, int) or v < 0)


def refused(action: Callable[[], object], state: Callable[[], object]) -> None:
    """``action`` raises TypeError or ValueError from the reference's own code, and ``state()``
    is the same afterwards."""
    before = copy.deepcopy(state())
    try:
        action()
    except (TypeError, ValueError) as error:
        where = Path(traceback.extract_tb(error.__traceback__)[-1].filename).resolve()
        assert where.parent == SOLUTIONS, f"raised by {where}, not by the reference: {error!r}"
        assert len(str(error)) > 20, f"not a sentence: {error!r}"
    else:
        raise AssertionError("accepted without complaint")
    assert state() == before, "a refused call changed something"


# Step 01 ---------------------------------------------------------------------------------------


@pytest.mark.parametrize("where", ["missing-folder/kata.db", "a-folder", "not-sqlite.txt"])
def test_step01_connect_says_which_path_and_what_to_do(where: str, tmp_path: Path) -> None:
    (tmp_path / "a-folder").mkdir()
    (tmp_path / "not-sqlite.txt").write_text("these are not the pages of a database\n" * 100)
    with pytest.raises(sqlite3.Error, match=r"as step 01's database .*in a folder that exists"):
        s01.connect(str(tmp_path / where))


@SETTINGS
@given(bad=bad_name, as_tenant=st.booleans())
def test_step01_record_refuses_bad_names(bad: Any, as_tenant: bool) -> None:
    conn = s01.connect()
    s01.record(conn, "t1", "ok")
    tenant, status = (bad, "ok") if as_tenant else ("t1", bad)

    def state() -> object:
        rows = conn.execute("SELECT id, tenant, status, recorded_at FROM runs").fetchall()
        return rows, conn.in_transaction

    refused(lambda: s01.record(conn, tenant, status), state)
    conn.close()


# Step 02 ---------------------------------------------------------------------------------------


def service02() -> s02.RunService:
    svc = s02.RunService(s02.MemoryWrite(), s02.MemoryRead())
    svc.record("t1", "ok")
    svc.record("t2", "fail")
    return svc


def state02(svc: s02.RunService) -> object:
    assert isinstance(svc.write, s02.MemoryWrite) and isinstance(svc.read, s02.MemoryRead)
    return (list(svc.write.data), svc.read.counts)


@SETTINGS
@given(bad=bad_name, as_tenant=st.booleans())
def test_step02_record_refuses_bad_names(bad: Any, as_tenant: bool) -> None:
    svc = service02()
    tenant, status = (bad, "ok") if as_tenant else ("t1", bad)
    refused(lambda: svc.record(tenant, status), lambda: state02(svc))


@SETTINGS
@given(bad=anything)
def test_step02_add_refuses_what_is_not_a_run(bad: Any) -> None:
    svc = service02()
    assert isinstance(svc.write, s02.MemoryWrite)
    refused(lambda: svc.write.add(bad), lambda: state02(svc))


@SETTINGS
@given(position=not_a_whole_number, limit=st.one_of(st.none(), not_a_whole_number))
def test_step02_since_refuses_what_is_not_a_position(position: Any, limit: Any) -> None:
    svc = service02()
    assert isinstance(svc.write, s02.MemoryWrite)
    write = svc.write
    refused(lambda: write.since(position, limit), lambda: state02(svc))
    if limit is not None:
        refused(lambda: write.since(1, limit), lambda: state02(svc))


# Step 03 ---------------------------------------------------------------------------------------


def service03() -> s03.QueuedRunService:
    svc = s03.QueuedRunService(s03.MemoryWrite(), s03.MemoryRead(), lambda: 7.0)
    for tenant in ("t1", "t2", "t1"):
        svc.record(tenant, "ok")
    svc.drain(1)
    return svc


def state03(svc: s03.QueuedRunService) -> object:
    assert isinstance(svc.write, s03.MemoryWrite) and isinstance(svc.read, s03.MemoryRead)
    return (list(svc.write.data), svc.written, svc.applied, list(svc.queue), svc.read.counts)


@SETTINGS
@given(bad=bad_name, as_tenant=st.booleans())
def test_step03_record_refuses_bad_names(bad: Any, as_tenant: bool) -> None:
    svc = service03()
    tenant, status = (bad, "ok") if as_tenant else ("t1", bad)
    refused(lambda: svc.record(tenant, status), lambda: state03(svc))


@SETTINGS
@given(bad=not_a_whole_number.filter(lambda v: v is not None))
def test_step03_drain_refuses_what_is_not_a_count(bad: Any) -> None:
    svc = service03()
    refused(lambda: svc.drain(bad), lambda: state03(svc))


@SETTINGS
@given(position=st.one_of(not_a_whole_number, st.integers(4, 10**6)),
       timeout=st.one_of(st.just(0.0), anything.filter(
           lambda v: isinstance(v, bool) or not isinstance(v, int | float) or not v >= 0)))
def test_step03_wait_for_refuses_impossible_waits(position: Any, timeout: Any) -> None:
    svc = service03()
    refused(lambda: svc.wait_for(position, timeout), lambda: state03(svc))


def test_step03_a_failing_clock_changes_nothing() -> None:
    svc = service03()
    before = copy.deepcopy(state03(svc))

    def broken() -> float:
        raise OSError("no clock")

    svc.clock = broken
    with pytest.raises(OSError):
        svc.record("t3", "ok")
    assert state03(svc) == before


# Step 04 ---------------------------------------------------------------------------------------

LOG = [s02.Run("t1", "ok"), s02.Run("t2", "fail"), s02.Run("t1", "ok"), s02.Run("t2", "ok")]


def projector04() -> s04.Projector:
    projector = s04.Projector(s02.MemoryWrite(list(LOG)))
    projector.deliver([s03.Event(p, r.tenant, r.status, 0.0) for p, r in enumerate(LOG[:2], 1)])
    return projector


def state04(projector: s04.Projector) -> object:
    view = projector.store.current
    assert isinstance(projector.write, s02.MemoryWrite)
    return (id(view), view.counts, view.checkpoint, list(projector.write.data))


def good(position: int) -> s03.Event:
    run = LOG[position - 1]
    return s03.Event(position, run.tenant, run.status, 0.0)


bad_position = st.one_of(not_a_whole_number, st.just(0), st.integers(len(LOG) + 1, 10**9))
bad_event = st.one_of(
    anything,
    st.builds(lambda p: s03.Event(p, "t1", "ok", 0.0), bad_position),
    st.builds(lambda t, p: s03.Event(p, t, LOG[p - 1].status, 0.0), bad_name,
              st.integers(1, len(LOG))),
    st.builds(lambda s, p: s03.Event(p, LOG[p - 1].tenant, s, 0.0), bad_name,
              st.integers(1, len(LOG))),
    st.builds(lambda p: s03.Event(p, "t9", "ok", 0.0), st.integers(1, len(LOG))),  # not logged
)


@SETTINGS
@given(goods=st.integers(0, 2), bad=bad_event, kind=st.sampled_from([list, tuple]))
def test_step04_deliver_refuses_a_batch_with_a_bad_event(goods: int, bad: Any,
                                                         kind: type) -> None:
    projector = projector04()
    batch = kind([good(p) for p in range(3, 3 + goods)] + [bad])
    refused(lambda: projector.deliver(batch), lambda: state04(projector))


@SETTINGS
@given(batch=st.one_of(anything.filter(lambda v: not isinstance(v, list | tuple)),
                       st.just({good(3)}), st.just(iter([good(3)])),
                       st.just([good(4), good(3)]), st.just([good(4)])))
def test_step04_deliver_refuses_what_is_not_a_batch_in_order(batch: Any) -> None:
    projector = projector04()
    refused(lambda: projector.deliver(batch), lambda: state04(projector))


@SETTINGS
@given(bad=bad_event)
def test_step04_apply_refuses_a_bad_event(bad: Any) -> None:
    view = s04.View({"t1": {"ok": 1}}, 1)
    if isinstance(bad, s03.Event) and bad.tenant == "t9":
        return  # a View does not know the log: an event it cannot tell from a good one
    refused(lambda: view.apply(bad), lambda: (view.counts, view.checkpoint))


@SETTINGS
@given(on_progress=st.one_of(st.none(), anything.filter(lambda v: v is not None)),
       every=st.one_of(st.just(1), not_a_whole_number, st.just(0)))
def test_step04_rebuild_refuses_bad_arguments(on_progress: Any, every: Any) -> None:
    if (on_progress is None or callable(on_progress)) and every == 1 and type(every) is int:
        return  # nothing bad in this combination
    projector = projector04()
    refused(lambda: projector.rebuild(on_progress, every), lambda: state04(projector))


def test_step07_start_keeps_the_legacy_tenant_for_the_first_release(tmp_path: Path) -> None:
    """A new run under LEGACY_TENANT would merge its counts with the first release's runs."""
    import solutions.step07 as s07
    from cqrs_kata.db import open_database

    db = open_database(tmp_path / "capstone.db")
    s07.prepare(db)
    runs = s07.Runs(db, clock=lambda: 1.0)
    with pytest.raises(ValueError, match="first release"):
        runs.start(s07.LEGACY_TENANT)
    assert db.execute("SELECT COUNT(*) FROM runs").fetchone()[0] == 0
    assert db.execute("SELECT COUNT(*) FROM outbox").fetchone()[0] == 0
    assert runs.start("acme").run_id == 1
    db.close()
