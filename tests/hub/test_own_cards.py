"""Issue 14, case 2: DIA recognises its own cards by the run ids they carry and never counts them twice.

Through the CLI with real files: ``dia import`` a model's runs, ``dia card --write`` its card
in each format, then ``dia ingest`` that card (a folder, a single file, a copy under another
folder name) into the same store, another store holding some of the runs, and a fresh one.
"""

from __future__ import annotations

import getpass
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

import dia
from dia.cli.main import app
from dia.hub.formats import card_run_id, frontmatter
from dia.record.report import GPU, Energy, Hardware, Location, Quantity, RunReport
from dia.record.store import Store

FORMATS = ("hf", "dia-v0.1", "both")
MODEL = "org/m"


def _run(energy_kwh: float, *, model_id: str = MODEL, kind: str = "finetuning",
         parents: tuple[str, ...] = ("org/base:lora",)) -> RunReport:
    """A run converted by dia.footprint in France: operational + embodied carbon, on/off-site water."""
    e = Quantity.of(energy_kwh, "kWh", "measured", low=0.9 * energy_kwh, high=1.15 * energy_kwh)
    fp = dia.footprint(e, gpu_hours=4.0, gpu_name="NVIDIA A100-SXM4-40GB", country="FRA")
    run = RunReport(model_id=model_id, kind=kind, parents=list(parents), energy=Energy(it_kwh=e),
                    hardware=Hardware(gpus=[GPU(name="NVIDIA A100-SXM4-40GB", count=4)]), gpu_hours=4.0,
                    location=Location(country="FRA"), host="secret-host-42", meter="nvml")
    return fp.apply(run)


def _cli(*args: str) -> Any:
    return CliRunner().invoke(app, list(args))


def _import(tmp_path: Path, db: str, runs: list[RunReport], name: str = "r.jsonl") -> None:
    path = tmp_path / name
    path.write_text("".join(r.model_dump_json() + "\n" for r in runs), encoding="utf-8")
    result = _cli("import", str(path), "--db", db)
    assert result.exit_code == 0, result.output


def _card(db: str, path: Path, fmt: str) -> str:
    result = _cli("card", MODEL, "--write", str(path), "--format", fmt, "--db", db)
    assert result.exit_code == 0, result.output
    return path.read_text(encoding="utf-8")


def _ingest(target: Path, db: str, *extra: str) -> tuple[int, dict[str, Any], str]:
    result = _cli("ingest", str(target), "--db", db, "--json", *extra)
    return result.exit_code, json.loads(result.stdout), result.output


def _carbon(db: str) -> dict[str, float]:
    result = _cli("rollup", MODEL, "--json", "--db", db)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["carbon_kg"]


@pytest.fixture
def written(tmp_path: Path) -> Any:
    """A store with the model's two runs, and a function writing its card in a format."""
    db = f"sqlite:///{tmp_path}/own.sqlite"
    runs = [_run(20.0), _run(5.0)]
    _import(tmp_path, db, runs)

    def write(fmt: str) -> Path:
        path = tmp_path / f"out-{fmt}" / "org" / "m" / "README.md"
        _card(db, path, fmt)
        return path

    return db, runs, write


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_carries_the_ids_of_its_runs(written: Any, fmt: str) -> None:
    _db, runs, write = written
    meta = frontmatter.read(write(fmt).read_text(encoding="utf-8"), "README.md")
    ids = sorted(r.id for r in runs)
    if fmt in ("hf", "both"):
        assert meta["dia"]["runs"] == ids
    if fmt in ("dia-v0.1", "both"):
        assert meta["dia_report"]["x_dia"]["runs"] == ids
        assert meta["dia_report"]["x_dia"]["model_id"] == MODEL


