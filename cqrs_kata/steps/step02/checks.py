"""Step 02: split truth from views, synchronously."""

from __future__ import annotations

import copy
import dataclasses
from functools import partial
from types import ModuleType
from typing import Any

from cqrs_kata.course.expect import expect_equal, expect_raises, expect_returns, fail, show
from cqrs_kata.course.structure import Step, Task
from cqrs_kata.steps.oracle import folded

STEP = Step(
    number="02",
    title="Split truth from views",
    minutes=35,
    tasks=(
        Task(
            1,
            "The write store keeps history",
            builds=("MemoryWrite.add", "MemoryWrite.all"),
            hints=(
                "The store is just the list `self.data`: add appends to it, all hands it out.",
                "all() must return a *new* list each time, so a caller cannot change the store "
                "by appending to or clearing what it got back; add() takes only a Run.",
                "`if not isinstance(r, Run): raise TypeError(...)`, `self.data.append(r)`; and "
                "`return list(self.data)`.",
            ),
        ),
        Task(
            2,
            "The view counts per tenant and status",
            builds=("MemoryRead.inc", "MemoryRead.summary", "MemoryRead.reset"),
            hints=(
                "`self.counts` is a dict of dicts: tenant -> status -> count. inc adds one, "
                "creating the inner dict and the status with 0 when they are new.",
                "summary must return a copy (`dict(...)`) and must not create an entry for a "
                "tenant it has never seen: use `.get(tenant, {})`, not `setdefault`.",
                "inc: `per = self.counts.setdefault(tenant, {}); per[status] = per.get(status, 0) "
                "+ 1`. summary: `return dict(self.counts.get(tenant, {}))`. reset: "
                "`self.counts.clear()`.",
            ),
        ),
        Task(
            3,
            "Only sensible names get in",
            builds=("validate_name",),
            hints=(
                "Four ways a name can be bad: not a str, empty (or only spaces), longer than "
                "MAX_NAME_LENGTH, or holding a character that cannot be shown (a newline, a "
                "tab, a lone surrogate). Check them in that order and return the value, "
                "unchanged, if none hit.",
                "Raise TypeError for the first, ValueError for the other three, and put `what` "
                "(\"tenant\" or \"status\") and the bad value (`{value!r}`) into the message. "
                "Measure the length of the value as given, not stripped.",
                "`isinstance(value, str)`, `value.strip()` is empty for blanks, "
                "`len(value) > MAX_NAME_LENGTH`, `not value.isprintable()`; end with "
                "`return value`.",
            ),
        ),
        Task(
            4,
            "record() writes the truth, then the view",
            builds=("RunService.record",),
            hints=(
                "record has three jobs in a fixed order: validate, append to the write store, "
                "count in the view.",
                "Validate both names *before* touching either store. If you call inc first and "
                "the Run turns out bad, the view already counted something the truth never got.",
                "`run = Run(validate_name(\"tenant\", tenant), validate_name(\"status\", "
                "status))`, then `self.write.add(run)` and `self.read.inc(run.tenant, "
                "run.status)`.",
            ),
        ),
        Task(
            5,
            "Rebuild the view from the truth",
            builds=("RunService.rebuild_read_model",),
            hints=(
                "The write store has every run ever recorded; the view can be recomputed from it.",
                "Start from an empty view, or a second rebuild will count everything twice.",
                "`self.read.reset()`, then `for r in self.write.all(): self.read.inc(r.tenant, "
                "r.status)`.",
            ),
        ),
    ),
    usual_mistakes=(
        "all() or summary() returning the internal list or dict: callers then edit history or "
        "the view by accident (tasks 1 and 2 catch this).",
        "summary() using setdefault, which adds every tenant anyone ever asked about.",
        "record() calling read.inc before validating or before write.add, so a bad run is "
        "counted in the view but absent from the truth.",
        "rebuild_read_model() without reset(): every rebuild doubles the counts.",
    ),
)

# The contract: every sentence of the docstrings the learner implements -----------------------

