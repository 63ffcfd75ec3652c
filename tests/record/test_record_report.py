"""The run report model: validation messages name the field; normalisation; the schema file."""

from __future__ import annotations

import json
import math
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from factories import report_dict
from pydantic import ValidationError

from dia.errors import InvalidReportError
from dia.link.relations import Relation
from dia.record.report import (
    Quantity,
    RunKind,
    RunReport,
    parse_report,
    schema_json,
    validation_problems,
)

ROOT = Path(__file__).resolve().parents[2]
SCHEMA_FILE = ROOT / "schemas" / "dia-run-report-1.0.schema.json"


_report_dict = report_dict


def _problems(data: dict[str, object]) -> list[str]:
    with pytest.raises(ValidationError) as info:
        RunReport.model_validate(data)
    return validation_problems(info.value)


def test_negative_figure_names_the_field() -> None:
    assert _problems(_report_dict(low=-1.0)) == ["energy.it_kwh.low: must not be negative (got -1.0)"]


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf])
def test_nan_and_infinity_are_rejected_once(bad: float) -> None:
    # low and high default to value; a bad value must not be reported three times.
    problems = _problems(_report_dict(value=bad))
    assert len(problems) == 1
    assert problems[0].startswith("energy.it_kwh.value: must be a finite number")


def test_nan_in_json_text_is_rejected() -> None:
    text = '{"energy": {"it_kwh": {"value": 1.0, "high": NaN, "unit": "kWh", "quality": "measured"}}}'
    with pytest.raises(InvalidReportError, match=r"^r\.json: energy\.it_kwh\.high: must be a finite number"):
        parse_report(text, where="r.json")


def test_interval_order_is_checked() -> None:
    assert _problems(_report_dict(value=1.0, low=2.0)) == ["energy.it_kwh: low (2.0) is greater than value (1.0)"]
    assert _problems(_report_dict(value=3.0, high=2.0)) == ["energy.it_kwh: value (3.0) is greater than high (2.0)"]
    # Float rounding from endpoint arithmetic is tolerated.
    q = Quantity(value=0.3, low=0.1 + 0.2, high=0.3, unit="kWh", quality="measured")
    assert q.low == pytest.approx(0.3)


def test_low_and_high_default_to_value() -> None:
    q = Quantity.model_validate({"value": 2.5, "unit": "kWh", "quality": "sampled"})
    assert (q.low, q.value, q.high) == (2.5, 2.5, 2.5)


def test_wrong_unit_is_rejected_and_spellings_are_normalised() -> None:
    assert _problems(_report_dict(unit="Wh")) == ["energy.it_kwh: unit must be kWh (got 'Wh')"]
    report = RunReport.model_validate({
        "energy": {"it_kwh": {"value": 1.0, "unit": "kwh", "quality": "measured"}},
        "water": {k: {"value": 1.0, "unit": "litres", "quality": "estimated"} for k in ("onsite_l", "offsite_l", "total_l")},
    })
    assert report.energy.it_kwh.unit == "kWh"
    assert report.water is not None and report.water.total_l.unit == "L"


def test_all_problems_of_a_record_are_listed() -> None:
    data = _report_dict(value=-2.0)
    data["kind"] = "finetune"
    data["duration_s"] = -5
    data["bogus"] = 1
    problems = _problems(data)
    assert "energy.it_kwh.value: must not be negative (got -2.0)" in problems
    assert any(p.startswith("duration_s: Input should be greater than or equal to 0") and "(got -5)" in p for p in problems)
    assert any(p.startswith("bogus: Extra inputs are not permitted") for p in problems)


def test_parse_report_gives_one_line_with_where() -> None:
    with pytest.raises(InvalidReportError) as info:
        parse_report(_report_dict(value=-1.0), where="runs.jsonl: record 3")
    assert str(info.value) == "runs.jsonl: record 3: energy.it_kwh.value: must not be negative (got -1.0)"
    with pytest.raises(InvalidReportError, match="not valid JSON"):
        parse_report("{oops", where="x.json")
    with pytest.raises(InvalidReportError, match="expected a JSON object, got list"):
        parse_report("[1, 2]")


def test_datetimes_must_be_timezone_aware_and_become_utc() -> None:
    naive = datetime(2025, 1, 1, 12, 0)
    problems = _problems({**_report_dict(), "started_at": naive.isoformat()})
    assert problems == ["started_at: must be timezone-aware (UTC)"]
    paris = timezone(timedelta(hours=1))
    report = RunReport.model_validate({**_report_dict(), "started_at": datetime(2025, 1, 1, 13, 0, tzinfo=paris)})
    assert report.started_at == datetime(2025, 1, 1, 12, 0, tzinfo=timezone.utc)
    assert report.started_at.utcoffset() == timedelta(0)
    assert '"started_at":"2025-01-01T12:00:00Z"' in report.model_dump_json()


