"""The ``cqrs-kata`` command: list, check, hint, catchup, reset, guide, build-stubs."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cqrs_kata import kata
from cqrs_kata.course import UnknownStep
from cqrs_kata.paths import CourseNotFound, course_root
from cqrs_kata.stubs import StubError, write_stubs


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
        "catchup", help="put the reference solution of every earlier step into exercises/")
    catchup.add_argument("step", help="the step you want to start, e.g. 04")

    reset = commands.add_parser("reset", help="a fresh, unanswered copy of a step's exercise")
    reset.add_argument("step", help="step number, e.g. 02")

    commands.add_parser("guide", help="for facilitators: time, tasks and usual mistakes per step")

    build = commands.add_parser("build-stubs",
                                help="for maintainers: regenerate exercises/ from solutions/")
    build.add_argument("--check", action="store_true",
                       help="only report stubs that differ from what would be generated")
    return parser


def _build_stubs(only_check: bool) -> int:
    from cqrs_kata.course import all_steps
    from cqrs_kata.stubs import stub_for

    folder = course_root() / "exercises"
    if not only_check:
        for path in write_stubs(folder):
            print(f"wrote {path.relative_to(course_root())}")
        return 0
    stale = [s.module for s in all_steps()
             if not (folder / f"{s.module}.py").is_file()
             or (folder / f"{s.module}.py").read_text(encoding="utf-8") != stub_for(s)]
    for name in stale:
        print(f"exercises/{name}.py differs from the stub generated from solutions/{name}.py")
    return 1 if stale else 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "list":
            print(kata.progress())
            return 0
        if args.command == "check":
            report = kata.check(args.step, args.target)
            print(report)
            return 0 if report.ok else 1
        if args.command == "hint":
            print(kata.hint(args.step, args.task))
        elif args.command == "catchup":
            print(kata.catchup(args.step))
        elif args.command == "reset":
            print(kata.reset(args.step))
        elif args.command == "guide":
            print(kata.guide())
        elif args.command == "build-stubs":
            return _build_stubs(args.check)
    except (UnknownStep, CourseNotFound, StubError) as error:
        print(f"cqrs-kata: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
