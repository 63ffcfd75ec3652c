"""``make test`` runs the core suite on each Python 3.10-3.13 found (nox) and the doctests."""

from __future__ import annotations

import importlib.util
import os
import stat
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def noxfile() -> ModuleType:
    pytest.importorskip("nox")  # the dev extra installs it; the core nox venvs do not
    spec = importlib.util.spec_from_file_location("dia_noxfile", ROOT / "noxfile.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    path = os.environ.get("PATH", "")
    try:
        spec.loader.exec_module(module)
    finally:
        os.environ["PATH"] = path  # the noxfile puts found interpreters first on PATH
    return module


def test_make_test_runs_nox_core_and_the_doctests() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "$(BIN)/nox -s core" in recipe
    assert "--doctest-modules dia" in recipe


def test_core_sessions_cover_every_supported_python(noxfile: ModuleType) -> None:
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    classifiers = {line.split(":: ")[-1].strip('", ') for line in pyproject.splitlines()
                   if "Programming Language :: Python :: 3." in line}
    assert set(noxfile.SUPPORTED) == classifiers


def test_core_test_paths_exist_and_need_no_extra(noxfile: ModuleType) -> None:
    for path in noxfile.CORE_TESTS:
        assert (ROOT / path).exists(), path
    # Folders whose tests need torch, lightning, transformers or streamlit stay out.
    assert not any(p.startswith(("tests/integrations", "tests/dashboard")) for p in noxfile.CORE_TESTS)


def test_the_running_interpreter_is_found(noxfile: ModuleType) -> None:
    version = f"{sys.version_info[0]}.{sys.version_info[1]}"
    folder = noxfile._find(version)
    if folder is None:
        pytest.skip(f"python{version} is not on PATH nor under pyenv here")
    assert (Path(folder) / f"python{version}").exists()


def test_a_broken_shim_is_skipped(noxfile: ModuleType, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # pyenv puts a python3.X shim on PATH for every installed version; it fails for the
    # versions not activated, and must not be taken for an interpreter.
    shim = tmp_path / "python3.99"
    shim.write_text("#!/bin/sh\necho 'pyenv: python3.99: command not found' >&2\nexit 127\n")
    shim.chmod(shim.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.setenv("PYENV_ROOT", str(tmp_path / "no-pyenv"))
    assert noxfile._find("3.99") is None