def test_end_before_start_is_rejected() -> None:
    problems = _problems({**_report_dict(), "started_at": "2025-01-02T00:00:00Z", "ended_at": "2025-01-01T00:00:00Z"})
    assert problems == ["report: ended_at is before started_at"]


def test_parents_are_normalised() -> None:
    report = RunReport.model_validate({
        **_report_dict(),
        "model_id": "me/adapter",
        "parents": ["org/base:lora", ("org/other", "quantized"), {"model_id": "org/third", "relation": "sft"},
                    "org/base:finetune"],
    })
    got = [(p.model_id, p.relation, p.method) for p in report.parents]
    assert got == [
        ("org/base", Relation.ADAPTER, "lora"),
        ("org/other", Relation.QUANTIZATION, None),
        ("org/third", Relation.INSTRUCTION_TUNING, None),
    ]  # the duplicate org/base is dropped, the first relation kept
    plain = RunReport.model_validate({**_report_dict(), "parents": "org/base"})
    assert [(p.model_id, p.relation) for p in plain.parents] == [("org/base", Relation.FINETUNE)]


def test_bad_parents_and_model_ids_name_the_field() -> None:
    assert _problems({**_report_dict(), "parents": [{"model_id": "org/base", "relation": "frobnicate"}]})[0].startswith(
        "parents.0: unknown relation 'frobnicate'")
    assert _problems({**_report_dict(), "model_id": "not a model id"})[0].startswith("model_id: 'not a model id' is not a model id")
    self_loop = _problems({**_report_dict(), "model_id": "org/a", "parents": ["org/a"]})
    assert "self-loop" in self_loop[0]


def test_kind_aliases() -> None:
    assert RunReport.model_validate({**_report_dict(), "kind": "fine-tune"}).kind is RunKind.FINETUNING
    assert _problems({**_report_dict(), "kind": "trainign"})[0].startswith("kind: unknown run kind 'trainign'")


def test_intensities_from_counters() -> None:
    report = RunReport.model_validate({
        "energy": {"it_kwh": {"value": 2.0, "low": 1.0, "high": 4.0, "unit": "kWh", "quality": "sampled"}},
        "workload": {"inferences": 4000, "tokens": 1_000_000},
    })
    wh = report.intensities.wh_per_1000_inferences
    jt = report.intensities.j_per_token
    assert wh is not None and jt is not None
    # 2 kWh = 2000 Wh over 4 x 1000 inferences = 500 Wh per 1000; interval scales alike.
    assert (wh.value, wh.low, wh.high) == pytest.approx((500.0, 250.0, 1000.0))
    # 2 kWh = 7.2e6 J over 1e6 tokens = 7.2 J/token.
    assert jt.value == pytest.approx(7.2)
    assert jt.quality.value == "sampled"
    assert RunReport.model_validate(_report_dict()).intensities.j_per_token is None


def test_json_round_trip_is_stable() -> None:
    report = RunReport.model_validate({**_report_dict(), "started_at": "2025-01-01T00:00:00Z",
                                       "workload": {"tokens": 10}})
    again = RunReport.model_validate_json(report.model_dump_json())
    assert again == report
    assert again.model_dump_json() == report.model_dump_json()


def test_schema_file_is_up_to_date() -> None:
    stored = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    assert stored == schema_json(), (
        f"{SCHEMA_FILE.relative_to(ROOT)} is out of date: regenerate it with "
        "`dia schema > schemas/dia-run-report-1.0.schema.json`"
    )
    assert stored["properties"]["schema_version"]["const"] == "1.0"


def test_reports_validate_against_the_published_schema() -> None:
    jsonschema = pytest.importorskip("jsonschema")
    schema = json.loads(SCHEMA_FILE.read_text(encoding="utf-8"))
    report = RunReport.model_validate({**_report_dict(), "parents": ["org/base:lora"], "workload": {"tokens": 5}})
    jsonschema.validate(json.loads(report.model_dump_json()), schema)
    bad = json.loads(report.model_dump_json())
    bad["kind"] = "not-a-kind"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


@pytest.mark.parametrize("module", ["dia.record.report", "dia.record.store", "dia.record.files"])
def test_docstring_examples(module: str) -> None:
    import doctest
    import importlib

    result = doctest.testmod(importlib.import_module(module))
    assert result.attempted > 0 and result.failed == 0
