"""The CLI writes figures as dia.show does: 2-3 significant figures, a unit scaled to the
number, the interval after an en dash, and "not disclosed" rather than 0 or "None".

Before, ``dia rollup`` printed ``6173 [3086-1.235e+04]`` and the lineage tree ``1.235e+04 kWh``.
"""

from __future__ import annotations

import re

from long_ids import BASE, LORA, run
from typer.testing import CliRunner

from dia.cli.main import app
from dia.cli.run import summary_lines
from dia.record.report import Carbon, Energy, Quantity, RunReport
from dia.record.store import Store


def _cli(*args: str) -> str:
    result = CliRunner().invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


def test_lineage_tree_scales_each_node_s_figures(long_ids_db: str) -> None:
    # the tree wraps long labels at 80 columns: read it as one line of words
    out = re.sub(r"[\s│├└─]+", " ", _cli("lineage", LORA, "--db", long_ids_db))
    # BASE: 12,345.678 kWh, 6,172.8 kg CO2e, 24,691 L; LORA: 0.00123 kWh, 0.000615 kg, 0.00246 L
    assert "12.3 MWh, 6.17 t CO2e, 24.7 m³" in out
    assert "1.23 Wh, 615 mg CO2e, 2.46 mL" in out or "1.23 Wh, 614 mg CO2e, 2.46 mL" in out
    assert "e+" not in out and "e-0" not in out


def test_rollup_states_its_coverage_and_a_partial_carbon(tmp_path: str) -> None:
    url = f"sqlite:///{tmp_path}/partial.db"
    with Store(url) as store:
        store.save_run(run(BASE, 10.0, [], 0))
        # a child that reported energy but no carbon: "not disclosed", never 0
        store.save_run(RunReport(model_id=LORA, kind="finetuning", parents=[{"model_id": BASE, "relation": "adapter"}],
                                 energy=Energy(it_kwh=Quantity.of(2.0, "kWh", "reported"))))
    out = _cli("rollup", BASE, "--db", url)
    assert "energy  12 kWh (11–13)" in out  # 10 (9-11) + 2 kWh
    assert "carbon  5 kg CO2e (2.5–10) (disclosed by 1 of" in out
    assert "not disclosed" in out  # the child's carbon column
    assert "members reported" in out


def test_rollup_of_estimates_says_so_not_disclosed(tmp_path: str) -> None:
    url = f"sqlite:///{tmp_path}/estimates.db"
    kg = Quantity.of(3.0, "kgCO2e", "estimated", low=1.0, high=9.0)
    with Store(url) as store:
        store.save_run(RunReport(model_id=BASE, kind="pretraining",
                                 energy=Energy(it_kwh=Quantity.of(10.0, "kWh", "estimated")),
                                 carbon=Carbon(operational_kg=kg, total_kg=kg)))
    out = _cli("rollup", BASE, "--db", url)
    assert "the member reported; 1 of 1 member has an estimate (no measurement or report)" in out
    assert "disclosed a footprint" not in out
    assert "carbon by quality: estimated 3 kg CO2e" in out


def test_dia_run_summary_uses_the_formatter() -> None:
    kwh = Quantity.of(0.0125, "kWh", "estimated", low=0.01, high=0.015)
    report = RunReport(model_id="me/x", kind="finetuning", energy=Energy(it_kwh=kwh))
    lines = summary_lines(report)
    assert "energy     12.5 Wh (10–15)  (estimated)" in lines
    assert "carbon     -" in lines  # not converted: nothing to show, and no "None"
