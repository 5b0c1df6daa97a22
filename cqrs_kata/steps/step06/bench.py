"""``cqrs-kata bench``: step 06's comparison on this machine, in one command.

Runs :func:`cqrs_kata.steps.step06.alternatives.measure` over a sweep of sizes, on SQLite and on
PostgreSQL
(``$CQRS_KATA_PG_DSN`` or a throwaway server; without one, its rows are left out and the
reason printed), with a progress bar; writes ``figures.csv``, ``figures.txt`` and the plots
into ``--out``; prints the table and the headline ratios.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path

DEFAULT_ROWS = (1_000, 10_000, 100_000, 1_000_000)
"""About a minute on a 2-core laptop, both backends."""
LARGE_ROWS = (*DEFAULT_ROWS, 10_000_000)
DEFAULT_OUT = "bench-results"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cqrs-kata bench",
        description="Step 06's comparison, measured here: read latency, the cost of a "
                    "write, staleness, refresh cost and blocking of every way to answer the "
                    "dashboard, side by side on one generated workload.")
    sizes = parser.add_mutually_exclusive_group()
    sizes.add_argument("--rows", type=int, nargs="+", metavar="N",
                       help="the sizes to measure (default: "
                            f"{' '.join(f'{n:,}' for n in DEFAULT_ROWS)})")
    sizes.add_argument("--large", action="store_true",
                       help="add 10,000,000 rows to the default sizes (several minutes)")
    parser.add_argument("--out", default=DEFAULT_OUT, type=Path,
                        help=f"folder for figures.csv, figures.txt and the PNGs "
                             f"(default: {DEFAULT_OUT})")
    parser.add_argument("--no-postgres", action="store_true",
                        help="SQLite only: do not look for or start a PostgreSQL server")
    parser.add_argument("--reads", type=int, default=200,
                        help="reads per option and size, at most (default: 200)")
    parser.add_argument("--writes", type=int, default=100,
                        help="writes per write path and size (default: 100)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    rows = sorted(set(args.rows or (LARGE_ROWS if args.large else DEFAULT_ROWS)))
    if rows[0] < 1 or args.reads < 1 or args.writes < 1:
        print("cqrs-kata bench: --rows, --reads and --writes take whole numbers of 1 or more",
              file=sys.stderr)
        return 2
    from tqdm import tqdm

    from cqrs_kata.steps.step06 import alternatives

    started = time.perf_counter()
    backends: list[tuple[str, str | None]] = [("sqlite", None)]
    if args.no_postgres:
        print("PostgreSQL: left out (--no-postgres); matview rows are PostgreSQL's.")
    else:
        from cqrs_kata.db import postgres

        why = postgres.unavailable_reason()
        if why is None:
            backends.append(("postgresql", postgres.dsn()))
        else:
            print(f"PostgreSQL: left out, none can be had here; matview rows need it.\n{why}\n")
    jobs = [(n, dsn) for _, dsn in backends for n in rows]
    total = sum(n for n, _ in jobs)  # the bar moves by rows: time grows with them
    figures: list[alternatives.Figures] = []
    with tqdm(total=total, unit=" rows", unit_scale=True, file=sys.stderr,
              bar_format="{desc:<44.44} {percentage:3.0f}%|{bar}| {elapsed}<{remaining}") as bar:
        done = 0
        for n, dsn in jobs:
            def progress(what: str, step: int, steps: int, n: int = n, base: int = done) -> None:
                bar.set_description_str(what)
                bar.update(base + n * step / steps - bar.n)

            figures += alternatives.measure(n, dsn=dsn, reads=args.reads, writes=args.writes,
                                            progress=progress)
            done += n
    args.out.mkdir(parents=True, exist_ok=True)
    text = str(alternatives.table(figures))
    lines = alternatives.headlines(figures)
    (args.out / "figures.csv").write_text(alternatives.to_csv(figures))
    (args.out / "figures.txt").write_text(f"{text}\n\n{lines}\n")
    pictures = alternatives.plot(figures, args.out)
    took = time.perf_counter() - started
    print(f"{text}\n\n{lines}\n")
    print(f"Measured in {took:.0f} s. Written: "
          + ", ".join(str(p) for p in [args.out / "figures.csv", args.out / "figures.txt",
                                        *pictures]))
    return 0
