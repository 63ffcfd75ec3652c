"""Terminal safety: card and report text is printed verbatim by every listing command,
never read as Rich markup (no injected hyperlink, no eaten ``[low, high]``)."""

from __future__ import annotations

import io
import json
from datetime import timedelta
from pathlib import Path

import pytest
from factories import T0, quantity, run_report
from typer.testing import CliRunner

from dia.cli.main import app
from dia.record.report import GPU, Factor, Hardware, Parent, Phase, RunReport
from dia.record.store import Store

LINK_ID = "org/[link=https://evil.example]y"
NOTES = ("interval [low, high]", "[bold red]alarm[/]", "[link=https://evil.example]click[/link]")
GPU_NAME = "A100 [link=https://evil.example]x[/link]"
SOURCE = "[b]Ember[/b] yearly data"
PHASE = "[i]warmup[/i]"
# What a console with markup on would print instead (the tag eaten, or an OSC 8 hyperlink).
OSC8 = "\x1b]8;"


@pytest.fixture
def hostile(tmp_path: Path) -> tuple[str, RunReport]:
    url = f"sqlite:///{tmp_path}/markup.sqlite"
    report = run_report(
        "org/base", energy_kwh=2.0, carbon_kg=(1.0, 0.5, 2.0), notes=list(NOTES),
        hardware=Hardware(gpus=[GPU(name=GPU_NAME)]), run_group="[red]grp",
        parents=[Parent(model_id="org/root", relation="adapter", method="[i]lora")],
        factors=[Factor(name="carbon_intensity", value=0.5, low=0.25, high=1.0, unit="kgCO2e/kWh", source=SOURCE,
                        granularity="country", key="[u]FRA")],
        phases=[Phase(name=PHASE, started_at=T0, ended_at=T0 + timedelta(minutes=5), duration_s=300.0,
                      energy_kwh=quantity(0.5, "kWh"))],
    )
    with Store(url) as store:
        store.save_runs([report])
        store.add_edge(LINK_ID, "org/base", "finetune")
    return url, report


def _out(*args: str) -> str:
    result = CliRunner().invoke(app, list(args), env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert OSC8 not in result.output
    return result.output


def test_runs_and_show_print_report_text_verbatim(hostile: tuple[str, RunReport]) -> None:
    url, report = hostile
    assert "org/base" in _out("runs", "--db", url)
    shown = _out("show", report.id, "--db", url)
    for text in (*NOTES, GPU_NAME, SOURCE, PHASE, "[red]grp", "[i]lora", "[u]FRA"):
        assert text in shown, text


def test_lineage_and_rollup_print_model_ids_verbatim(hostile: tuple[str, RunReport]) -> None:
    url, _ = hostile
    for args in (("lineage", "org/base"), ("lineage", LINK_ID), ("rollup", "org/base"), ("rollup", LINK_ID)):
        assert LINK_ID in _out(*args, "--db", url), args


def test_validate_prints_problems_verbatim(tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"model_id": LINK_ID, "energy": {"it_kwh": {"value": 1.0, "unit": "kWh",
                                                                          "quality": "[low, high]"}}}) + "\n",
                   encoding="utf-8")
    result = CliRunner().invoke(app, ["validate", str(bad)], env={"COLUMNS": "200"})
    assert result.exit_code == 1
    assert OSC8 not in result.output and "[low, high]" in result.output


def test_print_table_is_verbatim_on_any_console() -> None:
    """A table printed on a console with markup on (Rich's default): cells, headers and the
    title stay text."""
    from rich.console import Console
    from rich.table import Table

    from dia.cli.tables import id_column, number_column, print_table

    table = Table(title="Factors for [link=https://evil.example]here[/link]")
    id_column(table)
    number_column(table, "[low, high]")
    table.add_row(LINK_ID, "1 [0.5-2]")
    out = Console(width=100, file=io.StringIO(), force_terminal=True, color_system="truecolor")
    print_table(table, out=out)
    printed = out.file.getvalue()
    assert OSC8 not in printed
    plain = Console(width=100, file=io.StringIO(), record=True)
    print_table(table, out=plain)
    text = plain.export_text()
    for expected in (LINK_ID, "[low, high]", "1 [0.5-2]", "[link=https://evil.example]here[/link]"):
        assert expected in text, expected
