"""More misbehaving exercise files: what a learner writes by accident that could make a check
hang, pass when it should not, or take its caller down. (Code written on purpose to fool the
check is not guarded against: a self-check is a learning aid, not an exam.)

Same style as test_check_isolation.py: each attack is written into a throw-away course and
checked as the learner does, by the real `cqrs-kata` in a new process with short time limits
(the subprocess timeout is only a safety net). A few run `check()` in this very process, as a
notebook kernel does, which must get a report back and live on.
"""

from __future__ import annotations

import os
import re
import signal
import sys
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

import pytest

from cqrs_kata.course.expect import same
from cqrs_kata.course.structure import get_step
from cqrs_kata.learner import notebook
from cqrs_kata.runner import isolation, sandbox
from tests.test_check_isolation import cli, solved_with, write

# make quick leaves these out: what a learner's code can do to the runner by mistake (loops,
# exits, crashes, runaway output and files), each in a child process.
pytestmark = pytest.mark.slow

LINUX = sys.platform.startswith("linux")
FAILED_TALLY = "0 of 1 tasks pass"


def assert_no_kata_traceback(out: str) -> None:
    assert "Traceback" not in out and "cqrs_kata/" not in out, out


def running(pid: int) -> bool:
    """Whether ``pid`` is a live process (a zombie waiting for its parent counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state not in ("Z", "X")


# Wrong answers that must not pass --------------------------------------------------------------


def test_results_that_claim_to_equal_anything_do_not_pass(course: Path) -> None:
    write(course, "00", """
        class Anything:
            def __eq__(self, other):
                return True
            def __ne__(self, other):
                return False
        class LyingDict(dict):
            __eq__, __ne__ = Anything.__eq__, Anything.__ne__
            def items(self):
                return [("ok", 2), ("fail", 1)]
        def tally(statuses):
            return LyingDict() if isinstance(statuses, list) else Anything()
        """)
    code, out = cli("check", "00")
    assert code == 1
    assert "1/3 checks" in out  # only tally([]), whose empty dict is right
    assert "expected {'fail': 1, 'ok': 2}" in out
    assert_no_kata_traceback(out)


def test_same_compares_plain_data_not_the_learners_eq() -> None:
    class Anything:
        def __eq__(self, other: object) -> bool:
            return True

    class Cheat(int):
        def __eq__(self, other: object) -> bool:
            return True

        __hash__ = int.__hash__

    assert not same(Anything(), {})
    assert not same([Anything()], [1])
    assert not same({"ok": Cheat(5)}, {"ok": 2})
    assert not same((1, Anything()), (1, "x"))
    assert not same({Cheat(1): 1}, {1: 1}), "a key that says it equals anything is no key"
    # What == accepts from an honest solution still passes.
    assert same(Counter(["ok", "ok"]), {"ok": 2})
    assert same(defaultdict(int, {"ok": 2}), {"ok": 2})
    assert same([(1, 2.0)], [(1, 2)])
    assert same({"t1": {"ok": 1}}, {"t1": {"ok": 1}})


def test_a_view_that_claims_to_equal_anything_fails_the_fault_harness(course: Path) -> None:
    reads = "        return self.store.current.summary(tenant)"
    solved_with(course, "04", reads, '''
        class Anything(dict):
            def __eq__(self, other):
                return True
            def __ne__(self, other):
                return False
            def __bool__(self):
                return True
        return Anything()''')
    code, out = cli("check", "04", CQRS_KATA_CHECK_SECONDS="8", CQRS_KATA_STEP_SECONDS="15")
    assert code == 1
    assert re.search(r"✗ task 2 .* [0-1]/\d+ checks", out), out  # a gap's message reads none
    assert re.search(r"✗ task 3 .* [0-2]/\d+ checks", out), out  # some checks read no summary
    assert_no_kata_traceback(out)


def test_raising_not_implemented_from_a_wrong_answer_is_not_a_pass(course: Path) -> None:
    write(course, "00", """
        def tally(statuses):
            if not list(statuses):
                return {}
            raise NotImplementedError("tally is not written yet: step 00, task 1")
        """)
    code, out = cli("check", "00")
    assert code == 1
    assert re.search(r"✗ task 1  Count statuses with tally\(\) 1/3 checks", out)
    assert FAILED_TALLY in out


# Processes the code under test starts ----------------------------------------------------------


def test_a_forked_copy_cannot_answer_for_the_original(course: Path) -> None:
    write(course, "00", """
        import os
        from collections import Counter
        def tally(statuses):
            if os.fork() == 0:
                return dict(Counter(statuses))  # the copy is right...
            return {"wrong": 1}  # ...the process that was asked is not
        """)
    code, out = cli("check", "00")
    assert code == 1
    assert "got      {'wrong': 1}" in out and "0/3 checks" in out


@pytest.mark.skipif(not LINUX, reason="escaped processes are found through /proc")
def test_processes_that_leave_the_group_and_hold_the_pipes_do_not_hold_the_answer(
        course: Path) -> None:
    """A subprocess in its own session, and a forked copy that calls setsid(), both keep the
    check process's stdout and stderr open and would live on; neither delays the answer, and
    neither outlives the check."""
    pids = course / "pids.txt"
    write(course, "00", f"""
        import os, subprocess, sys, time
        from collections import Counter
        def tally(statuses):
            sleeper = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)"],
                                       start_new_session=True)
            copy = os.fork()
            if copy == 0:
                os.setsid()
                time.sleep(300)
                os._exit(0)
            with open({str(pids)!r}, "a") as f:
                f.write(f"{{sleeper.pid}} {{copy}}\\n")
            return dict(Counter(statuses))
        """)
    began = time.monotonic()
    code, out = cli("check", "00")
    assert code == 0, out
    assert time.monotonic() - began < 30, "held by a process that holds the pipes"
    started = [int(pid) for pid in pids.read_text().split()]
    assert len(started) >= 6 and len(started) % 2 == 0  # two per call of tally()
    deadline = time.monotonic() + 5
    while any(map(running, started)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not any(map(running, started)), "a process the check started outlived it"


# Descriptors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("attack", [
    "os.closerange(3, 1000)",
    "null = os.open(os.devnull, os.O_WRONLY)\n    for fd in range(3, 64):\n"
    "        if fd != null:\n            try:\n                os.dup2(null, fd)\n"
    "            except OSError:\n                pass",
])
def test_closing_or_replacing_descriptors_is_named(course: Path, attack: str) -> None:
    write(course, "00", "import os\ndef tally(statuses):\n    " + attack + "\n    return {}\n")
    code, out = cli("check", "00")
    assert code == 1
    assert ("your code closed or replaced the file descriptor the kata reads results from "
            "while it ran") in out
    assert "SIGKILL" not in out and "out of memory" not in out
    assert_no_kata_traceback(out)


def test_closing_every_descriptor_and_looping_at_import_is_named(course: Path) -> None:
    write(course, "00", "import os\nos.closerange(0, 1000)\nwhile True:\n    pass\n")
    code, out = cli("check", "00")
    assert code == 1
    assert ("your code closed or replaced the file descriptor the kata reads results from "
            "while it was imported") in out


# Crashes and time ------------------------------------------------------------------------------


def test_a_segfault_from_deep_recursion_says_python_crashed(course: Path) -> None:
    write(course, "00", """
        import sys
        sys.setrecursionlimit(10**9)
        class Deep:
            def __repr__(self):
                return repr(self)
        def tally(statuses):
            return repr(Deep())
        """)
    code, out = cli("check", "00")
    assert code == 1
    assert "was killed by SIGSEGV" in out and "Python itself crashed" in out
    # The crash lands on the call (line 6) or on entering the frame (its def, line 5).
    assert re.search(r"stopped at exercises/step00.py, line [56], in __repr__", out), out


def test_a_check_cut_short_by_the_step_budget_says_so(course: Path) -> None:
    write(course, "00", """
        import time
        from collections import Counter
        def tally(statuses):
            time.sleep(0.5)
            return dict(Counter(statuses))
        """)
    code, out = cli("check", "00", CQRS_KATA_STEP_SECONDS="1.5")
    assert code == 1
    assert "2/3 checks" in out
    assert re.search(r"did not finish within the 0\.\d s left of the step's 1\.5 s, so it was "
                     r"stopped|not run: the step's 1\.5 s were used up", out), out  # a slow box
    assert "endless loop" not in out


def test_a_deadlock_in_wait_for_is_stopped_with_both_threads_named(course: Path) -> None:
    """wait_for() polls while holding the lock, so the projector thread can never drain."""
    waits = "            if not self._changed.wait_for(lambda: self.applied >= position, seconds):"
    solved_with(course, "03", waits, """            if timeout > 1:
                while self.applied < position:
                    time.sleep(0.01)  # holds the lock: nobody else can drain
