"""cqrs_kata.db.postgres: step 05's PostgreSQL, from $CQRS_KATA_PG_DSN or a throwaway server."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from psycopg.conninfo import conninfo_to_dict

from cqrs_kata.db import postgres
from cqrs_kata.db.postgres import DSN_ENV, PostgresUnavailable


def test_dsn_gives_a_server_psycopg_can_query(pg_dsn: str) -> None:
    assert postgres.unavailable_reason() is None
    with psycopg.connect(postgres.dsn()) as conn:
        assert conn.execute("select 1").fetchone() == (1,)
    with psycopg.connect(pg_dsn) as conn:
        assert conn.execute("select 1").fetchone() == (1,)


def test_fresh_databases_do_not_see_each_others_tables(pg_dsn: str) -> None:
    other = postgres.fresh_database("other")
    assert conninfo_to_dict(other)["dbname"] != conninfo_to_dict(pg_dsn)["dbname"]
    with psycopg.connect(pg_dsn) as conn:
        conn.execute("create table events (id int)")
    with psycopg.connect(other) as conn:
        assert conn.execute("select to_regclass('events')").fetchone() == (None,)
        assert conn.execute("select count(*) from pg_tables where schemaname = 'public'"
                            ).fetchone() == (0,)


def test_a_bad_dsn_in_the_environment_says_which_and_what_to_do(
        monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # A socket directory with no server: refused at once, and no network involved.
    monkeypatch.setenv(DSN_ENV, f"host={tmp_path} dbname=kata user=kata password=s3cret")
    with pytest.raises(PostgresUnavailable) as raised:
        postgres.dsn()
    message = str(raised.value)
    assert DSN_ENV in message and str(tmp_path) in message
    assert "unset it" in message and "server you can reach" in message
    assert "s3cret" not in message  # messages land in notebooks and CI logs
    assert isinstance(raised.value.__cause__, psycopg.OperationalError)
    assert postgres.unavailable_reason() == message


def test_a_child_process_uses_the_same_server(pg_dsn: str) -> None:
    code = ("import psycopg; from cqrs_kata.db.postgres import dsn; "
            "print(psycopg.connect(dsn()).execute('select current_database()').fetchone()[0])")
    child = subprocess.run([sys.executable, "-c", code], env={**os.environ, DSN_ENV: pg_dsn},
                           capture_output=True, text=True, timeout=60, check=False)
    assert child.returncode == 0, child.stderr
    assert child.stdout.strip() == conninfo_to_dict(pg_dsn)["dbname"]
    with psycopg.connect(pg_dsn) as conn:  # the child's exit left the server running
        assert conn.execute("select 1").fetchone() == (1,)


def test_a_server_whose_owner_was_killed_is_stopped_and_deleted_by_its_watcher(
        pg_dsn: str) -> None:
    if os.environ.get(DSN_ENV):
        pytest.skip(f"tests the throwaway server, and {DSN_ENV} may be set for want of one")
    env = {k: v for k, v in os.environ.items() if k not in (DSN_ENV, "XDG_RUNTIME_DIR")}
    owner = subprocess.Popen(
        [sys.executable, "-c", "import time; from cqrs_kata.db.postgres import dsn; "
                               "print(dsn(), flush=True); time.sleep(120)"],
        env=env, stdout=subprocess.PIPE, text=True)
    assert owner.stdout is not None
    orphan = owner.stdout.readline().strip()
    folder = Path(str(conninfo_to_dict(orphan)["host"]))
    assert folder.exists()
    owner.kill()  # SIGKILL: no atexit handler runs, yet its watcher stops the server
    owner.wait()
    deadline = time.monotonic() + 20
    while folder.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not folder.exists(), "the killed owner's server folder is still there after 20 s"
    with pytest.raises(psycopg.OperationalError):
        psycopg.connect(orphan, connect_timeout=2)

    code = "from cqrs_kata.db.postgres import dsn; print(dsn())"
    # A locale the machine lacks, as a learner's LANG often is in a container: initdb would
    # refuse it, and must not be handed it.
    nxt = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**env, "LANG": "xx_XX.UTF-8", "LC_ALL": "xx_XX.UTF-8"},
                         timeout=60, check=False)
    assert nxt.returncode == 0, nxt.stderr
    assert nxt.stderr == ""  # no RuntimeDirWarning, though XDG_RUNTIME_DIR is unset
    assert not Path(str(conninfo_to_dict(nxt.stdout.strip())["host"])).exists()  # deleted at exit


def test_a_damaged_template_is_dropped_and_the_server_starts_anyway(pg_dsn: str) -> None:
    """Servers start from a copy of a cluster initdb made once (a /tmp cleaner may take files
    from it): a damaged one is deleted, and that start runs initdb as without one."""
    if os.environ.get(DSN_ENV):
        pytest.skip(f"tests the throwaway server, and {DSN_ENV} may be set for want of one")
    template = postgres._template()
    assert (template / "PG_VERSION").is_file()
    shutil.rmtree(template / "global")  # what a cleaner of old files in /tmp could leave
    env = {k: v for k, v in os.environ.items() if k != DSN_ENV}
    code = ("import psycopg; from cqrs_kata.db.postgres import dsn; "
            "print(psycopg.connect(dsn()).execute('select 41 + 1').fetchone()[0])")
    started = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=env, timeout=60, check=False)
    assert started.returncode == 0 and started.stdout.strip() == "42", started.stderr
    assert not (template / "PG_VERSION").exists() or (template / "global").is_dir()