W, R = "MemoryWrite", "MemoryRead"
GROWS = STEP.rule(W, "The write store, in memory: a list that only ever grows.")
ADD = STEP.rule(f"{W}.add", "Append ``r`` to ``self.data``.")
NEVER_EDITED = STEP.rule(f"{W}.add", "Never change or remove what is already there.")
ONLY_RUNS = STEP.rule(f"{W}.add", "``r`` must be a ``Run``; anything else (a tuple, a dict, "
                      "None) raises ``TypeError`` and adds nothing, so the log never holds what "
                      "a rebuild could not read.")
ALL_IN_ORDER = STEP.rule(f"{W}.all", "Return every run, oldest first, as a new list.")
ALL_COPY = STEP.rule(f"{W}.all", "A caller that appends to or clears the returned list must "
                     "not change the store: hand out a copy, never ``self.data`` itself.")
STEP.note(f"{W}.all", "(The runs inside are frozen, so a shallow copy is enough to keep history "
          "safe.)")
COUNTS = STEP.rule(R, "The view, in memory: ``counts[tenant][status]`` is how many such runs "
                   "there are.")
INC = STEP.rule(f"{R}.inc", "Add one to ``counts[tenant][status]``, creating the tenant and "
                "status as needed.")
SUMMARY = STEP.rule(f"{R}.summary", "Return ``{status: count}`` for ``tenant``; ``{}`` for a "
                    "tenant with no runs.")
SUMMARY_COPY = STEP.rule(f"{R}.summary", "Return a copy: a caller that changes the result must "
                         "not change the view.")
LOOKUP_ADDS_NOTHING = STEP.rule(f"{R}.summary", "Looking up an unknown tenant must not add it "
                                "to ``counts`` either.")
RESET = STEP.rule(f"{R}.reset", "Forget all counts, so that a rebuild starts from nothing.")
VALID_RETURNED = STEP.rule("validate_name", "Return ``value`` if it is a usable tenant or "
                           "status name, else raise a clear error.")
STEP.note("validate_name", "``what`` is ``\"tenant\"`` or ``\"status\"``, for the message.")
USABLE = STEP.rule("validate_name", "A usable name is a ``str`` that is not empty, not only "
                   "white space, at most ``MAX_NAME_LENGTH`` characters long, and printable "
                   "(``value.isprintable()``: no newline, tab, other control character or lone "
                   "surrogate, which would break every table and file the name is shown in).")
ERRORS = STEP.rule("validate_name", "Raise ``TypeError`` when ``value`` is not a ``str`` and "
                   "``ValueError`` otherwise; the message names ``what`` and shows what was "
                   "given.")
STEP.note("RunService", "The application service: the one place that writes, and keeps the "
          "view in step.")
RECORD = STEP.rule("RunService.record", "Record one run: store it as truth, then count it in "
                   "the view.")
VALIDATE_FIRST = STEP.rule("RunService.record", "Validate both names with ``validate_name`` "
                           "before touching either store, so that bad input raises and leaves "
                           "the write store and the view exactly as they were.")
REBUILD = STEP.rule("RunService.rebuild_read_model", "Throw the view away and recompute it from "
                    "the write store's history.")
REBUILD_EQUALS = STEP.rule("RunService.rebuild_read_model", "Afterwards every count equals what "
                           "``self.write.all()`` says, however wrong the view was before; "
                           "rebuilding again changes nothing.")

BAD_NAMES: tuple[tuple[Any, type[Exception], str], ...] = (
    ("", ValueError, "an empty name names nothing"),
    ("   ", ValueError, "a name of only white space is blank"),
    ("x" * 101, ValueError, "101 characters is more than MAX_NAME_LENGTH (100)"),
    ("x" * 100 + " ", ValueError, "101 characters, counting the space, is more than "
     "MAX_NAME_LENGTH (100): measure the name as given, not stripped"),
    ("x" * 10_000, ValueError, "10,000 characters is far more than MAX_NAME_LENGTH (100)"),
    ("two\nlines", ValueError, "a newline is not printable (str.isprintable() is False)"),
    ("tab\there", ValueError, "a tab is not printable (str.isprintable() is False)"),
    ("\ud800", ValueError, "a lone surrogate is not printable and cannot be encoded"),
    ("nul\x00", ValueError, "a NUL character is not printable"),
    (None, TypeError, "None is not a str"),
    (42, TypeError, "a number is not a str, even if it could be turned into one"),
    (b"ok", TypeError, "bytes are not a str"),
    (["t1"], TypeError, "a list is not a str"),
)