@pytest.mark.parametrize("fmt", FORMATS)
def test_own_card_ingested_back_adds_nothing(written: Any, fmt: str, tmp_path: Path) -> None:
    db, runs, write = written
    card = write(fmt)
    before = _carbon(db)
    # the folder, the single file (model id from the card itself), a copy under another name
    copy = tmp_path / f"copy-{fmt}" / "someone" / "renamed" / "README.md"
    copy.parent.mkdir(parents=True)
    shutil.copy(card, copy)
    for target, where in ((card.parents[2], "org/m/README.md"), (card, "README.md"),
                          (copy.parents[2], "someone/renamed/README.md")):
        code, summary, output = _ingest(target, db)
        assert code == 0, output
        assert summary["already_tracked"] == [where], summary
        assert (summary["ingested"], summary["skipped"]) == (0, [])
    assert _carbon(db) == before
    with Store(db) as store:
        assert store.run_count() == len(runs)
        assert store.get_run(card_run_id(MODEL)) is None and store.get_run(card_run_id("someone/renamed")) is None


@pytest.mark.parametrize("fmt", FORMATS)
def test_own_card_holding_some_of_its_runs_is_refused(written: Any, fmt: str, tmp_path: Path) -> None:
    _db, runs, write = written
    card = write(fmt)
    other = f"sqlite:///{tmp_path}/partial-{fmt}.sqlite"
    _import(tmp_path, other, runs[:1], name="one.jsonl")
    before = _carbon(other)
    code, summary, _output = _ingest(card, other)
    assert code == 1
    [(skipped)] = summary["skipped"]
    assert skipped["file"] == "README.md"
    assert runs[0].id in skipped["reason"] and runs[1].id not in skipped["reason"]
    assert "twice" in skipped["reason"] and "\n" not in skipped["reason"]
    assert summary["ingested"] == 0 and summary["already_tracked"] == []
    assert _carbon(other) == before
    with Store(other) as store:
        assert store.run_count() == 1 and store.get_run(card_run_id(MODEL)) is None


@pytest.mark.parametrize("fmt", FORMATS)
def test_own_card_in_a_store_without_its_runs_is_read_like_any_card(written: Any, fmt: str, tmp_path: Path) -> None:
    _db, _runs, write = written
    card = write(fmt)
    fresh = f"sqlite:///{tmp_path}/fresh-{fmt}.sqlite"
    code, summary, output = _ingest(card, fresh)  # a single file: the model id is the card's own
    assert code == 0, output
    assert (summary["ingested"], summary["already_tracked"]) == (1, [])
    with Store(fresh) as store:
        [back] = store.list_runs()
        assert back.model_id == MODEL and back.id == card_run_id(MODEL) and back.source == "card"


def test_third_party_card_is_ingested_as_before(written: Any, tmp_path: Path) -> None:
    db, runs, _ = written
    root = tmp_path / "hub"
    for mid in (MODEL, "org/other"):  # a tracked model's Hub card too: no marker, no recognition
        path = root / mid / "README.md"
        path.parent.mkdir(parents=True)
        path.write_text("---\nco2_eq_emissions: {emissions: 1500, source: codecarbon}\n---\n", encoding="utf-8")
    code, summary, output = _ingest(root, db)
    assert code == 0, output
    assert (summary["ingested"], summary["already_tracked"]) == (2, [])
    with Store(db) as store:
        assert store.run_count() == len(runs) + 2
        card = store.get_run(card_run_id("org/other"))
        assert card is not None and card.carbon is not None and card.carbon.total_kg.value == pytest.approx(1.5)


def test_old_dia_card_with_a_run_count_falls_back_to_the_model(written: Any, tmp_path: Path) -> None:
    db, runs, write = written
    card = write("hf")
    meta = frontmatter.read(card.read_text(encoding="utf-8"), "README.md")
    meta["dia"]["runs"] = len(runs)  # as DIA wrote it before run ids
    old = tmp_path / "old" / "org" / "m" / "README.md"
    old.parent.mkdir(parents=True)
    old.write_text("---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n", encoding="utf-8")
    before = _carbon(db)
    code, summary, output = _ingest(old.parents[2], db)
    assert code == 0, output
    assert summary["already_tracked"] == ["org/m/README.md"] and summary["ingested"] == 0
    assert _carbon(db) == before
    fresh = f"sqlite:///{tmp_path}/fresh-old.sqlite"
    code, summary, output = _ingest(old.parents[2], fresh)
    assert code == 0 and summary["ingested"] == 1, output


