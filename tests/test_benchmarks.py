"""The benchmark scripts still run against the course as it is (on tiny sizes: the figures
come from running them by hand, never from a timed test)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

# make quick leaves these out: every benchmark script run on small sizes.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent


def run(script: str, *args: str) -> str:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), *args],
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, (f"exit {done.returncode}\n{done.stdout[-2000:]}\n"
                                  f"{done.stderr[-2000:]}")
    return done.stdout


def test_step01_benchmark_runs() -> None:
    out = run("step01_read_latency.py", "10000", "0.01")
    for figure in ("no index µs", "counter gain", "   10,000", "faster than GROUP BY"):
        assert figure in out, out


def test_step04_benchmark_runs() -> None:
    out = run("step04_rebuild_and_guard.py", "2000")
    assert "rebuild aside and swap" in out and "guard overhead" in out


def test_postgres_start_benchmark_runs(pg_dsn: str) -> None:
    out = run("postgres_start.py", "1")
    assert "start (dsn())" in out and "stop included" in out


def test_step05_durable_benchmark_runs(pg_dsn: str) -> None:
    out = run("step05_durable.py", "2000")
    for figure in ("SQLite     durable projector", "PostgreSQL durable projector", "floor",
                   "record_many(1000)", "record-to-visible", "p99"):
        assert figure in out, out


def test_step05_soak_benchmark_runs(pg_dsn: str) -> None:
    out = run("step05_soak.py", "1000", "3")
    assert out.count("0 lost, 0 counted twice") == 2, out


def test_step06_alternatives_benchmark_runs(pg_dsn: str) -> None:
    out = run("step06_alternatives.py", "2000")
    for figure in ("faster than GROUP BY with no index", "the index makes GROUP BY",
                   "a matview read takes", "REFRESH CONCURRENTLY", "a write takes"):
        assert figure in out, out


def test_check_backends_benchmark_runs(pg_dsn: str) -> None:
    out = run("check_backends.py", "1")
    assert "both, warm" in out and all(f"\n{s} " in out for s in ("05", "06", "07")), out


def test_watch_latency_benchmark_runs() -> None:
    out = run("watch_latency.py", "02", "2")
    assert "the new report" in out and "after a save" in out, out


def test_bad_input_benchmark_runs(pg_dsn: str) -> None:
    out = run("bad_input.py")
    assert "refused cleanly" in out and "\nSQLite " in out, out