""" + waits)
    code, out = cli("check", "03", CQRS_KATA_STEP_SECONDS="8")
    assert code == 1
    assert re.search(r"✗ task 4 .*\n.*\n.*did not finish within 1 s", out)
    assert re.search(r"stopped at exercises/step03.py, line \d+, in wait_for \(the check's "
                     r"thread\)", out)
    assert re.search(r"stopped at exercises/step03.py, line \d+, in drain \(another thread\)",
                     out)
    assert "✓ task 1" in out


def test_sleeping_just_below_the_limit_passes_and_just_above_is_stopped(course: Path) -> None:
    sleepy = """
        import time
        from collections import Counter
        slept = []
        def tally(statuses):
            if not slept:  # the first call only: a check may call tally() several times
                slept.append(True)
                time.sleep({})
            return dict(Counter(statuses))
        """
    # A 3 s limit, not the 1 s the other tests use: "just below" must stay below it on a
    # loaded machine too (the check's own overhead grows with the load, the sleep does not).
    limits = {"CQRS_KATA_CHECK_SECONDS": "3", "CQRS_KATA_STEP_SECONDS": "10"}
    write(course, "00", sleepy.format(1.5))
    code, out = cli("check", "00", **limits)
    assert code == 0, out
    write(course, "00", sleepy.format(3.6))
    code, out = cli("check", "00", **limits)
    assert code == 1
    assert "it did not finish within 3 s, so it was stopped" in out
    assert "(2 more checks of this task skipped after it)" in out


def test_a_lock_never_released_in_step_04_is_stopped(course: Path) -> None:
    solved_with(course, "04", "        view = self.store.current\n        if not events:\n",
                "        _LOCK.acquire()  # never released: the next delivery waits forever\n"
                "        view = self.store.current\n        if not events:\n")
    exercise = course / "exercises" / "step04.py"
    exercise.write_text(exercise.read_text() + "\nimport threading\n_LOCK = threading.Lock()\n")
    code, out = cli("check", "04", CQRS_KATA_STEP_SECONDS="6")
    assert code == 1
    assert "✓ task 1" in out
    assert re.search(r"✗ task 2 .*\n.*\n.*did not finish within 1 s", out)
    assert re.search(r"stopped at exercises/step04.py, line \d+, in deliver \(the check's "
                     r"thread\)", out)


def test_printing_lone_surrogates_and_a_gigantic_line(course: Path) -> None:
    write(course, "00", """
        def tally(statuses):
            print("\\ud800 lone", "y" * 10_000_000)
            return {"\\udcff": 1}
        """)
    code, out = cli("check", "00")
    assert code == 1
    assert "got      {'\\udcff': 1}" in out
    assert "your code printed:\n        \\ud800 lone yyy" in out
    assert "more characters not shown)" in out and len(out) < 10_000


def test_a_death_between_two_checks_is_the_learners_not_a_kata_bug(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """A thread the learner started calls os._exit() after one check reported and before the
    next began: the next check says what happened (no kata bug, no lost results)."""
    step = get_step("00")

    def ended_between_checks(job: dict[str, object], budget: float) -> isolation._Child:
        events: list[dict[str, Any]] = [{"e": "ready", "thread": 1}, {"e": "loaded"},
                  {"e": "start", "check": 0, "seconds": 1.0},
                  {"e": "done", "check": 0, "outcome": "pass", "message": "", "printed": 0}]
        return isolation._Child(events=events, returncode=0)

    monkeypatch.setattr(isolation, "_spawn", ended_between_checks)
    monkeypatch.delenv(isolation.ISOLATION_ENV, raising=False)
    run = isolation.run_checks(step, Path("exercises/step00.py"))
    assert run.load_error is None
    assert run.outcomes[0].outcome == "pass"
    assert run.outcomes[1].outcome == "error"
    assert "ended with exit status 0" in run.outcomes[1].message
    assert "a thread it started" in run.outcomes[1].message
    assert run.outcomes[2].outcome == "skipped"



def test_a_kata_error_in_the_check_process_is_not_blamed_on_os_exit() -> None:
    child = isolation._Child(returncode=sandbox.KATA_BUG, stderr=(
        "Traceback (most recent call last):\n  File \"cqrs_kata/runner/sandbox.py\", line 1\n"
        "ValueError: something the kata did not expect\n"))
    ran = isolation._death(child, Path("exercises/step00.py"), 1.0, None, importing=False)
    assert ran.outcome == "error" and "os._exit" not in ran.message
    assert ran.message.startswith("the check stopped on an error inside cqrs-kata while it ran")
    assert ran.message.endswith("ValueError: something the kata did not expect")
    assert ran.output == "", "the kata's traceback is not what the learner's code printed"

# Files the code under test writes -------------------------------------------------------------


@pytest.mark.parametrize(("where", "said"), [
    ("tally", "your code wrote a file past the check's limit of 5 MB (exercises/step00.py, "
              "line 5, in fill): is there a loop that never stops writing?"),
    ("import", "importing exercises/step00.py wrote a file past the check's limit of 5 MB "
               "(line 5, in fill): is there a loop that never stops writing?"),
])
def test_a_file_written_in_a_loop_is_stopped_at_the_size_limit(course: Path, where: str,
                                                                said: str) -> None:
    log = course / "runs.log"
    fill = (f"from collections import Counter\n"
            f"def fill():\n"
            f"    with open({str(log)!r}, 'w') as f:\n"
            f"        for _ in range(64):  # 64 MB: forgot to stop\n"
            f"            f.write('x' * 1024 * 1024)\n")
    calls = ("def tally(statuses):\n    fill()\n    return dict(Counter(statuses))\n"
             if where == "tally" else
             "fill()\ndef tally(statuses):\n    return dict(Counter(statuses))\n")
    write(course, "00", fill + calls)
    code, out = cli("check", "00", CQRS_KATA_FILE_MB="5")
    assert code == 1, out
    assert said in out, out
    assert "CQRS_KATA_FILE_MB" in out
    assert log.stat().st_size <= 5 * 1024 * 1024
    assert_no_kata_traceback(out)


def test_what_a_check_left_in_the_temporary_folder_goes_when_it_is_stopped(
        course: Path) -> None:
    """A check stopped at its time limit runs no cleanup of its own: the runner removes the
    check process's scratch folder (its TMPDIR), files and all."""
    write(course, "00", "import tempfile, os\nfrom collections import Counter\n"
                        "def tally(statuses):\n"
                        "    path = os.path.join(tempfile.gettempdir(), 'left-behind.bin')\n"
                        "    with open(path, 'wb') as f:\n"
                        "        f.write(b'x' * 1024)\n"
                        "    print(path, flush=True)\n"
                        "    while True:\n"
                        "        pass\n")
    code, out = cli("check", "00", CQRS_KATA_CHECK_SECONDS="1")
    assert code == 1 and "did not finish within 1 s" in out, out
    printed = re.search(r"(/\S*left-behind\.bin)", out)
    assert printed, out
    assert not Path(printed.group(1)).exists()
    assert not Path(printed.group(1)).parent.exists()


