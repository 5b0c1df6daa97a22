"""Every course check, as a pytest test: against the reference by default.

A learner can run them against their own code with
``pytest tests/test_course_checks.py --kata-target exercises -k step02``.
"""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from cqrs_kata.course.structure import Check, all_steps, get_step
from cqrs_kata.runner.run import Target, load_module, module_path

ROOT = Path(__file__).resolve().parent.parent
CHECKS = [c for s in all_steps() for c in s.checks]


def _param(check: Check) -> object:
    return pytest.param(check, id=f"step{check.step}-task{check.task}-{check.name}",
                        marks=pytest.mark.task(step=check.step, taskno=check.task))


_loaded: dict[tuple[str, str], ModuleType] = {}


def _impl(step: str, target: Target) -> ModuleType:
    if (step, target) not in _loaded:
        # This checkout's own folder, not the pristine copy the notebooks run against.
        _loaded[step, target] = load_module(module_path(get_step(step), ROOT / target))
    return _loaded[step, target]


@pytest.mark.parametrize("check", [_param(c) for c in CHECKS])
def test_course_check(check: Check, request: pytest.FixtureRequest) -> None:
    check(_impl(check.step, request.config.getoption("--kata-target")))
