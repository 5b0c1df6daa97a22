"""Misbehaving exercise files: a check never hangs, never passes a mistake, never takes its
caller down.

Each test writes what a learner plausibly (or accidentally) writes into a throw-away course and
runs `cqrs-kata` as the learner does, in a new process with short time limits. The subprocess
timeout is only a safety net, so a regression fails here instead of hanging `make test`.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from cqrs_kata.learner import notebook

# make quick leaves these out: the runner's time limits and isolation, each in a child process.
pytestmark = pytest.mark.slow

CLI = str(Path(sys.executable).with_name("cqrs-kata"))
FAST = {"CQRS_KATA_CHECK_SECONDS": "1", "CQRS_KATA_IMPORT_SECONDS": "1",
        "CQRS_KATA_STEP_SECONDS": "4"}
SAFETY_NET = 60


def cli(*args: str, **env: str) -> tuple[int, str]:
    done = subprocess.run([CLI, *args], capture_output=True, text=True, timeout=SAFETY_NET,
                          env={**os.environ, **FAST, **env}, check=False)
    return done.returncode, done.stdout + done.stderr


def write(course: Path, step: str, source: str) -> None:
    (course / "exercises" / f"step{step}.py").write_text(textwrap.dedent(source))


def solved_with(course: Path, step: str, old: str, new: str) -> None:
    """The reference with one change: the learner's attempt."""
    source = (course / "solutions" / f"step{step}.py").read_text()
    assert old in source, f"the reference no longer contains {old!r}; update this test"
    (course / "exercises" / f"step{step}.py").write_text(source.replace(old, new, 1))


# Exits and interrupts ------------------------------------------------------------------------


def test_sys_exit_0_at_import_is_a_failure_not_a_silent_pass(course: Path) -> None:
    write(course, "00", "import sys\nsys.exit(0)\n")
    code, out = cli("check", "00")
    assert code == 1
    assert "importing exercises/step00.py called sys.exit(0) (line 2, in <module>)" in out


def test_sys_exit_0_inside_a_task_is_a_failure(course: Path) -> None:
    write(course, "00", "import sys\ndef tally(statuses):\n    sys.exit(0)\n")
    code, out = cli("check", "00")
    assert code == 1
    assert re.search(r"your code called sys.exit\(0\) \(exercises/step00.py, line 3, in tally\)",
                     out)
    assert "0 of 1 tasks pass" in out


def test_os_exit_ends_only_the_check_process(course: Path) -> None:
    write(course, "00", "import os\ndef tally(statuses):\n    os._exit(0)\n")
    code, out = cli("check", "00")
    assert code == 1
    assert "the process running your code ended with exit status 0" in out
    assert "os._exit()" in out


@pytest.mark.parametrize("raised", ["KeyboardInterrupt", "GeneratorExit", "Quit"])
def test_base_exceptions_are_reported_not_raised(course: Path, raised: str) -> None:
    write(course, "00", f"""
        class Quit(BaseException):
            pass
        def tally(statuses):
            raise {raised}("stop")
        """)
    code, out = cli("check", "00")
    assert code == 1
    assert f"your code raised {raised}: stop (exercises/step00.py, line 5, in tally)" in out


