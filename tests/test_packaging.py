"""Packaging: integrations/ and dashboard/ install as dia.integrations and dia.dashboard,
both from the editable install and from a built wheel; the wheel is typed (py.typed)."""

from __future__ import annotations

import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SUBPACKAGES = ("dia.integrations", "dia.dashboard")


def test_editable_install_maps_the_top_level_folders() -> None:
    import importlib

    for name, folder in zip(SUBPACKAGES, ("integrations", "dashboard"), strict=True):
        module = importlib.import_module(name)
        assert Path(module.__file__ or "").resolve().parent == ROOT / folder


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # Build from a copy so that build/ and *.egg-info never land in the working tree.
    src = tmp_path_factory.mktemp("src") / "dia"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".venv", ".git", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", ".demo", "node_modules"))
    out = tmp_path_factory.mktemp("wheel")
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                           "--no-index", "-q", "-w", str(out), str(src)],
                          capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    wheels = list(out.glob("dia-*.whl"))
    assert len(wheels) == 1
    return wheels[0]


@pytest.mark.slow
def test_wheel_contents(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "dia/py.typed" in names
    assert "dia/integrations/__init__.py" in names
    assert "dia/dashboard/__init__.py" in names
    assert "dia/record/report.py" in names
    assert not any(n.startswith(("integrations/", "dashboard/", "tests/")) for n in names)
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert "dia = dia.cli.main:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


@pytest.mark.slow
def test_wheel_installs_and_imports_in_a_fresh_venv(wheel: Path, tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # Dependencies come from the development venv through a plain path entry: its .pth
    # files (the editable install's finder among them) are not processed, so `dia`
    # can only come from the wheel.
    (site / "deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n", encoding="utf-8")
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps",
                           "--no-index", "-q", str(wheel)], capture_output=True, text=True, timeout=240)
    assert proc.returncode == 0, proc.stderr[-3000:]
    check = ("import dia, dia.integrations, dia.dashboard, dia.record.report, pathlib; "
             "print(pathlib.Path(dia.__file__).parent); print(dia.__version__)")
    out = subprocess.run([str(python), "-c", check], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    package_dir, version = out.stdout.split()
    assert Path(package_dir) == site / "dia"
    assert (site / "dia" / "py.typed").exists()
    cli = subprocess.run([str(venv / "bin" / "dia"), "--version"], capture_output=True, text=True, timeout=120)
    assert cli.returncode == 0 and cli.stdout.strip() == f"dia {version}"


def test_public_names_are_listed_and_resolvable() -> None:
    import dia

    lazy_names = set(dia._LAZY)
    assert lazy_names <= set(dia.__all__)
    assert set(dia.__all__) - lazy_names == {"__version__", "errors", "hub"}
