"""Validation = storage: what the store would refuse, the report model refuses first.

Every case is run as a user meets it: a report file through ``dia validate`` and ``dia
import`` (they must agree), and a report stored on SQLite and on PostgreSQL. Also:
booleans are not numbers, figures are finite and bounded, and reports of a newer schema
version are read (minor) or refused in one line (major).
"""

from __future__ import annotations

import json
import math
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dia.cli.main import app
from dia.constants import SCHEMA_VERSION
from dia.errors import InvalidReportError, UnsupportedSchemaError
from dia.record import limits
from dia.record.report import RunReport, parse_report
from dia.record.store import Store
from dia.record.tables import EdgeRow, ModelRow, RunRow


def _record(**fields: Any) -> dict[str, Any]:
    """A valid report as JSON data; ``fields`` replace or add top-level fields."""
    data: dict[str, Any] = {
        "id": str(uuid.uuid4()), "model_id": "org/limits", "kind": "finetuning",
        "energy": {"it_kwh": {"value": 1.0, "unit": "kWh", "quality": "measured"}},
        "carbon": {"operational_kg": {"value": 0.5, "unit": "kgCO2e", "quality": "estimated"},
                   "total_kg": {"value": 0.5, "unit": "kgCO2e", "quality": "estimated"}},
    }
    data.update(fields)
    return data


def _energy(value: Any) -> dict[str, Any]:
    return {"it_kwh": {"value": value, "unit": "kWh", "quality": "measured"}}


