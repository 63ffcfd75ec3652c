"""The core suite on every supported Python found on this machine (``make test`` runs it).

``nox -s core`` runs, for each of Python 3.10-3.13 that it finds, the tests that need no
extra in a venv holding only ``pip install -e .`` (core dependencies: no torch, lightning,
transformers or streamlit) plus the test tools, and the doctests of ``dia/``. Tests marked
``slow`` are left to the full suite, which runs once, in ``.venv``.

Interpreters are looked up as ``python3.X`` on PATH, then under pyenv
(``~/.pyenv/versions/3.X*/bin``); a version that is missing is skipped with a message.
Venvs are reused between runs and reinstalled only when pyproject.toml or setup.py change,
so a second run costs the tests alone.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
from pathlib import Path

import nox

SUPPORTED = ["3.10", "3.11", "3.12", "3.13"]

# Tests that run with the core dependencies alone; those needing an extra skip themselves
# (pytest.importorskip). Kept as paths so a new test file in these folders joins by itself.
CORE_TESTS = [
    "tests/aggregate",
    "tests/cli",
    "tests/convert",
    "tests/hub",
    "tests/link",
    "tests/measure",
    "tests/record",
    "tests/test_python_versions.py",
    "tests/test_settings.py",
    "tests/test_tracker.py",
    "tests/test_tracker_cli.py",
    "tests/test_tracker_crash.py",
    "tests/tracker",
]
# Same lower bounds as the dev extra in pyproject.toml.
TEST_TOOLS = ["pytest>=8", "pytest-timeout>=2.2", "hypothesis>=6.100"]

ROOT = Path(__file__).resolve().parent

nox.options.sessions = ["core"]
# Reuse each venv; _install_key decides when to reinstall (``-R`` would skip that too).
nox.options.reuse_venv = "yes"
nox.options.error_on_missing_interpreters = False


def _works(python: str) -> bool:
    # A pyenv shim is on PATH for every installed version but fails for those not activated.
    try:
        return subprocess.run([python, "-c", "pass"], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


def _find(version: str) -> str | None:
    """The folder holding a working ``python3.X``, or None."""
    name = f"python{version}"
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    candidates = sorted(pyenv_root.glob(f"versions/{version}.*/bin/{name}"), reverse=True)
    on_path = shutil.which(name)
    if on_path:
        candidates.insert(0, Path(on_path))
    for candidate in candidates:
        if _works(str(candidate)):
            return str(candidate.parent)
    return None


def _found_versions() -> list[str]:
    found: list[str] = []
    for version in SUPPORTED:
        folder = _find(version)
        if folder is None:
            print(f"nox: Python {version} not found (python{version} on PATH or under pyenv): skipped")
            continue
        # nox finds an interpreter by name on PATH: put the working one first.
        os.environ["PATH"] = folder + os.pathsep + os.environ.get("PATH", "")
        found.append(version)
    return found


FOUND = _found_versions()


def _install_key() -> str:
    digest = hashlib.sha256()
    for name in ("pyproject.toml", "setup.py", "noxfile.py"):
        digest.update((ROOT / name).read_bytes())
    return digest.hexdigest()


# Missing versions are listed too: nox skips them (error_on_missing_interpreters off).
@nox.session(python=SUPPORTED)
def core(session: nox.Session) -> None:
    """The tests that need no extra, on one interpreter."""
    stamp = Path(session.virtualenv.location) / ".dia-core-installed"
    key = _install_key()
    if not stamp.exists() or stamp.read_text() != key:
        session.install("-e", ".", *TEST_TOOLS)
        stamp.write_text(key)
    args = session.posargs or ["-q", "-p", "no:cacheprovider", "-m", "not slow", *CORE_TESTS]
    session.run("python", "-m", "pytest", *args)
    if not session.posargs:
        # The docstring examples, with no extra installed (dia/ only: no test fixtures there,
        # so the store is in memory and the Hub offline).
        # Modules that need an extra (dia/demo/toy.py: torch) cannot be imported here;
        # test_every_core_module_imports fails on any other import error.
        session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "--doctest-modules",
                    "--doctest-ignore-import-errors", "dia",
                    env={"DIA_DATABASE_URL": "sqlite://", "HF_HUB_OFFLINE": "1"})