def test_a_check_process_killed_at_the_file_limit_says_so() -> None:
    """Python ignores SIGXFSZ, but code that restores its default is ended by it."""
    child = isolation._Child(returncode=-signal.SIGXFSZ)
    ran = isolation._death(child, Path("exercises/step00.py"), 1.0, None, importing=False)
    assert ran.outcome == "error"
    assert "was killed by SIGXFSZ" in ran.message
    assert "a file it wrote grew past the check's limit" in ran.message
    assert "CQRS_KATA_FILE_MB" in ran.message and "os._exit" not in ran.message


# Files that are not what they seem ---------------------------------------------------------------


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _dev_zero(path: Path) -> None:
    path.symlink_to("/dev/zero")


def _loop(path: Path) -> None:
    path.symlink_to(path.name)


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no named pipes here")
@pytest.mark.parametrize(("make", "said"), [
    (_fifo, "is a named pipe (FIFO), not a file"),
    (_dev_zero, "is a device (such as /dev/zero), not a file"),
    (_loop, "cannot be read (Too many levels of symbolic links)"),
])
def test_an_exercise_that_is_a_pipe_device_or_loop_neither_hangs_nor_crashes(
        course: Path, make: object, said: str) -> None:
    exercise = course / "exercises" / "step00.py"
    exercise.unlink()
    make(exercise)  # type: ignore[operator]
    code, out = cli("check", "00")
    assert code == 1 and said in out
    assert "exercises/step00.py" in out and str(course) not in out
    assert_no_kata_traceback(out)
    code, out = cli("list")
    assert code == 0 and said in out
    for command in (["reset", "00"], ["catchup", "02"]):
        code, out = cli(*command)
        assert code == 2, (command, out)
        assert "Nothing was changed" in out
        assert_no_kata_traceback(out)
    assert exercise.is_symlink() or not exercise.is_file()