def _write(path: Path, records: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    return path


def _dia(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def _stored_ids(url: str) -> set[str]:
    with Store(url) as store:
        return {r.id for r in store.list_runs(limit=None)}


def _validate_and_import(tmp_path: Path, url: str, bad: dict[str, Any], field: str) -> None:
    """A file of good, bad, good: both commands refuse the bad record naming ``field``,
    exit 1 and never a traceback; ``import`` stores the two good ones."""
    good = [_record(), _record()]
    before = _stored_ids(url)
    path = _write(tmp_path / "runs.jsonl", [good[0], bad, good[1]])

    checked = _dia("validate", str(path))
    assert checked.exit_code == 1, checked.output
    assert f"runs.jsonl: record 2 (line 2): {field}" in checked.output
    assert "Traceback" not in checked.output
    assert checked.exception is None or isinstance(checked.exception, SystemExit)

    imported = _dia("import", str(path), "--db", url)
    assert imported.exit_code == 1, imported.output
    lines = [line for line in imported.output.splitlines() if "record 2" in line]
    assert len(lines) == 1 and f"record 2 (line 2): {field}" in lines[0], imported.output
    assert "Traceback" not in imported.output
    assert _stored_ids(url) == before | {good[0]["id"], good[1]["id"]}


# --- one set of limits --------------------------------------------------------------------

# Each text column the store constrains, and the report field that fills it.
_TEXT_FIELDS = {
    "country": (lambda text: {"location": {"country": text}}, "location.country"),
    "run_group": (lambda text: {"run_group": text}, "run_group"),
    "host": (lambda text: {"host": text}, "host"),
    "source": (lambda text: {"source": text}, "source"),
    "method": (lambda text: {"parents": [{"model_id": "org/base", "relation": "adapter", "method": text}]},
               "parents.0.method"),
}


def test_the_validators_use_the_column_lengths() -> None:
    # Written once: the columns' lengths are the limits the validators check.
    columns = {**{c.name: c for c in RunRow.__table__.columns},  # type: ignore[attr-defined]
               "method": EdgeRow.__table__.columns["method"]}  # type: ignore[attr-defined]
    schema = RunReport.model_json_schema()
    defs = schema["$defs"]

    def max_length(prop: dict[str, Any]) -> int:
        return next(a["maxLength"] for a in prop.get("anyOf", [prop]) if "maxLength" in a)

    validated = {
        "country": max_length(defs["Location"]["properties"]["country"]),
        "run_group": max_length(schema["properties"]["run_group"]),
        "host": max_length(schema["properties"]["host"]),
        "source": max_length(schema["properties"]["source"]),
        "method": max_length(defs["Parent"]["properties"]["method"]),
    }
    for name, length in validated.items():
        assert columns[name].type.length == length, name
    # Every other bounded text column is filled by an enum, a UUID or a model id, all shorter.
    assert ModelRow.__table__.columns["id"].type.length == limits.MODEL_ID_LENGTH  # type: ignore[attr-defined]
    with pytest.raises(InvalidReportError, match="model_id"):
        parse_report(_record(model_id="o" * 97 + "/" + "n" * 97))


@pytest.mark.parametrize("column", sorted(_TEXT_FIELDS))
def test_text_at_the_column_length_is_stored_and_longer_is_refused(column: str, store_url: str,
                                                                  tmp_path: Path) -> None:
    make, field = _TEXT_FIELDS[column]
    length = {"country": limits.COUNTRY_LENGTH, "run_group": limits.RUN_GROUP_LENGTH,
              "host": limits.HOST_LENGTH, "source": limits.SOURCE_LENGTH,
              "method": limits.METHOD_LENGTH}[column]
    fits = _record(**make("A" * length))
    with Store(store_url) as store:  # PostgreSQL enforces VARCHAR(n): the longest text fits
        store.save_run(parse_report(fits))
    assert fits["id"] in _stored_ids(store_url)

    too_long = _record(**make("A" * (length + 1)))
    _validate_and_import(tmp_path, store_url, too_long, f"{field}: String should have at most {length} characters")
    assert too_long["id"] not in _stored_ids(store_url)


def test_a_torchrun_run_group_is_refused_by_validation_naming_the_field() -> None:
    run_group = f"torchelastic:llama3-70b-instruct-sft-{uuid.uuid4()}-node01"
    assert len(run_group) > limits.RUN_GROUP_LENGTH
    with pytest.raises(InvalidReportError, match=r"^runs.jsonl: record 1: run_group: String should have at most 64"):
        parse_report(_record(run_group=run_group), where="runs.jsonl: record 1")


@pytest.mark.parametrize("pid", [2**31, 2**32 + 7, limits.PID_MAX])
def test_a_pid_beyond_int32_is_stored_and_kept(pid: int, store_url: str) -> None:
    # PostgreSQL's INTEGER column refused it, and the whole batch with it.
    data = _record(pid=pid, host="elsewhere")
    with Store(store_url) as store:
        store.save_runs([parse_report(data), parse_report(_record())])
        stored = store.get_run(data["id"])
    assert stored is not None and stored.pid == pid


@pytest.mark.parametrize(("field", "value"), [("pid", 2**63), ("rank", 2**31), ("rank", 2**63),
                                              ("world_size", 2**31), ("pid", -1)])
def test_integers_beyond_the_store_are_refused_by_validate_and_import(field: str, value: int, store_url: str,
                                                                      tmp_path: Path) -> None:
    # `dia validate` said valid, then `dia import` stopped half-way.
    _validate_and_import(tmp_path, store_url, _record(**{field: value}), f"{field}: ")


@pytest.mark.parametrize("where", ["workload", "hardware"])
def test_counters_beyond_int64_are_refused_naming_the_field(where: str) -> None:
    data = (_record(workload={"tokens": 2**63}) if where == "workload"
            else _record(hardware={"gpus": [{"name": "H100", "count": 2**64}]}))
    field = "workload.tokens" if where == "workload" else "hardware.gpus.0.count"
    with pytest.raises(InvalidReportError, match=rf"^{field}: Input should be less than or equal to 9223372036854775807"):
        parse_report(data)


def test_a_5000_digit_integer_is_one_line() -> None:
    text = json.dumps(_record()).replace('"kind"', '"rank": 1' + "0" * 5000 + ', "kind"')
    with pytest.raises(InvalidReportError) as err:
        parse_report(text, where="big.json")
    message = str(err.value)
    assert message.startswith("big.json: not valid JSON") and "\n" not in message and len(message) < 300
    # Given as a Python int (json module limits lifted), it is still refused in one short line.
    with pytest.raises(InvalidReportError) as err:
        parse_report(_record(rank=10**5000), where="big.json")
    assert str(err.value).startswith("big.json: rank: Input should be less than or equal to")
    assert len(str(err.value)) < 300


def test_deep_nesting_is_one_line() -> None:
    text = '{"extra": ' + "[" * 100_000 + "]" * 100_000 + "}"
    with pytest.raises(InvalidReportError, match=r"^deep.json: "):
        parse_report(text, where="deep.json")


# --- numbers ------------------------------------------------------------------------------

@pytest.mark.parametrize(("data", "field"), [
    (_record(energy=_energy(True)), "energy.it_kwh.value: must be a number, not a boolean (got true)"),
    (_record(energy={"it_kwh": {"value": 1.0, "low": False, "unit": "kWh", "quality": "measured"}}),
     "energy.it_kwh.low: must be a number, not a boolean (got false)"),
    (_record(rank=True), "rank: must be a number, not a boolean (got true)"),
    (_record(workload={"tokens": True}), "workload.tokens: must be a number, not a boolean"),
    (_record(duration_s=True), "duration_s: must be a number, not a boolean"),
])
def test_booleans_are_not_numbers(data: dict[str, Any], field: str, tmp_path: Path) -> None:
    # `"value": true` was stored as 1 kWh.
    with pytest.raises(InvalidReportError) as err:
        parse_report(data)
    assert str(err.value) == field or str(err.value).startswith(field)
    _validate_and_import(tmp_path, f"sqlite:///{tmp_path / 's.sqlite'}", data, field.split(":")[0] + ":")


@pytest.mark.parametrize(("data", "field"), [
    (_record(energy=_energy(1e308)), "energy.it_kwh: value must be at most 1e+12 kWh per run (got 1e+308)"),
    (_record(energy={"it_kwh": {"value": 1.0, "high": 1e13, "unit": "kWh", "quality": "measured"}}),
     "energy.it_kwh: high must be at most 1e+12 kWh per run"),
    (_record(carbon={"operational_kg": {"value": 1e300, "unit": "kgCO2e", "quality": "estimated"},
                     "total_kg": {"value": 1e300, "unit": "kgCO2e", "quality": "estimated"}}),
     "carbon.operational_kg: value must be at most 1e+14 kgCO2e per run"),
    (_record(duration_s=1e308), "duration_s: Input should be less than or equal to"),
    (_record(gpu_hours="inf"), "gpu_hours: Input should be a finite number"),
    (_record(power_samples=[{"t_s": 0, "power_w": 1e300}]), "power_samples.0.power_w: Input should be less than"),
    (_record(factors=[{"name": "pue", "value": 1e300, "low": 1, "high": 1e300, "unit": "", "source": "x",
                       "granularity": "default"}]), "factors.0.value: Input should be less than or equal to"),
])
def test_figures_of_absurd_magnitude_are_refused(data: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidReportError) as err:
        parse_report(data, where="runs.jsonl: record 1")
    assert str(err.value).startswith(f"runs.jsonl: record 1: {field}"), str(err.value)


def test_a_rollup_over_imported_runs_is_valid_json(tmp_path: Path) -> None:
    # 1e308 validated, then `dia rollup --json` printed Infinity (not JSON).
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    huge = [_record(model_id="org/big", energy=_energy(1e308)) for _ in range(2)]
    largest = [_record(model_id="org/big", energy=_energy(limits.MAX_ENERGY_KWH)) for _ in range(3)]
    path = _write(tmp_path / "runs.jsonl", [*huge, *largest])
    imported = _dia("import", str(path), "--db", url)
    assert imported.exit_code == 1 and imported.output.count("value must be at most 1e+12 kWh") == 2
    assert _stored_ids(url) == {r["id"] for r in largest}

    rolled = _dia("rollup", "org/big", "--json", "--db", url)
    assert rolled.exit_code == 0, rolled.output
    assert "Infinity" not in rolled.output and "NaN" not in rolled.output

    def strict(token: str) -> float:
        raise AssertionError(f"not JSON: {token}")

    data = json.loads(rolled.stdout, parse_constant=strict)
    numbers: list[float] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
        elif isinstance(node, float):
            numbers.append(node)

    walk(data)
    assert numbers and all(math.isfinite(x) for x in numbers)
    assert max(numbers) >= 3 * limits.MAX_ENERGY_KWH * 0.999  # the three stored runs were summed


# --- schemas from the future --------------------------------------------------------------

def _future(version: str) -> dict[str, Any]:
    """A report of a later minor version: a new top-level field, a new field in a quantity
    and one in the hardware block."""
    data = _record(schema_version=version, carbon_budget={"team": "nlp", "kg": 10})
    data["energy"]["it_kwh"]["meter_serial"] = "X1"
    data["hardware"] = {"gpus": [{"name": "H100", "count": 8, "mig_profile": "1g.10gb"}]}
    return data


@pytest.mark.parametrize("version", ["1.1", "1.7", "1.10"])
def test_a_newer_minor_version_is_read_and_its_unknown_fields_kept(version: str) -> None:
    data = _future(version)
    report = parse_report(data)
    assert report.schema_version == version
    assert report.energy.it_kwh.value == 1.0 and report.hardware.gpu_count == 8
    dumped = json.loads(report.model_dump_json())
    assert dumped["carbon_budget"] == {"team": "nlp", "kg": 10}
    assert dumped["energy"]["it_kwh"]["meter_serial"] == "X1"
    assert dumped["hardware"]["gpus"][0]["mig_profile"] == "1g.10gb"
    assert RunReport.model_validate_json(report.model_dump_json()) == report


def test_unknown_fields_are_still_refused_in_a_report_of_this_version() -> None:
    data = _future(SCHEMA_VERSION)
    with pytest.raises(InvalidReportError) as err:
        parse_report(data)
    assert "Extra inputs are not permitted" in str(err.value) and str(err.value).endswith("(and 2 more)")
    # Reading a newer report does not leave the model tolerant.
    parse_report(_future("1.1"))
    with pytest.raises(InvalidReportError, match="carbon_budget: Extra inputs are not permitted"):
        parse_report({**_record(), "carbon_budget": 1})


def test_a_newer_minor_version_in_the_store_is_listed_shown_and_exported(tmp_path: Path) -> None:
    # One stored row with schema_version "1.1" broke `dia runs`, `dia show` and `dia export`.
    url = f"sqlite:///{tmp_path / 's.sqlite'}"
    data = _future("1.1")
    with Store(url) as store:
        store.save_run(parse_report(data))

    listed = _dia("runs", "--db", url, "--json")
    assert listed.exit_code == 0, listed.output
    assert [json.loads(line)["id"] for line in listed.stdout.splitlines()] == [data["id"]]

    shown = _dia("show", data["id"], "--db", url)
    assert shown.exit_code == 0 and "org/limits" in shown.output, shown.output

    out = tmp_path / "backup.jsonl"
    exported = _dia("export", "--output", str(out), "--db", url)
    assert exported.exit_code == 0, exported.output
    (row,) = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert row["schema_version"] == "1.1" and row["carbon_budget"] == {"team": "nlp", "kg": 10}
    assert row["energy"]["it_kwh"]["meter_serial"] == "X1"

    # The backup restores into another store, unknown fields and all.
    copy = f"sqlite:///{tmp_path / 'copy.sqlite'}"
    assert _dia("validate", str(out)).exit_code == 0
    restored = _dia("import", str(out), "--db", copy)
    assert restored.exit_code == 0, restored.output
    with Store(copy) as store:
        again = store.get_run(data["id"])
    assert again is not None and json.loads(again.model_dump_json())["carbon_budget"] == {"team": "nlp", "kg": 10}


def test_a_newer_major_version_is_refused_in_one_line() -> None:
    with pytest.raises(UnsupportedSchemaError) as err:
        parse_report(_record(schema_version="2.0"), where="runs.jsonl: record 4")
    assert str(err.value) == ("runs.jsonl: record 4: schema_version '2.0' is newer than this DIA reads (1.x): "
                              "upgrade DIA to read it")
    # The model raises it too (not a ValueError, so pydantic passes it through): a reader
    # of the store can tell a report too new from a malformed one.
    with pytest.raises(UnsupportedSchemaError):
        RunReport.model_validate_json(json.dumps(_record(schema_version="2.0")))


@pytest.mark.parametrize(("version", "reason"), [
    ("0.9", "schema_version: '0.9' is older than any DIA wrote"),
    ("1", "schema_version: must be 'MAJOR.MINOR'"),
    (1.0, "schema_version: must be 'MAJOR.MINOR'"),
    ("1.0.1", "schema_version: must be 'MAJOR.MINOR'"),
    ("v1.0", "schema_version: must be 'MAJOR.MINOR'"),
])
def test_older_or_malformed_versions_are_refused_in_one_line(version: Any, reason: str) -> None:
    with pytest.raises(InvalidReportError) as err:
        parse_report(_record(schema_version=version))
    assert str(err.value).startswith(reason) and "\n" not in str(err.value)


def test_validate_and_import_agree_on_a_newer_major_version(tmp_path: Path) -> None:
    _validate_and_import(tmp_path, f"sqlite:///{tmp_path / 's.sqlite'}", _record(schema_version="2.0"),
                         "schema_version '2.0' is newer than this DIA reads")


# --- settings -------------------------------------------------------------------------------

@pytest.mark.parametrize("value", ["nan", "inf", "1e300"])
def test_an_unusable_checkpoint_interval_is_one_line_before_the_command_runs(value: str, tmp_path: Path,
                                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    marker = tmp_path / "ran"
    monkeypatch.setenv("DIA_CHECKPOINT_S", value)
    result = _dia("run", "--model", "org/x", "--db", f"sqlite:///{tmp_path / 's.sqlite'}", "--",
                  sys.executable, "-c", f"open({str(marker)!r}, 'w').close()")
    assert result.exit_code == 2  # refused before the command runs, like a bad option
    assert result.output.strip() == (f"error: DIA_CHECKPOINT_S={value!r}: expected a number of seconds above 0 "
                                     "and at most 86400")
    assert not marker.exists()