def service(impl: ModuleType) -> Any:
    return impl.RunService(impl.MemoryWrite(), impl.MemoryRead())


# Task 1 ------------------------------------------------------------------------------------


@STEP.check(task=1, backs=(GROWS, ADD, ALL_IN_ORDER))
def all_returns_runs_in_order(impl: ModuleType) -> None:
    """all() returns every added run, oldest first"""
    w = impl.MemoryWrite()
    expect_equal("MemoryWrite().all()", w.all(), [], "a new store has no history yet")
    runs = [impl.Run("t1", "ok"), impl.Run("t2", "fail"), impl.Run("t1", "ok"),
            impl.Run("t3", "ok")]
    for r in runs:
        w.add(r)
    expect_equal("all() after add() of t1/ok, t2/fail, t1/ok, t3/ok", w.all(), runs,
                 "the write store is a log: everything added, the same run twice too, oldest "
                 "first, in the order it was added")


@STEP.check(task=1, backs=(ALL_COPY, NEVER_EDITED))
def all_returns_a_copy(impl: ModuleType) -> None:
    """changing the list all() returned does not change the store"""
    w = impl.MemoryWrite()
    w.add(impl.Run("t1", "ok"))
    handed_out = w.all()
    handed_out.append(impl.Run("t1", "forged"))
    expect_equal("all() after the caller appended to an earlier all() result", w.all(),
                 [impl.Run("t1", "ok")], "all() must return a new list, not self.data itself")
    w.all().clear()
    expect_equal("all() after the caller cleared an earlier all() result", w.all(),
                 [impl.Run("t1", "ok")], "history is append-only; no caller may erase it")


@STEP.check(task=1, backs=(NEVER_EDITED,))
def history_cannot_be_edited(impl: ModuleType) -> None:
    """a stored run cannot be changed through all()"""
    w = impl.MemoryWrite()
    w.add(impl.Run("t1", "ok"))
    run = w.all()[0]
    expect_raises("w.all()[0].status = 'fail'", lambda: setattr(run, "status", "fail"),
                  (dataclasses.FrozenInstanceError,),
                  "Run must stay a frozen dataclass: recorded facts never change")
    expect_equal("all() after trying to edit a run", w.all(), [impl.Run("t1", "ok")])


@STEP.check(task=1, backs=(ONLY_RUNS,))
def add_refuses_what_is_not_a_run(impl: ModuleType) -> None:
    """add() refuses anything that is not a Run and adds nothing"""
    w = impl.MemoryWrite()
    w.add(impl.Run("t1", "ok"))
    for bad in (None, ("t2", "ok"), {"tenant": "t2", "status": "ok"}, "t2 ok"):
        expect_raises(f"add({show(bad)})", partial(w.add, bad), (TypeError,),
                      "the log holds Runs only; a rebuild reads every entry as one")
        expect_equal(f"all() after add({show(bad)})", w.all(), [impl.Run("t1", "ok")],
                     "a refused entry must not reach the log")


# Task 2 ------------------------------------------------------------------------------------


@STEP.check(task=2, backs=(COUNTS, INC, SUMMARY))
def counts_per_tenant_and_status(impl: ModuleType) -> None:
    """summary() counts each status of a tenant"""
    r = impl.MemoryRead()
    for status in ["ok", "ok", "fail"]:
        r.inc("t1", status)
    expect_equal('summary("t1") after inc("t1", s) for ok, ok, fail', r.summary("t1"),
                 {"ok": 2, "fail": 1}, "two ok runs and one failed run were counted")


