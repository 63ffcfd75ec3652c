"""Errors and warnings live in dia.errors; the CLI prints them on one line, markup off."""

from __future__ import annotations

import sys
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from dia.cli.main import app

MARKUP = "[bold]x[/bold]"


def _invoke(*args: str) -> object:
    return CliRunner().invoke(app, list(args))


def test_dia_warning_lives_in_dia_errors_and_old_import_still_works() -> None:
    import dia.errors
    import dia.measure
    import dia.measure.base

    assert dia.measure.base.DIAWarning is dia.errors.DIAWarning is dia.measure.DIAWarning
    assert issubclass(dia.errors.DIAWarning, UserWarning)
    with pytest.warns(dia.errors.DIAWarning):
        warnings.warn("degraded", dia.errors.DIAWarning, stacklevel=1)


def test_invalid_argument_error_is_a_value_error_with_usage_exit_code() -> None:
    from dia.errors import DIAError, InvalidArgumentError

    err = InvalidArgumentError("bad")
    assert isinstance(err, DIAError) and isinstance(err, ValueError) and err.exit_code == 2


def test_markup_in_an_error_message_is_shown_verbatim(long_ids_db: str) -> None:
    result = _invoke("rollup", MARKUP, "--db", long_ids_db)
    assert result.exit_code != 0
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and MARKUP in lines[0], result.output


def test_missing_streamlit_message_keeps_the_extra(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "streamlit", None)  # `import streamlit` raises ImportError
    result = _invoke("dashboard", "--db", f"sqlite:///{tmp_path / 's.db'}", "--no-browser")
    assert result.exit_code == 1
    assert result.output.strip() == "error: the dashboard needs Streamlit: pip install 'dia[dashboard]'"


def test_dashboard_serve_is_library_code_that_raises(monkeypatch: pytest.MonkeyPatch) -> None:
    import dia.dashboard

    from dia.errors import DashboardError

    monkeypatch.setitem(sys.modules, "streamlit", None)
    with pytest.raises(DashboardError, match=r"pip install 'dia\[dashboard\]'"):
        dia.dashboard.serve("sqlite://", block=False)
    assert dia.dashboard.app_path().name == "app.py"


def test_dashboard_package_does_not_import_the_cli() -> None:
    source = (Path(__file__).resolve().parents[2] / "dashboard")
    for path in source.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "dia.cli" not in text and "typer" not in text, path


def test_ingest_messages_show_file_names_with_brackets(tmp_path: Path) -> None:
    card = tmp_path / "org" / "m[dashboard]" / "README.md"
    card.parent.mkdir(parents=True)
    card.write_text("---\nco2_eq_emissions: [unclosed\n---\n# card\n", encoding="utf-8")
    result = _invoke("ingest", str(tmp_path), "--db", f"sqlite:///{tmp_path / 's.db'}")
    assert result.exit_code == 1
    assert "m[dashboard]" in result.output, result.output


def test_no_command_shows_a_traceback_for_a_dia_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from dia.errors import StoreError

    def boom(*_args: object, **_kwargs: object) -> None:
        raise StoreError(f"cannot open {MARKUP}\nsecond line")

    monkeypatch.setattr("dia.cli.records._open_for_reading", boom)
    result = _invoke("runs")
    assert result.exit_code == 1
    assert result.output == f"error: cannot open {MARKUP}\n"
