"""The tracker never breaks the user's code.

Bad arguments are refused with a DIAError before the user's code runs; once it has run,
every failure inside DIA (store, report builder, a deleted store file) ends in a
DIAWarning plus a saved report or a fallback file, and notes carry no secret or path.
"""

from __future__ import annotations

import json
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import dia
from dia.cli.main import app
from dia.errors import DIAError, DIAWarning
from dia.measure.distributed import MAX_RUN_GROUP_CHARS, detect_rank
from dia.record.store import Store
from dia.tracker import _build

SECRET = "S3cretPassw0rd"


def _url(tmp_path: Path, name: str = "runs.sqlite") -> str:
    return f"sqlite:///{tmp_path}/{name}"


def _fallbacks(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(p.read_text(encoding="utf-8")) for p in sorted(folder.glob("dia-fallback-*.json"))]


# -- refused before the user's code runs ---------------------------------------------


@pytest.mark.parametrize("kwargs", [
    {"parents": ["org/self:lora"]},                  # the model as its own parent, with a relation
    {"parents": [{"model_id": "org/self", "relation": "merge"}]},
    {"run_id": "not-a-uuid"},                        # the report's id would be refused at the end
    {"run_group": "g" * (MAX_RUN_GROUP_CHARS + 1)},  # longer than the store's column
    {"checkpoint_s": float("nan")},
    {"checkpoint_s": 0},
    {"sample_interval_s": float("inf")},
    {"pue": -1.0},                                   # the conversion would refuse it at the end
    {"carbon_intensity": float("nan")},
    {"wue": "a lot"},
    {"store": 42},
    {"meter": "bogus"},
    {"kind": "grafting"},
    {"parents": ["org/base:grafted"]},
])
def test_bad_arguments_are_refused_before_the_block_runs(kwargs: dict[str, Any], tmp_path: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    url = _url(tmp_path)
    kwargs = {"store": url, **kwargs}
    ran = []
    with pytest.raises(DIAError) as caught, dia.track("org/self", **kwargs):
        ran.append(True)
    assert ran == []
    assert "\n" not in str(caught.value)
    assert not Path(url.removeprefix("sqlite:///")).exists() or Store(url).run_count() == 0
    assert _fallbacks(tmp_path) == []


def test_dia_run_refuses_a_self_parent_before_running_the_command(tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    marker = tmp_path / "ran"
    result = CliRunner().invoke(app, ["run", "--model", "org/self", "--parent", "org/self", "--",
                                      sys.executable, "-c", f"open({str(marker)!r}, 'w')"])
    assert result.exit_code == 2
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "org/self" in lines[0] and "self-loop" in lines[0]
    assert not marker.exists()
    assert Store().run_count() == 0


def test_dia_run_refuses_a_bad_factor_with_exit_2(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIA_CHECKPOINT_S", "nan")
    result = CliRunner().invoke(app, ["run", "--model", "org/m", "--", sys.executable, "-c", "pass"])
    assert result.exit_code == 2 and "DIA_CHECKPOINT_S" in result.output
    assert len(result.output.strip().splitlines()) == 1


# -- after the user's code: warnings, never exceptions ---------------------------------


def _store_write_fails(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    detail = f"disk I/O error writing {tmp_path}/deep/secret-token.db (password={SECRET})"

    def fail(self: Store, report: Any) -> None:
        raise OSError(detail)

    monkeypatch.setattr(Store, "save_run", fail)


def test_a_failing_store_leaves_a_fallback_file_and_the_block_ends_normally(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _store_write_fails(monkeypatch, tmp_path)
    with pytest.warns(DIAWarning, match="fallback"), dia.track("org/m", store=_url(tmp_path), meter="estimate") as run:
        result = 6 * 7
    assert result == 42 and run.report is not None and run.report.status.value == "completed"
    (saved,) = _fallbacks(tmp_path)
    assert saved["id"] == run.id and saved["status"] == "completed"
    note = next(n for n in saved["notes"] if "fallback" in n)
    assert f"dia-fallback-{run.id}.json" in note
    assert str(tmp_path) not in note, note
    assert SECRET not in note  # redacted, yet says why
    assert "secret-token.db" in note


def test_the_users_exception_propagates_unchanged_when_dia_fails_too(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _store_write_fails(monkeypatch, tmp_path)
    with pytest.warns(DIAWarning), pytest.raises(ZeroDivisionError), dia.track("org/m", store=_url(tmp_path), meter="estimate"):
        1 / 0  # noqa: B018
    (saved,) = _fallbacks(tmp_path)
    assert saved["status"] == "failed" and any(n.startswith("ZeroDivisionError") for n in saved["notes"])


def test_a_failing_report_builder_still_saves_a_labelled_report(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError(f"bug reading {tmp_path}/x.json")

    monkeypatch.setattr(_build, "build_report", broken)
    url = _url(tmp_path)
    with pytest.warns(DIAWarning, match="degraded"), dia.track("org/m", store=url, meter="estimate") as run:
        pass
    stored = Store(url).get_run(run.id)
    assert stored is not None and stored.status.value == "completed"
    assert stored.extra.get("degraded") is True and stored.energy.it_kwh.quality.value == "unavailable"
    assert not any(str(tmp_path) in n for n in stored.notes)


def test_even_a_failing_minimal_report_ends_in_a_saved_report(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(_build, "build_report", broken)
    monkeypatch.setattr(_build, "minimal_report", broken)
    url = _url(tmp_path)
    monkeypatch.chdir(tmp_path)
    with pytest.warns(DIAWarning), dia.track("org/m", store=url, meter="estimate") as run:
        pass
    assert run.report is not None and run.report.status.value == "completed"
    stored = Store(url).get_run(run.id)
    saved = stored.model_dump(mode="json") if stored is not None else _fallbacks(tmp_path)[0]
    assert saved["id"] == run.id and saved["extra"]["degraded"] is True


def test_a_phase_the_report_refuses_is_left_out_not_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    from dia.tracker import _phase

    def refused(**kwargs: Any) -> Any:
        raise ValueError("name: too long")

    monkeypatch.setattr(_phase, "Phase", refused)
    with pytest.warns(DIAWarning, match="phase"), dia.track("org/m", store=False, meter="estimate") as run, \
            run.phase("x" * 500):
        pass
    assert run.report is not None and run.report.phases == []


def test_dia_run_returns_the_commands_exit_code_when_the_store_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    _store_write_fails(monkeypatch, tmp_path)
    result = CliRunner().invoke(app, ["run", "--model", "org/m", "--meter", "estimate", "--",
                                      sys.executable, "-c", "import sys; sys.exit(3)"])
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    assert any(line.startswith("warning: ") and "fallback" in line for line in result.output.splitlines())
    (saved,) = _fallbacks(tmp_path)
    assert saved["status"] == "failed"


# -- the store disappears mid-run ------------------------------------------------------


def test_a_store_file_deleted_mid_run_is_recreated_and_said_so(tmp_path: Path) -> None:
    url = _url(tmp_path)
    path = tmp_path / "runs.sqlite"
    with dia.track("org/first", store=url, meter="estimate"):
        pass
    with pytest.warns(DIAWarning, match="deleted during the run"), dia.track("org/m", store=url, meter="estimate") as run:
        path.unlink()  # the user (or a cleanup job) removes the store
    assert run.report is not None and run.report.status.value == "completed"
    assert path.exists()
    stored = Store(url).get_run(run.id)  # a fresh reader: the run is really on disk
    assert stored is not None and stored.status.value == "completed"
    assert any("deleted during the run" in n and "new store" in n for n in stored.notes)
    assert not any(str(tmp_path) in n for n in stored.notes)
    # Later runs of the process land in the recreated file too, without a new warning.
    with dia.track("org/later", store=url, meter="estimate") as later:
        pass
    assert Store(url).get_run(later.id) is not None


def test_a_store_file_deleted_between_runs_is_recreated_at_the_next_run(tmp_path: Path) -> None:
    url = _url(tmp_path)
    with dia.track("org/first", store=url, meter="estimate"):
        pass
    (tmp_path / "runs.sqlite").unlink()
    with pytest.warns(DIAWarning, match="deleted during the run"), dia.track("org/second", store=url, meter="estimate") as run:
        pass
    assert [r.id for r in Store(url).list_runs()] == [run.id]


def test_a_store_that_cannot_be_recreated_falls_back_to_a_file(tmp_path: Path,
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    folder = tmp_path / "db"
    url = f"sqlite:///{folder}/runs.sqlite"
    with pytest.warns(DIAWarning) as caught, dia.track("org/m", store=url, meter="estimate") as run:
        (folder / "runs.sqlite").unlink()
        for leftover in folder.iterdir():
            leftover.unlink()
        folder.rmdir()
        folder.write_text("a file where the store's folder was")  # no store can be made there
    assert any("fallback" in str(w.message) for w in caught)
    (saved,) = _fallbacks(tmp_path)
    assert saved["id"] == run.id and saved["status"] == "completed"
    assert any("could not be recreated" in n for n in saved["notes"])


# -- places, secrets, launchers ------------------------------------------------------------


@pytest.mark.parametrize("how", ["env", "argument"])
def test_an_unknown_country_falls_back_to_the_world_default(how: str, tmp_path: Path,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    kwargs: dict[str, Any] = {}
    if how == "env":
        monkeypatch.setenv("DIA_COUNTRY", "XXX")
    else:
        kwargs["country"] = "XXX"
    url = _url(tmp_path)
    with dia.track("org/m", store=url, meter="estimate", **kwargs) as run:
        pass
    stored = Store(url).get_run(run.id)
    assert stored is not None and stored.carbon is not None and stored.water is not None
    assert stored.location.resolved_level == "world"
    assert any("unknown country 'XXX'" in n for n in stored.notes)


def test_a_password_in_the_store_url_never_reaches_the_notes(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    # Port 1 on the loopback: refused at once, no network reached.
    url = f"postgresql://u@127.0.0.1:1/db?password={SECRET}"
    with pytest.warns(DIAWarning, match="fallback"), dia.track("org/m", store=url, meter="estimate") as run:
        pass
    assert run.report is not None and not any(SECRET in n for n in run.report.notes)
    (path,) = tmp_path.glob("dia-fallback-*.json")
    assert SECRET not in path.read_text(encoding="utf-8")


def test_the_users_exception_note_has_no_local_path_or_environment_value(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    token = "hf_" + uuid.uuid4().hex
    monkeypatch.setenv("HF_TOKEN", token)
    url = _url(tmp_path)
    with pytest.raises(FileNotFoundError), dia.track("org/m", store=url, meter="estimate") as run:
        raise FileNotFoundError(f"{tmp_path}/private/{token}.bin not found")
    stored = Store(url).get_run(run.id)
    assert stored is not None and stored.status.value == "failed"
    (note,) = [n for n in stored.notes if n.startswith("FileNotFoundError")]
    assert str(tmp_path) not in note and token not in note and "not found" in note


def test_a_long_torchelastic_run_id_gives_one_group_that_fits_the_store(store_url: str) -> None:
    run_id = f"llama3-70b-sft-{uuid.uuid4()}-node01"
    envs = [{"RANK": str(r), "WORLD_SIZE": "16", "LOCAL_RANK": str(r % 8), "LOCAL_WORLD_SIZE": "8",
             "TORCHELASTIC_RUN_ID": run_id} for r in range(16)]
    groups = {detect_rank(env).run_group for env in envs}
    (group,) = groups  # every rank agrees, without talking
    assert group is not None and len(group) <= MAX_RUN_GROUP_CHARS
    assert group.startswith("torchelastic-llama3-70b-sft")  # still readable
    other = detect_rank({**envs[0], "TORCHELASTIC_RUN_ID": run_id.replace("node01", "node02")}).run_group
    assert other != group  # the hash covers the whole id
    with pytest.MonkeyPatch.context() as mp:
        for key, value in envs[3].items():
            mp.setenv(key, value)
        with dia.track("org/big", store=store_url, meter="estimate") as run:
            pass
    stored = Store(store_url).get_run(run.id)  # saved, on PostgreSQL too (run_group is 64 chars there)
    assert stored is not None and stored.run_group == group and stored.rank == 3


def test_a_callbacks_end_of_training_never_raises_when_the_store_fails(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from dia.integrations._common import CallbackCore

    monkeypatch.chdir(tmp_path)
    core = CallbackCore("me/tuned", meter="estimate", forecast_after_steps=1, store=_url(tmp_path))
    core.start(world_size=1)
    core.count(steps=1, samples=8)
    forecast = core.maybe_forecast(steps_done=1, epoch_ended=False, steps_planned=lambda: 10)
    assert forecast is not None
    _store_write_fails(monkeypatch, tmp_path)
    with pytest.warns(DIAWarning, match="fallback"):
        report = core.finish("completed")  # on_train_end: must not raise into the Trainer
    assert report is not None and report.extra["forecast"] == forecast.as_dict()
    (saved,) = _fallbacks(tmp_path)  # the forecast went where the run went
    assert saved["extra"]["forecast"] == forecast.as_dict() and saved["workload"]["samples"] == 8


def test_a_warning_turned_into_an_error_comes_after_the_report_is_saved(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import warnings

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("bug")

    monkeypatch.setattr(_build, "build_report", broken)
    url = _url(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error", DIAWarning)  # the user asked: DIA's warnings raise
        with pytest.raises(DIAWarning), dia.track("org/m", store=url, meter="estimate") as run:
            pass
    stored = Store(url).get_run(run.id)
    assert stored is not None and stored.status.value == "completed" and stored.extra["degraded"] is True