@STEP.check(task=2, backs=(SUMMARY, LOOKUP_ADDS_NOTHING))
def unknown_tenant_is_empty(impl: ModuleType) -> None:
    """an unknown tenant's summary is {} and does not add the tenant"""
    r = impl.MemoryRead()
    r.inc("t1", "ok")
    expect_equal('summary("nobody")', r.summary("nobody"), {},
                 "a tenant with no runs has no counts")
    if "nobody" in r.counts:
        fail('summary("nobody"), then looked at counts', f"counts = {show(r.counts)}",
             "no 'nobody' key in counts", "reading must not write: use .get, not setdefault")


@STEP.check(task=2, backs=(SUMMARY_COPY,))
def summary_returns_a_copy(impl: ModuleType) -> None:
    """changing a summary does not change the view"""
    r = impl.MemoryRead()
    r.inc("t1", "ok")
    got = r.summary("t1")
    got["ok"] = 1000
    got["fail"] = 7
    expect_equal('summary("t1") after the caller changed an earlier summary', r.summary("t1"),
                 {"ok": 1}, "summary must return a copy, not the view's own dict")


@STEP.check(task=2, backs=(COUNTS, SUMMARY))
def tenants_are_isolated(impl: ModuleType) -> None:
    """tenants never see each other's counts"""
    r = impl.MemoryRead()
    r.inc("acme", "ok")
    r.inc("globex", "fail")
    r.inc("globex", "fail")
    expect_equal('summary("acme")', r.summary("acme"), {"ok": 1},
                 "acme recorded one ok run; globex's runs are none of its business")
    expect_equal('summary("globex")', r.summary("globex"), {"fail": 2})


@STEP.check(task=2, backs=(RESET,))
def reset_forgets_everything(impl: ModuleType) -> None:
    """reset() empties the view"""
    r = impl.MemoryRead()
    r.inc("t1", "ok")
    r.inc("t2", "fail")
    r.reset()
    expect_equal('summary("t1") after reset()', r.summary("t1"), {})
    expect_equal('summary("t2") after reset()', r.summary("t2"), {},
                 "reset() must forget every tenant, so a rebuild starts from zero")


# Task 3 ------------------------------------------------------------------------------------


@STEP.check(task=3, backs=(VALID_RETURNED, USABLE))
def accepts_sensible_names(impl: ModuleType) -> None:
    """validate_name() returns good names unchanged"""
    longest = "x" * impl.MAX_NAME_LENGTH
    for value in ["acme", "ok", "t", longest, "team blue", " padded ", "Zürich", "café ☕"]:
        shown = (f'"x" * {len(value)} (MAX_NAME_LENGTH characters)' if value == longest
                 else show(value))
        expect_returns(f'validate_name("tenant", {shown})',
                       partial(impl.validate_name, "tenant", value), value,
                       "a printable str, not blank, of at most MAX_NAME_LENGTH characters is "
                       "returned as it is: unchanged, not stripped")


@STEP.check(task=3, backs=(VALID_RETURNED, USABLE, ERRORS))
def rejects_bad_names(impl: ModuleType) -> None:
    """validate_name() rejects non-strings, blanks, unprintable and too long names"""
    for value, error, why in BAD_NAMES:
        raised = expect_raises(f'validate_name("status", {show(value)})',
                               partial(impl.validate_name, "status", value), (error,),
                               f"{why}; {error.__name__} says what kind of mistake it is")
        if "status" not in str(raised):
            fail(f'validate_name("status", {show(value)})', f"the message {str(raised)!r}",
                 "a message that names 'status'", "the caller needs to know which name was bad")
        given = repr(value)[:15]
        if given not in str(raised):
            fail(f'validate_name("status", {show(value)})', f"the message {str(raised)!r}",
                 f"a message that shows what was given ({given}…)",
                 "the caller sees which value was refused, not just that one was")


# Task 4 ------------------------------------------------------------------------------------


@STEP.check(task=4, backs=(RECORD,))
def record_updates_truth_and_view(impl: ModuleType) -> None:
    """record() appends to the write store and counts in the view"""
    svc = service(impl)
    for status in ["ok", "ok", "fail"]:
        svc.record("t1", status)
    svc.record("t2", "ok")
    expected = [impl.Run("t1", "ok"), impl.Run("t1", "ok"), impl.Run("t1", "fail"),
                impl.Run("t2", "ok")]
    calls = 'record("t1", "ok"), record("t1", "ok"), record("t1", "fail"), record("t2", "ok")'
    expect_equal(f"write.all() after {calls}", svc.write.all(), expected,
                 "every recorded run is stored as truth, in order")
    expect_equal(f'read.summary("t1") after {calls}', svc.read.summary("t1"),
                 {"ok": 2, "fail": 1}, "record() keeps the view in step with the truth")


