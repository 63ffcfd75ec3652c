"""CI runs `make test` and nothing else, and a pytest run that collects nothing fails."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_ci_runs_make_test_only() -> None:
    commands = [line.strip() for line in (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
                if line.strip() and not line.lstrip().startswith("#")]
    assert commands[-1] == "make test"
    assert all(c.startswith(("set ", "cd ")) for c in commands[:-1])


def test_make_test_runs_lint_types_and_pytest_under_postgres() -> None:
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    recipe = makefile.split("\ntest:", 1)[1].split("\n\n", 1)[0]
    assert "lint typecheck" in recipe
    assert "tests/support/with-postgres.sh $(BIN)/python -m pytest" in recipe
    assert "|| true" not in recipe and "-" not in [line.strip()[:1] for line in recipe.splitlines()]


@pytest.mark.slow
def test_no_tests_collected_is_a_failure(tmp_path: Path) -> None:
    # The wrapper must hand pytest's exit status through: 5 ("no tests ran") is not success.
    (tmp_path / "test_nothing.py").write_text("# no tests here\n", encoding="utf-8")
    proc = subprocess.run(["bash", str(ROOT / "tests" / "support" / "with-postgres.sh"), sys.executable, "-m",
                           "pytest", "-q", "-p", "no:cacheprovider", "--rootdir", str(tmp_path), str(tmp_path)],
                          capture_output=True, text=True, timeout=180, cwd=tmp_path)
    assert proc.returncode == 5, proc.stdout[-2000:] + proc.stderr[-2000:]
