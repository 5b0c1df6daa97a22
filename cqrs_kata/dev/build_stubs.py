"""Regenerate exercises/ from solutions/ (``make stubs``), for maintainers.

A maintainer runs this after changing a solution. The checkout may also be a learner's, so an
exercise that differs from what git's index has is someone's work: it is saved in
exercises/.saved/ before it is replaced, like every other command that replaces one.
``--check`` only reports stubs that differ from what would be generated.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cqrs_kata.course.files import FileProblem, replace
from cqrs_kata.course.paths import course_root
from cqrs_kata.course.structure import all_steps
from cqrs_kata.course.stubs import StubError, stub_for
from cqrs_kata.course.tracked import course_files
from cqrs_kata.runner.run import module_path


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cqrs_kata.dev.build_stubs",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--check", action="store_true",
                        help="only report stubs that differ from what would be generated")
    args = parser.parse_args(argv)
    committed = course_files(course_root())
    stale = 0
    try:
        for step in all_steps():
            path = module_path(step, "exercises")
            stub = stub_for(step)
            current = path.read_text(encoding="utf-8") if path.is_file() else None
            if args.check:
                if current != stub:
                    stale += 1
                    print(f"exercises/{step.module}.py differs from the stub generated from "
                          f"solutions/{step.module}.py")
                continue
            # What git has is the previous stub: replacing it loses nothing of anyone's.
            # Outside git nothing tells the previous stub from the learner's edit: save any change.
            previous = (committed.text(f"exercises/{step.module}.py")
                        if committed.tracked is not None else None) or stub
            reference = module_path(step, "solutions").read_text(encoding="utf-8")
            print(replace(path, stub, "build-stubs", stub=previous, reference=reference))
    except (StubError, FileProblem, UnicodeDecodeError) as error:
        print(f"build_stubs: {error}", file=sys.stderr)
        return 2
    return 1 if stale else 0


if __name__ == "__main__":
    sys.exit(main())