def test_null_bytes_and_byte_order_marks(course: Path) -> None:
    exercise = course / "exercises" / "step00.py"
    exercise.write_bytes(b"def tally(statuses):\n    return {}\x00\n")
    code, out = cli("check", "00")
    assert code == 1
    assert "exercises/step00.py: source code string cannot contain null bytes" in out
    exercise.write_bytes(b"\xef\xbb\xbffrom collections import Counter\n"
                         b"def tally(statuses):\n    return dict(Counter(statuses))\n")
    assert cli("check", "00")[0] == 0


def test_errors_the_code_raises_at_import_are_not_blamed_on_the_file(course: Path) -> None:
    write(course, "00", "data = open('runs.csv').read()\ndef tally(statuses):\n    return {}\n")
    code, out = cli("check", "00")
    assert code == 1
    assert ("importing exercises/step00.py raised FileNotFoundError: [Errno 2] No such file or "
            "directory: 'runs.csv' (line 1, in <module>)") in out
    assert "cannot be read" not in out
    write(course, "00", "eval('1 +')\ndef tally(statuses):\n    return {}\n")
    code, out = cli("check", "00")
    assert "importing exercises/step00.py raised SyntaxError" in out and "line 1" in out


@pytest.mark.parametrize(("source", "said"), [
    ("import sys\nclass Odd:\n    def __repr__(self):\n        raise ValueError\n"
     "def tally(statuses):\n    sys.exit(Odd())\n",
     "your code called sys.exit(…) (exercises/step00.py, line 6, in tally)"),
    ("class Text(str):\n    def __len__(self):\n        raise RuntimeError\n"
     "class Odd(Exception):\n    def __str__(self):\n        return Text('odd')\n"
     "def tally(statuses):\n    raise Odd()\n",
     "your code raised Odd: odd (exercises/step00.py, line 8, in tally)"),
    ("class Odd(Exception):\n    def __str__(self):\n        raise SystemExit\n"
     "def tally(statuses):\n    raise Odd()\n",
     "your code raised Odd: <its message could not be shown: str() raised SystemExit>"),
    ("error = SyntaxError('made up')\nerror.lineno = object()\nraise error\n",
     "importing exercises/step00.py raised SyntaxError: made up (line 3, in <module>)"),
])
def test_exceptions_that_resist_being_described(course: Path, source: str, said: str) -> None:
    write(course, "00", source)
    code, out = cli("check", "00")
    assert code == 1
    assert said in out
    assert_no_kata_traceback(out)


