"""Step 06's comparison: every option gives the truth's answer, the blocking it reports is the
database's, and ``cqrs-kata bench`` writes its table and plots. No timing is asserted: the
figures are benchmarks, not tests."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from pathlib import Path

import pytest

from cqrs_kata.db import Database, DatabaseError, PostgresDatabase, SQLiteDatabase, truth
from cqrs_kata.learner import cli
from cqrs_kata.steps.step06 import alternatives
from cqrs_kata.steps.step06.alternatives import (
    OPTIONS,
    EtlSummary,
    MatviewConcurrently,
    MatviewRefresh,
    load,
    options_for,
    reader_during_refresh,
    scratch_database,
    workload,
)

# make quick leaves these out: step 06's measurements, on SQLite and PostgreSQL.
pytestmark = pytest.mark.slow

ROWS = 3000


@pytest.fixture
def sqlite_db(tmp_path: Path) -> Iterator[Database]:
    with SQLiteDatabase(tmp_path / "runs.sqlite") as db:
        load(db, workload(ROWS))
        yield db


@pytest.fixture
def pg_db(pg_dsn: str) -> Iterator[Database]:
    with PostgresDatabase(pg_dsn) as db:
        load(db, workload(ROWS), pg_dsn)
        yield db


def answers_match_truth(db: Database) -> None:
    expected = truth(db)
    assert sum(sum(s.values()) for s in expected.values()) == ROWS
    for option in options_for(db.dialect):
        option.build(db)
        if option.refreshes:
            option.refresh(db)
        for tenant in alternatives.TENANTS:
            got = option.read(db, tenant)
            assert got == expected.get(tenant, {}), (option.name, tenant, got)


def test_workload_is_seeded_skewed_and_prefix_stable() -> None:
    runs = workload(20_000)
    assert runs == workload(20_000) and runs[:500] == workload(500)
    busiest = sum(1 for tenant, _ in runs if tenant == alternatives.TENANTS[0])
    assert busiest > 20_000 / 10  # one tenant of 200 has over a tenth of the runs
    assert {status for _, status in runs} == set(alternatives.STATUSES)


def test_every_sqlite_option_answers_the_truth(sqlite_db: Database) -> None:
    assert [o.name for o in options_for("sqlite")] == [
        name for name in OPTIONS if not name.startswith("matview")]
    answers_match_truth(sqlite_db)


def test_every_postgres_option_answers_the_truth(pg_db: Database) -> None:
    assert [o.name for o in options_for("postgresql")] == list(OPTIONS)
    answers_match_truth(pg_db)


def test_refresh_blocks_a_reader_and_concurrently_does_not(pg_dsn: str, pg_db: Database) -> None:
    tenant = alternatives.TENANTS[0]
    plain, concurrent = MatviewRefresh(), MatviewConcurrently()
    plain.build(pg_db)
    plain.refresh(pg_db)
    refreshing = int(pg_db.execute("SELECT pg_backend_pid()").fetchone()[0])

    blocked = reader_during_refresh(plain, pg_db, lambda: PostgresDatabase(pg_dsn), tenant)
    assert blocked.waited and refreshing in blocked.blocked_by
    assert blocked.read == truth(pg_db)[tenant]  # it read once the refresh committed

    not_blocked = reader_during_refresh(concurrent, pg_db, lambda: PostgresDatabase(pg_dsn),
                                        tenant)
    assert not not_blocked.waited and not_blocked.blocked_by == ()
    assert not_blocked.read == truth(pg_db)[tenant]


def test_sqlite_readers_are_not_blocked_by_the_etl_swap(tmp_path: Path,
                                                        sqlite_db: Database) -> None:
    etl = EtlSummary()
    etl.build(sqlite_db)
    etl.refresh(sqlite_db)
    path = tmp_path / "runs.sqlite"
    seen = reader_during_refresh(etl, sqlite_db, lambda: SQLiteDatabase(path, busy_seconds=0),
                                 "tenant-001")
    assert not seen.waited and seen.read == truth(sqlite_db)["tenant-001"]


def test_concurrently_needs_a_unique_index_and_a_populated_view(pg_db: Database) -> None:
    pg_db.execute("CREATE MATERIALIZED VIEW bare_mv AS SELECT tenant, status, COUNT(*) AS n "
                  "FROM runs GROUP BY tenant, status")
    with pytest.raises(DatabaseError, match=r'cannot refresh materialized view "public.bare_mv" '
                                            r"concurrently"):
        pg_db.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY bare_mv")
    pg_db.execute("CREATE UNIQUE INDEX ON bare_mv (tenant, status)")
    pg_db.execute("REFRESH MATERIALIZED VIEW bare_mv WITH NO DATA")
    with pytest.raises(DatabaseError, match="CONCURRENTLY cannot be used when the materialized "
                                            "view is not populated"):
        pg_db.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY bare_mv")
    pg_db.execute("REFRESH MATERIALIZED VIEW bare_mv")
    pg_db.execute("REFRESH MATERIALIZED VIEW CONCURRENTLY bare_mv")  # now it can


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_etl_staleness_is_now_minus_its_recorded_refresh(backend: str,
                                                         request: pytest.FixtureRequest) -> None:
    db: Database = request.getfixturevalue("sqlite_db" if backend == "sqlite" else "pg_db")
    now = [1000.0]
    etl = EtlSummary(clock=lambda: now[0])
    etl.build(db)
    assert etl.staleness(db) == float("inf")  # never refreshed: no answer yet
    etl.refresh(db)
    recorded = db.execute("SELECT refreshed_at FROM summary_refresh")  # step 06's job's row
    assert recorded.fetchone()[0] == 1000.0
    now[0] = 1042.5
    assert etl.staleness(db) == 42.5
    assert etl.staleness(db, now=1100.0) == 100.0
    db.execute("INSERT INTO runs (tenant, status) VALUES ('tenant-000', 'ok')")
    assert etl.read(db, "tenant-000") != truth(db)["tenant-000"]  # stale until the next run
    etl.refresh(db)
    assert etl.read(db, "tenant-000") == truth(db)["tenant-000"] and etl.staleness(db) == 0.0


def test_measure_gives_every_option_of_the_backend(pg_dsn: str) -> None:
    seen: list[tuple[str, int, int]] = []
    sqlite = alternatives.measure(300, reads=5, writes=3,
                                  progress=lambda what, i, n: seen.append((what, i, n)))
    assert [f.option for f in sqlite] == [o.name for o in options_for("sqlite")]
    assert seen[0][1] == 0 and seen[-1][1] == seen[-1][2] and "sqlite 300" in seen[0][0]
    postgresql = alternatives.measure(300, dsn=pg_dsn, reads=5, writes=3)
    by = {f.option: f for f in postgresql}
    assert list(by) == list(OPTIONS) and {f.backend for f in postgresql} == {"postgresql"}
    assert by["matview refresh"].blocks_readers is True
    assert by["matview concurrently"].blocks_readers is False
    assert by["no index"].refresh_s is None and by["no index"].staleness_s == 0.0
    assert by["etl summary"].refresh_s is not None and by["etl summary"].staleness_s > 0
    text = str(alternatives.table(sqlite + postgresql))
    assert all(name in text for name in OPTIONS)
    ratios = alternatives.ratios(sqlite + postgresql)
    assert {"sqlite counter vs no index", "postgresql concurrently vs refresh time",
            "postgresql write x projector counters"} <= set(ratios)


def test_scratch_databases_are_dropped(pg_dsn: str) -> None:
    import psycopg

    with scratch_database(pg_dsn) as (db, _, where):
        assert where is not None and db.dialect == "postgresql"
    with psycopg.connect(pg_dsn) as conn:
        names = {r[0] for r in conn.execute("SELECT datname FROM pg_database")}
    assert not any(n.startswith("cqrs_kata_bench_") for n in names)


def bench(tmp_path: Path, capsys: pytest.CaptureFixture[str], *flags: str) -> tuple[str, Path]:
    out = tmp_path / "results"
    code = cli.main(["bench", "--rows", "200", "500", "--reads", "5", "--writes", "3",
                     "--out", str(out), *flags])
    printed = capsys.readouterr().out
    assert code == 0, printed
    return printed, out


def written(out: Path) -> list[dict[str, str]]:
    for picture in ("read_latency.png", "write_path.png", "refresh.png"):
        assert (out / picture).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", picture
    assert "read p50" in (out / "figures.txt").read_text()
    with (out / "figures.csv").open() as f:
        return list(csv.DictReader(f))


def test_bench_without_postgres_writes_the_table_and_plots(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    printed, out = bench(tmp_path, capsys, "--no-postgres")
    assert "left out (--no-postgres)" in printed and "faster than GROUP BY" in printed
    rows = written(out)
    assert {(r["backend"], r["rows"]) for r in rows} == {("sqlite", "200"), ("sqlite", "500")}
    assert len(rows) == 2 * len(options_for("sqlite"))


def test_bench_with_postgres_has_the_matview_rows(
        pg_dsn: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    printed, out = bench(tmp_path, capsys)
    assert "REFRESH CONCURRENTLY" in printed and "a reader waited on a lock: yes" in printed
    rows = written(out)
    blocking = {r["option"]: r["blocks_readers"] for r in rows
                if r["backend"] == "postgresql" and r["rows"] == "500"}
    assert blocking["matview refresh"] == "True" and blocking["matview concurrently"] == "False"


def test_bench_refuses_nonsense_sizes(capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["bench", "--rows", "0", "--no-postgres"]) == 2
    assert "whole numbers of 1 or more" in capsys.readouterr().err


def test_per_call_times_what_a_coarse_clock_rounds_to_zero() -> None:
    """Notebook 01 divides by the counter's time: with a clock that ticks every 0.1 ms (a
    browser's), a round of a few calls reads 0 s, so per_call grows the round until it shows."""
    import math
    import time

    from cqrs_kata.steps.step01 import read_latency

    def coarse() -> float:
        return math.floor(time.perf_counter() / 1e-4) * 1e-4

    taken = read_latency.per_call(lambda: None, seconds=0.03, clock=coarse)
    assert 0 < taken < 1e-4
