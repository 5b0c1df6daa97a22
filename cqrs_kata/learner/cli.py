"""The ``cqrs-kata`` command: list, check, hint, catchup, reset, saved, restore, project, guide,
contract, bench, doctor."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from cqrs_kata.course.files import FileProblem
from cqrs_kata.course.paths import CourseNotFound
from cqrs_kata.course.structure import UnknownStep
from cqrs_kata.course.stubs import StubError
from cqrs_kata.learner import kata
from cqrs_kata.runner.isolation import SettingError
from cqrs_kata.runner.report import Report

PROBLEMS = (UnknownStep, CourseNotFound, StubError, FileProblem, SettingError)
"""Errors that are the learner's to fix, each one sentence: shown without a traceback."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cqrs-kata",
        description="Learn CQRS-lite step by step: check your exercises, get hints, see progress.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    commands.add_parser("list", help="every step and task, with its state")

    check = commands.add_parser("check", help="run a step's checks against your exercise")
    check.add_argument("step", nargs="?", help="step number, e.g. 02 (default: the first not done)")
    check.add_argument("--target", choices=["exercises", "solutions"], default="exercises",
                       help="check your code (default) or the reference solution")

    hint = commands.add_parser("hint", help="the next hint for a task, one level per call")
    hint.add_argument("step", help="step number, e.g. 02")
    hint.add_argument("task", nargs="?", type=int,
                      help="task number (default: the first task that does not pass)")

    catchup = commands.add_parser(
        "catchup", help="put the reference solution of every earlier step that does not pass "
                        "into exercises/ (yours is saved first)")
    catchup.add_argument("step", help="the step you want to start, e.g. 04")

    reset = commands.add_parser("reset", help="a fresh, unanswered copy of a step's exercise "
                                              "(yours is saved first)")
    reset.add_argument("step", help="step number, e.g. 02")

    commands.add_parser("saved", help="list the versions of your exercises saved by catchup, "
                                      "reset and restore")
    restore = commands.add_parser("restore", help="put a saved version back (what is there now "
                                                  "is saved first)")
    restore.add_argument("which", help="its number from `cqrs-kata saved`, or its file name")

    watch = commands.add_parser("watch", help="check a step again on every save of its "
                                              "exercise; Ctrl-C leaves")
    watch.add_argument("step", nargs="?", help="step number, e.g. 02 (default: the first not "
                                               "done)")
    solution = commands.add_parser("solution", help="once a step passes, the reference beside "
                                                    "your code")
    solution.add_argument("step", help="step number, e.g. 02")

    commands.add_parser("project", add_help=False,
                        help="run step 05's projector in this process (`cqrs-kata project -h`)")
    commands.add_parser("bench", add_help=False,
                        help="step 06's comparison measured on this machine: a table and plots "
                             "(`cqrs-kata bench -h`)")
    commands.add_parser("doctor", add_help=False,
                        help="is this machine ready for the course? one line per check, exit "
                             "status 0 when it is (`cqrs-kata doctor -h`)")
    commands.add_parser("guide", help="for facilitators: time, tasks and usual mistakes per step")
    contract = commands.add_parser(
        "contract", help="for reviewers: every rule a step's docstrings state, and its checks")
    contract.add_argument("step", nargs="?", help="step number, e.g. 03 (default: every step)")
    return parser


def _action(args: argparse.Namespace) -> Callable[[], Report]:
    actions: dict[str, Callable[[], Report]] = {
        "list": kata.progress,
        "check": lambda: kata.check(args.step, args.target),
        "hint": lambda: kata.hint(args.step, args.task),
        "catchup": lambda: kata.catchup(args.step),
        "reset": lambda: kata.reset(args.step),
        "saved": kata.saved,
        "restore": lambda: kata.restore(args.which),
        "solution": lambda: kata.solution(args.step),
        "guide": kata.guide,
        "contract": lambda: kata.contract(args.step),
    }
    return actions[args.command]


def main(argv: Sequence[str] | None = None) -> int:
    given = list(sys.argv[1:] if argv is None else argv)
    if given[:1] == ["project"]:  # a long-running process with options of its own
        from cqrs_kata.steps.step05 import projector_process

        return projector_process.main(given[1:])
    if given[:1] == ["bench"]:  # minutes of measuring, with options of its own
        from cqrs_kata.steps.step06 import bench

        return bench.main(given[1:])
    if given[:1] == ["doctor"]:  # prints each check as it finishes (a kernel takes seconds)
        from cqrs_kata.learner import doctor

        return doctor.main(given[1:])
    args = _parser().parse_args(given)
    try:
        if args.command == "watch":  # runs until Ctrl-C, printing as it goes
            return kata.watch(args.step)
        report = _action(args)()
    except PROBLEMS as error:
        print(f"cqrs-kata: {error}", file=sys.stderr)
        return 2
    try:
        print(report, flush=True)
    except BrokenPipeError:  # `cqrs-kata list | head`: the reader has all it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    # `check` passes only when every check of the step passed; anything else is a failure.
    return 0 if report.ok else 1


def run() -> None:
    """The console script: exit with main()'s status."""
    for stream in (sys.stdout, sys.stderr):
        if hasattr(stream, "reconfigure"):
            stream.reconfigure(errors="backslashreplace")
    sys.exit(main())


if __name__ == "__main__":
    run()