def test_an_exception_with_a_huge_class_name_is_cut(course: Path) -> None:
    write(course, "00", """
        Huge = type("E" * 100_000, (Exception,), {})
        def tally(statuses):
            raise Huge("boom")
        """)
    code, out = cli("check", "00")
    assert code == 1
    assert "E…: boom (exercises/step00.py, line 4, in tally)" in out
    assert len(out) < 5000


# check() in this process, as a notebook kernel calls it -----------------------------------------


LEARNER_FILES = {
    "a result equal to anything": """
        class Anything:
            def __eq__(self, other):
                return True
        def tally(statuses):
            return Anything()
        """,
    "os.fork()": """
        import os
        def tally(statuses):
            return {"ok": 2, "fail": 1} if os.fork() == 0 else {}
        """,
    "closing descriptors": """
        import os
        def tally(statuses):
            os.closerange(0, 1000)
            return {}
        """,
}


def test_notebook_check_reports_every_attack_and_this_process_lives_on(
        course: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(notebook.VERIFY_ENV, raising=False)
    for name, value in {"CQRS_KATA_CHECK_SECONDS": "1", "CQRS_KATA_IMPORT_SECONDS": "1",
                        "CQRS_KATA_STEP_SECONDS": "4"}.items():
        monkeypatch.setenv(name, value)
    me = os.getpid()
    for attack, source in LEARNER_FILES.items():
        write(course, "00", source)
        report = notebook.check("00")
        assert os.getpid() == me, attack
        assert not report.ok, attack
        assert "✗ task 1" in repr(report) or "✗ importing" in repr(report), (attack, report)


@pytest.mark.skipif(not hasattr(os, "fork"), reason="os.fork() is POSIX")
def test_in_process_checks_contain_exits_forks_and_process_state(
        course: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Where checks run in the caller's process (a browser's kernel), os._exit() and fork()
    cannot end or split it, and what the code changes about the process is put back."""
    monkeypatch.delenv(notebook.VERIFY_ENV, raising=False)
    monkeypatch.setenv(isolation.ISOLATION_ENV, "1")
    write(course, "00", "import os\ndef tally(statuses):\n    os._exit(3)\n")
    report = repr(notebook.check("00"))
    assert "your code called os._exit(3) (exercises/step00.py, line 3, in tally)" in report
    write(course, "00", "import os\nos._exit(0)\n")
    assert "importing exercises/step00.py called os._exit(0) (line 2" in repr(notebook.check("00"))
    for name in ("a result equal to anything", "os.fork()"):
        write(course, "00", LEARNER_FILES[name])
        assert not notebook.check("00").ok, name

    before = (sys.getrecursionlimit(), os.getcwd(), sys.__stdout__, sys.stdin,
              signal.getsignal(signal.SIGINT), sys.getswitchinterval())
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    write(course, "00", f"""
        import os, signal, sys
        from collections import Counter
        sys.setrecursionlimit(10**6)  # deep recursion would then crash the kernel
        os.chdir({str(elsewhere)!r})
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.setitimer(signal.ITIMER_REAL, 0.3)  # SIGALRM's default ends the process
        sys.__stdout__ = sys.stdin = None
        sys.setswitchinterval(100)  # threads would hardly ever take turns
        def tally(statuses):
            return dict(Counter(statuses))
        """)
    assert notebook.check("00").ok
    after = (sys.getrecursionlimit(), os.getcwd(), sys.__stdout__, sys.stdin,
             signal.getsignal(signal.SIGINT), sys.getswitchinterval())
    assert after == before
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert os._exit is sandbox._exit

