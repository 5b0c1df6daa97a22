"""Assertions for course checks, with failure messages a learner can act on.

Every failure reads "called X / got Y / expected Z", plus one line on why Z is right. Checks
raise :class:`CheckFailed`; anything else a learner's code raises is reported by the runner.
"""

from __future__ import annotations

import reprlib
from collections.abc import Callable
from typing import NoReturn

_short = reprlib.Repr()
_short.maxstring = 80
_short.maxother = 80
_short.maxdict = 8
_short.maxlist = 8


class CheckFailed(AssertionError):
    """The learner's code ran but did the wrong thing; the message says what and why."""


def show(value: object) -> str:
    """A short, readable repr of a value for a failure message."""
    return _short.repr(value)


def fail(called: str, got: str, expected: str, why: str = "") -> NoReturn:
    lines = [f"called   {called}", f"got      {got}", f"expected {expected}"]
    if why:
        lines.append(f"why      {why}")
    raise CheckFailed("\n".join(lines))


def expect_equal(called: str, got: object, expected: object, why: str = "") -> None:
    """Fail unless ``got == expected``."""
    if got != expected:
        fail(called, show(got), show(expected), why)


def expect_returns(called: str, action: Callable[[], object], expected: object,
                   why: str = "") -> None:
    """Fail unless ``action()`` returns ``expected``; an exception it raises is reported as
    what it got (``NotImplementedError`` passes through: an unwritten stub is "not started")."""
    try:
        got = action()
    except NotImplementedError:
        raise
    except Exception as error:
        fail(called, f"it raised {type(error).__name__}: {error}", f"it to return {show(expected)}",
             why)
    expect_equal(called, got, expected, why)


def expect_raises(
    called: str,
    action: Callable[[], object],
    errors: tuple[type[Exception], ...],
    why: str = "",
) -> Exception:
    """Run ``action`` and return the error it raised; fail if it raised none or another kind.

    ``NotImplementedError`` always passes through, so an unwritten stub reads as "not started".
    """
    names = " or ".join(e.__name__ for e in errors)
    try:
        result = action()
    except NotImplementedError:
        raise
    except errors as error:
        return error
    except Exception as error:  # the learner raised, but the wrong kind
        fail(called, f"it raised {type(error).__name__}: {error}", f"it to raise {names}", why)
    fail(called, f"it returned {show(result)} without complaint", f"it to raise {names}", why)
