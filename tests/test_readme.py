"""The README's commands are the ones that exist (and the Makefile's recipes are in it)."""

from __future__ import annotations

import importlib.util
import re
from pathlib import Path

from cqrs_kata.course.tracked import course_files
from cqrs_kata.learner import cli

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")
MAKEFILE = (ROOT / "Makefile").read_text(encoding="utf-8")


def _shell_lines() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", README, flags=re.S)
    return [line.split("#")[0].strip() for b in blocks for line in b.splitlines()]


def _recipe(target: str) -> list[str]:
    body = re.search(rf"^{target}:.*\n((?:\t.*\n)+)", MAKEFILE, flags=re.M)
    assert body, f"the Makefile has no target {target!r}"
    lines = [line.strip().lstrip("@") for line in body.group(1).splitlines()]
    return [line.replace("$(BIN)/", ".venv/bin/") for line in lines]


def test_readme_gives_exactly_make_lab_and_make_test() -> None:
    made = [line for line in _shell_lines() if line.startswith("make")]
    assert made == ["make lab", "make test"]
    for target in ("lab", "test"):
        assert re.search(rf"^{target}:", MAKEFILE, flags=re.M)


def test_the_plain_pip_route_runs_what_make_runs() -> None:
    lines = _shell_lines()
    recipes = _recipe("lint") + _recipe("typecheck") + _recipe("checks")
    lab = _recipe("lab")[0].replace(" $(LAB_FLAGS)", "")
    recipes.append(lab.replace("$(FIRST_NOTEBOOK)", "notebooks/00-how-the-kata-works.ipynb"))
    install = next(r for r in _recipe(r"\$\(STAMP\)") if "pip install" in r)
    lock = re.search(r"^LOCK := (.+)$", MAKEFILE, flags=re.M)
    assert lock, "the Makefile names its lock file"
    # The README's route is the online one: FROM_WHEELHOUSE is empty unless WHEELHOUSE is set.
    install = install.replace(" --quiet --disable-pip-version-check", "")
    recipes.append(install.replace(" $(FROM_WHEELHOUSE)", "").replace("$(LOCK)", lock[1]))
    for command in recipes:
        assert command in lines, f"README's pip route lacks `{command}` (from the Makefile)"


def test_every_module_the_readme_runs_exists() -> None:
    modules = {m for line in _shell_lines() for m in re.findall(r"python3? -m ([\w.]+)", line)}
    assert "cqrs_kata.dev.lint" in modules
    for module in modules:
        assert importlib.util.find_spec(module), f"the README runs `-m {module}`: no such module"


def test_every_cqrs_kata_command_in_the_readme_exists() -> None:
    subcommands = {a for a in cli._parser()._subparsers._group_actions[0].choices}  # type: ignore[union-attr]
    used = {m for line in _shell_lines() for m in re.findall(r"^cqrs-kata ([\w-]+)", line)}
    used |= set(re.findall(r"`cqrs-kata ([\w-]+)", README))
    assert used, "the README should show the learner's commands"
    assert used <= subcommands, f"not commands: {used - subcommands}"


def test_first_notebook_exists() -> None:
    assert "notebooks/00-how-the-kata-works.ipynb" in course_files(ROOT).notebooks()
    assert "FIRST_NOTEBOOK := notebooks/00-how-the-kata-works.ipynb" in MAKEFILE