def test_old_dia_v01_card_without_extension_falls_back_to_the_model(written: Any, tmp_path: Path) -> None:
    db, _runs, write = written
    meta = frontmatter.read(write("dia-v0.1").read_text(encoding="utf-8"), "README.md")
    del meta["dia_report"]["x_dia"]  # as DIA wrote it before: tool: dia, no run ids
    old = tmp_path / "old01" / "org" / "m" / "README.md"
    old.parent.mkdir(parents=True)
    old.write_text("---\n" + yaml.safe_dump(meta, sort_keys=False) + "---\n", encoding="utf-8")
    before = _carbon(db)
    code, summary, output = _ingest(old.parents[2], db)
    assert code == 0 and summary["already_tracked"] == ["org/m/README.md"], output
    assert _carbon(db) == before


@pytest.mark.parametrize("fmt", FORMATS)
def test_written_card_has_run_ids_but_no_private_data(written: Any, fmt: str, tmp_path: Path) -> None:
    _db, _runs, write = written
    text = write(fmt).read_text(encoding="utf-8")
    assert "secret-host-42" not in text and str(tmp_path) not in text
    user = getpass.getuser()
    if len(user) >= 3 and user not in ("root", "user"):
        assert user not in text.replace(MODEL, "")
    meta = frontmatter.read(text, "README.md")
    ids = meta["dia"]["runs"] if "dia" in meta else meta["dia_report"]["x_dia"]["runs"]
    assert ids and all(str(uuid.UUID(i)) == i for i in ids)  # bare UUIDs: nothing else rides along


@pytest.mark.parametrize("fmt", FORMATS)
def test_inferred_relation_method_does_not_break_writing(tmp_path: Path, fmt: str) -> None:
    db = f"sqlite:///{tmp_path}/q.sqlite"
    quant = _run(1.0, model_id="org/m-gguf", kind="quantization", parents=())
    _import(tmp_path, db, [quant])
    with Store(db) as store:
        store.add_edge("org/m-gguf", "org/m", "quantization", method="inferred:tag:gguf", source="card")
    path = tmp_path / "q" / "README.md"
    result = _cli("card", "org/m-gguf", "--write", str(path), "--format", fmt, "--db", db)
    assert result.exit_code == 0, result.output
    meta = frontmatter.read(path.read_text(encoding="utf-8"), "README.md")
    if fmt in ("dia-v0.1", "both"):
        assert meta["dia_report"]["lineage"] == [{"model": "org/m", "relation": "quantized"}]
    if fmt in ("hf", "both"):
        assert meta["base_model_relation"] == "quantized"
        assert meta["dia"]["parents"] == [{"model_id": "org/m", "relation": "quantization",
                                           "method": "inferred:tag:gguf"}]


def test_store_reports_which_run_ids_it_holds(written: Any) -> None:
    db, runs, _ = written
    unknown = [str(uuid.uuid4()) for _ in range(700)]  # more than one IN list's worth
    with Store(db) as store:
        assert store.stored_run_ids([*unknown[:350], runs[1].id, *unknown[350:]]) == {runs[1].id}
        assert store.stored_run_ids([]) == set()


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_card_published_beside_the_jsonl_of_its_own_runs_counts_them_once(tmp_path: Path, fmt: str) -> None:
    # "README.md" sorts before "runs.jsonl": the ingest must still read the runs first.
    source = f"sqlite:///{tmp_path}/source.sqlite"
    runs = [_run(20.0), _run(5.0)]
    _import(tmp_path, source, runs)
    folder = tmp_path / "release" / "org" / "m"
    _card(source, folder / "README.md", fmt)
    (folder / "runs.jsonl").write_text("".join(r.model_dump_json() + "\n" for r in runs), encoding="utf-8")

    fresh = f"sqlite:///{tmp_path}/fresh.sqlite"
    code, summary, output = _ingest(tmp_path / "release", fresh)
    assert code == 0, output
    assert summary["already_tracked"] == ["org/m/README.md"]
    assert _carbon(fresh) == _carbon(source)
    assert len(Store(fresh).list_runs(model_id=MODEL)) == 2