@STEP.check(task=4, backs=(VALIDATE_FIRST,))
def bad_input_changes_nothing(impl: ModuleType) -> None:
    """record() with a bad name raises and changes neither store"""
    svc = service(impl)
    svc.record("t1", "ok")
    for bad, error, _ in BAD_NAMES:
        for tenant, status in [(bad, "ok"), ("t1", bad)]:
            called = f"record({show(tenant)}, {show(status)})"
            expect_raises(called, partial(svc.record, tenant, status), (error,),
                          "bad input must be refused with a clear error")
            expect_equal(f"write.all() after {called}", svc.write.all(), [impl.Run("t1", "ok")],
                         "a refused run must not reach the truth")
            expect_equal(f"read.counts after {called}", svc.read.counts, {"t1": {"ok": 1}},
                         "validate before touching either store, so nothing is half-written")


class _FullDisk:
    """A write store that cannot store anything: its add() fails."""

    def add(self, r: object) -> None:
        raise OSError("the disk is full")

    def all(self) -> list[object]:
        return []


@STEP.check(task=4, backs=(RECORD,))
def record_counts_only_what_was_stored(impl: ModuleType) -> None:
    """record() counts a run in the view only after the write store took it"""
    svc = impl.RunService(_FullDisk(), impl.MemoryRead())
    expect_raises('record("t1", "ok") when write.add() fails', partial(svc.record, "t1", "ok"),
                  (OSError,), "the write store's error reaches the caller")
    expect_equal('read.counts after record("t1", "ok") failed to store the run', svc.read.counts,
                 {}, "store it as truth first, then count it: the view must never count a run "
                 "the truth does not have")


# Task 5 ------------------------------------------------------------------------------------


def _recorded_service(impl: ModuleType) -> Any:
    svc = service(impl)
    for tenant, status in [("t1", "ok"), ("t1", "fail"), ("t2", "ok"), ("t1", "ok")]:
        svc.write.add(impl.Run(tenant, status))
        svc.read.inc(tenant, status)
    return svc


@STEP.check(task=5, backs=(REBUILD, REBUILD_EQUALS))
def rebuild_restores_a_corrupted_view(impl: ModuleType) -> None:
    """rebuild_read_model() repairs a view that went wrong"""
    svc = _recorded_service(impl)
    svc.read.inc("t1", "ok")  # a bug double-counted a run
    svc.read.inc("ghost", "fail")  # and counted one that never happened
    svc.rebuild_read_model()
    truth = folded(svc.write.all())
    for tenant in ["t1", "t2", "ghost"]:
        expect_equal(f'summary("{tenant}") after corrupting the view and rebuilding',
                     svc.read.summary(tenant), truth.get(tenant, {}),
                     "after a rebuild the view says exactly what write.all() says")


@STEP.check(task=5, backs=(REBUILD_EQUALS,))
def rebuild_twice_gives_the_same_counts(impl: ModuleType) -> None:
    """rebuilding twice gives the same counts as rebuilding once"""
    svc = _recorded_service(impl)
    svc.rebuild_read_model()
    once = copy.deepcopy(svc.read.counts)
    svc.rebuild_read_model()
    expect_equal("read.counts after a second rebuild_read_model()", svc.read.counts, once,
                 "a rebuild must start from an empty view (reset), or it adds everything again")


@STEP.check(task=5, backs=(REBUILD,))
def rebuild_leaves_history_alone(impl: ModuleType) -> None:
    """rebuild_read_model() never changes the write store"""
    svc = _recorded_service(impl)
    before = svc.write.all()
    svc.rebuild_read_model()
    expect_equal("write.all() after rebuild_read_model()", svc.write.all(), before,
                 "a rebuild reads the truth; it never writes to it")
