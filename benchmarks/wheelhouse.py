"""The workshop wheelhouse's figures: its size per platform (and per Python) and in all, and how
long installing the course from it takes here, into a fresh venv, with no network.

    .venv/bin/python benchmarks/wheelhouse.py [WHEELHOUSE] [--sizes]   # default: wheelhouse/

Make the wheelhouse first (`make wheelhouse`; `python -m cqrs_kata.dev.kit wheelhouse --here
--out DIR` for this machine's part only). The install is timed as the wheelhouse's README
gives it (`cqrs-kata[dev]` with its lock as constraints), with no pip configuration, no cache
and an index address where nothing listens (--sizes: the sizes only). Prints the numbers;
nothing here is a test.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

from cqrs_kata.dev import kit

ROOT = Path(__file__).resolve().parent.parent
MiB = 2**20


def sizes(wheelhouse: Path) -> None:
    manifest: dict[str, list[str]] = json.loads((wheelhouse / "manifest.json").read_text())
    size = {name: (wheelhouse / name).stat().st_size
            for listed in manifest.values() for name in listed}
    per_platform: dict[str, set[str]] = defaultdict(set)
    for combo, listed in manifest.items():
        per_platform[combo.split("/")[0]].update(listed)
        print(f"  {combo:<22} {len(listed):>4} wheels {sum(size[n] for n in listed) / MiB:>8,.0f}"
              " MiB")
    print("per platform (all its Pythons; pure-Python wheels counted in each):")
    for platform, files in sorted(per_platform.items()):
        print(f"  {platform:<22} {len(files):>4} wheels "
              f"{sum(size[n] for n in files) / MiB:>8,.0f} MiB")
    pure = [n for n in size if n.endswith("-none-any.whl")]
    print(f"  {'shared pure-Python':<22} {len(pure):>4} wheels "
          f"{sum(size[n] for n in pure) / MiB:>8,.0f} MiB")
    print(f"  {'total (each file once)':<22} {len(size):>4} wheels "
          f"{sum(size.values()) / MiB:>8,.0f} MiB")


def timed(command: list[str], cwd: Path) -> float:
    environment = kit.pip_environment()
    environment.update(PIP_INDEX_URL="http://127.0.0.1:9/simple", PIP_NO_CACHE_DIR="1")
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env=environment, check=True, capture_output=True)
    return time.perf_counter() - started


def install_time(wheelhouse: Path) -> None:
    with tempfile.TemporaryDirectory(prefix="cqrs-kata-bench-") as folder:
        venv = Path(folder) / "venv"
        made = timed([sys.executable, "-m", "venv", str(venv)], Path(folder))
        python = str(venv / ("Scripts" if os.name == "nt" else "bin") / "python")
        install = timed([python, "-m", "pip", "install", "--quiet", "--no-index",
                         "--find-links", str(wheelhouse), "-c", str(wheelhouse / kit.LOCK),
                         "cqrs-kata[dev]"], Path(folder))
        editable = timed([python, "-m", "pip", "install", "--quiet", "--no-index",
                          "--find-links", str(wheelhouse), "--no-deps", "-e", str(ROOT)],
                         Path(folder))
    print(f"offline install here ({sys.platform}, Python {sys.version_info[0]}."
          f"{sys.version_info[1]}):")
    print(f"  python -m venv                 {made:>6.1f} s")
    print(f"  pip install 'cqrs-kata[dev]'   {install:>6.1f} s")
    print(f"  pip install -e . (builds it)   {editable:>6.1f} s")
    print(f"  in all                         {made + install + editable:>6.1f} s")


def main(argv: list[str]) -> int:
    folders = [a for a in argv if a != "--sizes"]
    wheelhouse = Path(folders[0] if folders else ROOT / "wheelhouse").resolve()
    if not (wheelhouse / "manifest.json").is_file():
        print(f"no wheelhouse in {wheelhouse}: make one with `make wheelhouse`", file=sys.stderr)
        return 2
    print(f"wheelhouse {wheelhouse}:")
    sizes(wheelhouse)
    if "--sizes" not in argv:
        install_time(wheelhouse)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
