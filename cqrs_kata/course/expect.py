"""Assertions for course checks, with failure messages a learner can act on.

Every failure reads "called X / got Y / expected Z", plus one line on why Z is right. Checks
raise :class:`CheckFailed`; anything else a learner's code raises is reported by the runner.
:func:`printable` makes any text safe to show, in a report, a hint or a widget.
"""

from __future__ import annotations

import dataclasses
import reprlib
from collections.abc import Callable, Iterable
from typing import NoReturn, cast

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


_PLAIN = (int, float, complex, str, bytes, bool, type(None))
"""Exact types whose ``==`` and hash are Python's own (a subclass could override them)."""


def _plain(value: object) -> bool:
    """Whether comparing or hashing ``value`` runs only Python's own code (for dict keys)."""
    if type(value) in _PLAIN:
        return True
    return type(value) in (tuple, frozenset) and all(map(_plain, cast(Iterable[object], value)))


def same(got: object, expected: object) -> bool:
    """``got == expected``, compared as plain data: dicts, lists, tuples, sets and dataclasses
    item by item and field by field, numbers and strings by Python's own ``==``; never by the
    ``__eq__`` of what the learner's code returned. An object whose ``__eq__`` always says True
    (or a dict subclass that lies about its items) cannot pass for the value a check expects,
    while a ``Counter`` or ``defaultdict`` holding the right items passes, as with ``==``.
    """
    if type(expected) in _PLAIN:
        return type(got) in _PLAIN and bool(got == expected)
    if isinstance(expected, dict):
        if not isinstance(got, dict):
            return False
        items = list(dict.items(got))  # what the dict holds, whatever a subclass says
        return (len(items) == len(expected) and all(_plain(k) for k, _ in items)
                and all(k in expected and same(v, expected[k]) for k, v in items))
    if isinstance(expected, list):
        return (isinstance(got, list) and len(values := list.copy(got)) == len(expected)
                and all(map(same, values, expected)))
    if isinstance(expected, tuple):
        return (isinstance(got, tuple) and len(fields := tuple.__getitem__(got, slice(None)))
                == len(expected) and all(map(same, fields, expected)))
    if isinstance(expected, (set, frozenset)):
        if not isinstance(got, (set, frozenset)):
            return False
        members = set.copy(got) if isinstance(got, set) else frozenset.copy(got)
        return all(map(_plain, members)) and members == set(expected)
    if (dataclasses.is_dataclass(expected) and not isinstance(expected, type)
            and type(expected).__dataclass_params__.eq):  # type: ignore[attr-defined]
        return type(got) is type(expected) and all(
            same(getattr(got, f.name), getattr(expected, f.name))
            for f in dataclasses.fields(expected) if f.compare)
    return type(got) is type(expected) and bool(expected == got)


def expect_equal(called: str, got: object, expected: object, why: str = "") -> None:
    """Fail unless ``got == expected``, compared as plain data (see :func:`same`)."""
    if not same(got, expected):
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


def printable(text: str) -> str:
    """``text`` with what UTF-8 cannot encode (lone surrogates) spelled as ``\\udXXX`` escapes.

    A tenant such as ``"\\ud800"`` is a valid ``str`` that no notebook can send or print;
    shown this way it is visible, and the same every time.
    """
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