def test_notebook_check_survives_exit_interrupt_and_os_exit(
        course: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(notebook.VERIFY_ENV, raising=False)
    for body in ("raise SystemExit(3)", "raise KeyboardInterrupt", "import os; os._exit(1)"):
        write(course, "00", f"def tally(statuses):\n    {body}\n")
        report = notebook.check("00")  # this process is the "kernel": it must live on
        assert not report.ok and "✗ task 1" in repr(report), body


# Time limits ---------------------------------------------------------------------------------


def test_endless_loop_at_import_names_the_line(course: Path) -> None:
    write(course, "00", "x = 0\nwhile True:\n    x += 1\n")
    code, out = cli("check", "00")
    assert code == 1
    assert "importing it did not finish within 1 s" in out
    assert re.search(r"stopped at exercises/step00.py, line [23], in <module>", out)


def test_a_loop_that_swallows_every_exception_is_still_stopped(course: Path) -> None:
    write(course, "00", """
        import signal
        def tally(statuses):
            if hasattr(signal, "setitimer"):
                signal.setitimer(signal.ITIMER_REAL, 0)  # and no alarm can reach it
            while True:
                try:
                    sum(range(1000))
                except BaseException:
                    pass
        """)
    code, out = cli("check", "00")
    assert code == 1
    assert "it did not finish within 1 s, so it was stopped" in out
    assert re.search(r"stopped at exercises/step00.py, line (8|9|10), in tally \(the check's "
                     r"thread\)", out)
    assert "(2 more checks of this task skipped after it)" in out


def test_an_exception_whose_message_loops_is_stopped(course: Path) -> None:
    write(course, "00", """
        class Odd(Exception):
            def __str__(self):
                while True:
                    pass
        def tally(statuses):
            raise Odd()
        """)
    code, out = cli("check", "00")
    assert code == 1
    assert re.search(r"stopped at exercises/step00.py, line \d, in __str__", out)


def test_drain_that_never_pops_under_the_lock_is_stopped_in_every_thread(course: Path) -> None:
    solved_with(course, "03", """            for _ in range(count):
                event = queue.popleft()
                inc(event.tenant, event.status)""", """            done = 0
            while queue and (max_events is None or done < count):
                event = queue[0]  # forgot popleft(): the same event forever
                inc(event.tenant, event.status)
                done += 1""")
    code, out = cli("check", "03", CQRS_KATA_STEP_SECONDS="6")
    assert code == 1
    assert re.search(r"✗ task 2 .*\n.*\n.*did not finish within 1 s", out)
    assert re.search(r"stopped at exercises/step03.py, line \d+, in drain \(the check's "
                     r"thread\)", out)
    assert "✓ task 1" in out


def test_a_thread_holding_a_lock_the_check_waits_for_is_found(course: Path) -> None:
    """The check's thread blocks on a lock (where no signal handler could ever run) while a
    thread the learner started spins holding it: both places are named."""
    write(course, "00", """
        import threading, time
        def tally(statuses):
            lock = threading.Lock()
            def hold():
                with lock:
                    while True:
                        pass
            threading.Thread(target=hold, daemon=True).start()
            time.sleep(0.1)
            with lock:
                return {}
        """)
    code, out = cli("check", "00")
    assert code == 1
    assert re.search(r"stopped at exercises/step00.py, line 1[12], in tally \(the check's "
                     r"thread\)", out)
    assert re.search(r"stopped at exercises/step00.py, line [78], in hold \(another thread\)",
                     out)


def test_every_task_looping_answers_within_the_step_budget(course: Path) -> None:
    source = (course / "solutions" / "step02.py").read_text()
    looping = re.sub(r"\n( *)# BEGIN SOLUTION\n", r"\n\1while True:\n\1    pass\n", source)
    (course / "exercises" / "step02.py").write_text(looping)
    code, out = cli("check", "02", CQRS_KATA_CHECK_SECONDS="1", CQRS_KATA_STEP_SECONDS="2.5")
    assert code == 1
    assert out.count("did not finish within") >= 2
    assert "not run: the step's 2.5 s were used up by checks that did not finish" in out
    assert "0 of 5 tasks pass" in out


def test_threads_the_learner_leaves_running_do_not_hold_the_answer(course: Path) -> None:
    write(course, "00", """
        import threading
        from collections import Counter
        def spin():
            while True:
                pass
        def tally(statuses):
            threading.Thread(target=spin).start()  # not a daemon: would block a normal exit
            return dict(Counter(statuses))
        """)
    code, out = cli("check", "00")
    assert code == 0, out
    assert "Step 00 is done" in out


# Output --------------------------------------------------------------------------------------


def test_a_printing_loop_is_cut_to_a_short_excerpt(course: Path) -> None:
    write(course, "00", """
        def tally(statuses):
            n = 0
            while True:
                print("line", n)
                n += 1
        """)
    code, out = cli("check", "00")
    assert code == 1
    assert "your code printed:\n" in out and "line 0" in out
    assert "more lines)" in out
    assert len(out) < 10_000


# Checking in the caller's process; settings -------------------------------------------------


def test_in_process_route_still_catches_exits(course: Path,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Where no process can be started (a browser's Python), the same sandbox runs in-process."""
    monkeypatch.delenv(notebook.VERIFY_ENV, raising=False)
    monkeypatch.setenv("CQRS_KATA_IN_PROCESS", "1")
    write(course, "00", "import sys\ndef tally(statuses):\n    sys.exit(0)\n")
    assert "your code called sys.exit(0)" in repr(notebook.check("00"))


def test_bad_time_limit_setting_is_one_sentence(course: Path) -> None:
    code, out = cli("check", "00", CQRS_KATA_CHECK_SECONDS="soon")
    assert code == 2
    assert out == ("cqrs-kata: CQRS_KATA_CHECK_SECONDS='soon' is not a number of seconds above "
                   "0; unset it (the default is 10) or give e.g. 30\n")


def test_bad_file_limit_setting_is_one_sentence(course: Path) -> None:
    code, out = cli("check", "00", CQRS_KATA_FILE_MB="lots")
    assert code == 2
    assert out == ("cqrs-kata: CQRS_KATA_FILE_MB='lots' is not a number of megabytes above 0; "
                   "unset it (the default is 1024) or give e.g. 4096\n")
