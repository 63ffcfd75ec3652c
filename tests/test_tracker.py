"""dia.track(): context manager, decorator, phases, counters, failures, fallbacks, resume."""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

import dia
from dia.errors import DIAWarning, InvalidModelIdError, UnknownRelationError
from dia.record.store import Store
from dia.tracker import current_run, track


def _busy(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        sum(i * i for i in range(1000))


def test_context_manager_saves_a_complete_report() -> None:
    with dia.track("me/tiny", parents=["me/base:lora"], kind="finetune", country="FRA",
                   sample_interval_s=0.05) as run:
        assert current_run() is run and run.is_active
        with run.phase("train"):
            _busy(0.6)  # the first checkpoint loads the conversion tables: leave time to sample
            run.count(steps=2, samples=64, tokens=1000)
        with run.phase("eval"):
            run.count(inferences=10)
    assert current_run() is None and not run.is_active
    report = run.report
    assert report is not None and report.status.value == "completed"
    assert report.kind.value == "finetuning"
    assert [(p.model_id, p.relation.value, p.method) for p in report.parents] == [("me/base", "adapter", "lora")]
    assert report.energy.it_kwh.value > 0 and report.energy.it_kwh.quality.value == "estimated"
    assert report.energy.it_kwh.low < report.energy.it_kwh.value < report.energy.it_kwh.high
    assert report.carbon is not None and report.carbon.total_kg.value > 0
    assert report.water is not None and report.factors
    assert report.location.country == "FRA"
    assert (report.workload.steps, report.workload.samples, report.workload.tokens,
            report.workload.inferences) == (2, 64, 1000, 10)
    assert [p.name for p in report.phases] == ["train", "eval"]
    assert report.phases[0].energy_kwh is not None and report.phases[0].energy_kwh.value > 0
    assert report.power_samples, "the background thread samples power"
    assert report.duration_s is not None and report.duration_s >= 0.6
    stored = Store().get_run(run.id)
    assert stored is not None and stored.status.value == "completed"
    assert stored.energy.it_kwh == report.energy.it_kwh


def test_nested_phases_are_paths_and_snapshot_is_running() -> None:
    with track(store=False, meter="estimate") as run, run.phase("fit"), run.phase("validate"):
        snap = run.snapshot()
        assert snap.status.value == "running" and snap.carbon is not None
        assert run.elapsed_s > 0
    assert [p.name for p in run.report.phases] == ["fit/validate", "fit"]


def test_decorator_runs_each_call_as_its_own_run() -> None:
    @dia.track("me/decorated", kind="inference")
    def infer(n: int) -> int:
        dia.tracker.current_run().count(inferences=n)
        return n * 2

    assert infer(3) == 6
    first = infer.dia_run
    assert infer(4) == 8
    second = infer.dia_run
    assert first.id != second.id
    assert second.report.workload.inferences == 4
    assert Store().run_count(model_id="me/decorated") == 2


def test_user_exception_propagates_and_run_is_failed() -> None:
    class Boom(Exception):
        pass

    with pytest.raises(Boom, match="nan loss"), track("me/fails") as run:
        run.count(steps=1)
        raise Boom("nan loss")
    stored = Store().get_run(run.id)
    assert stored.status.value == "failed" and stored.workload.steps == 1
    assert any("Boom: nan loss" in n for n in stored.notes)


def test_keyboard_interrupt_is_interrupted() -> None:
    with pytest.raises(KeyboardInterrupt), track("me/ctrl-c") as run:
        raise KeyboardInterrupt
    assert Store().get_run(run.id).status.value == "interrupted"


def test_internal_error_becomes_a_warning_and_a_labelled_report(monkeypatch: pytest.MonkeyPatch) -> None:
    import dia.measure

    def broken(*a: Any, **k: Any) -> Any:
        raise RuntimeError("driver exploded")

    monkeypatch.setattr(dia.measure, "select_meters", broken)
    with pytest.warns(DIAWarning, match="driver exploded"), track("me/degraded") as run:
        value = 1 + 1
    assert value == 2
    report = Store().get_run(run.id)
    assert report.status.value == "completed" and report.extra.get("degraded") is True
    assert any(n.startswith("degraded: meter selection") for n in report.notes)
    assert report.energy.it_kwh.quality.value == "unavailable"


def test_unwritable_store_writes_a_fallback_json(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    url = f"sqlite:///{blocker}/sub/dia.sqlite"
    with pytest.warns(DIAWarning, match="dia-fallback-"), track("me/no-store", store=url) as run:
        run.count(steps=5)
    path = tmp_path / f"dia-fallback-{run.id}.json"
    data = json.loads(path.read_text())
    assert data["status"] == "completed" and data["workload"]["steps"] == 5
    assert run.report.status.value == "completed"


def test_store_none_saves_nothing_and_store_object_is_used(tmp_path: Path) -> None:
    with track("me/unsaved", store=False):
        pass
    assert Store().run_count() == 0
    other = Store(f"sqlite:///{tmp_path}/other.sqlite")
    with track("me/elsewhere", store=other) as run:
        pass
    assert other.get_run(run.id) is not None and Store().run_count() == 0


@pytest.mark.parametrize("kwargs, error", [
    ({"kind": "fine-tunning"}, UnknownRelationError),
    ({"parents": ["me/base:grafted"]}, UnknownRelationError),
    ({"parents": ["not a model id!"]}, InvalidModelIdError),
    ({"model_id": "a/b/c/d"}, InvalidModelIdError),
])
def test_bad_input_raises_before_the_code_runs(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        track(**kwargs)


def test_parent_pair_and_list_forms() -> None:
    assert [p.relation.value for p in track(parents=("me/base", "quantized")).parents] == ["quantization"]
    assert [p.model_id for p in track(parents=[("a/x", "merge"), "b/y"]).parents] == ["a/x", "b/y"]


def test_resume_continues_energy_counters_and_phases() -> None:
    with track("me/resumed", sample_interval_s=0.05) as first:
        with first.phase("epoch1"):
            _busy(0.1)
        first.count(steps=4)
    e1 = first.report.energy.it_kwh.value
    with track("me/resumed", run_id=first.id) as second:
        with second.phase("epoch2"):
            _busy(0.1)
        second.count(steps=4)
    assert second.id == first.id
    stored = Store().get_run(first.id)
    assert stored.workload.steps == 8
    assert stored.energy.it_kwh.value > e1
    assert [p.name for p in stored.phases] == ["epoch1", "epoch2"]
    assert stored.started_at == first.report.started_at
    assert stored.duration_s >= first.report.duration_s + 0.1
    assert Store().run_count(model_id="me/resumed") == 1


def test_a_run_stored_by_a_newer_dia_is_never_overwritten_by_a_resume() -> None:
    import sqlite3

    from dia.record.store import sqlite_file

    with track("me/newer", sample_interval_s=0.05) as first:
        pass
    newer = first.report.model_dump(mode="json") | {"schema_version": "2.0", "from_the_future": True}
    path = sqlite_file()
    assert path is not None
    with sqlite3.connect(path) as con:
        con.execute("UPDATE dia_runs SET report_json = ? WHERE id = ?", (json.dumps(newer), first.id))
    with track("me/newer", run_id=first.id) as second:
        pass
    assert second.id != first.id
    assert any(n.startswith(f"run {first.id} cannot be resumed (") for n in second.report.notes)
    with sqlite3.connect(path) as con:
        (stored,) = con.execute("SELECT report_json FROM dia_runs WHERE id = ?", (first.id,)).fetchone()
    assert json.loads(stored) == newer  # the newer DIA's row is untouched
    assert Store().get_run(second.id) is not None


def test_checkpoints_write_heartbeats_while_running(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIA_CHECKPOINT_S", "0.1")
    with track("me/checkpointed", sample_interval_s=0.05) as run:
        deadline = time.time() + 5
        beats = set()
        while time.time() < deadline and len(beats) < 3:
            stored = Store().get_run(run.id)
            if stored is not None:
                assert stored.status.value == "running" and stored.ended_at is None
                beats.add(stored.heartbeat_at)
            time.sleep(0.05)
        assert len(beats) >= 3
    assert Store().get_run(run.id).status.value == "completed"


def test_start_stop_api_and_idempotent_stop() -> None:
    run = track("me/manual", store=False).start()
    assert run.is_active
    report = run.stop("interrupted")
    assert report.status.value == "interrupted" and run.stop() is report
    run.report = report.model_copy(update={"extra": {"k": 1}})
    assert run.report.extra == {"k": 1}


def _dia_cache_misses() -> dict[str, int]:
    """Misses of every functools cache in DIA's loaded modules: each miss is a detection or
    a table load."""
    misses: dict[str, int] = {}
    for name, module in list(sys.modules.items()):
        if name.startswith("dia.") and module is not None:
            for attr, fn in list(vars(module).items()):
                if getattr(fn, "__module__", None) == name and hasattr(fn, "cache_clear"):
                    misses[f"{name}.{attr}"] = fn.cache_info().misses
    return misses


def test_start_stop_is_cheap_after_the_first_call() -> None:
    # Cheap means nothing is detected or loaded twice (hardware, meters, factor tables):
    # after a first run, later runs hit the caches only.
    with track(store=False):
        pass
    before = _dia_cache_misses()
    assert before, "no cached detection found in dia: the test no longer sees what it checks"
    for _ in range(10):
        with track(store=False):
            pass
    after = _dia_cache_misses()
    assert {k: after[k] - before.get(k, 0) for k in after if after[k] != before.get(k, 0)} == {}


def test_no_warning_on_a_normal_run() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", DIAWarning)
        with track("me/quiet"):
            pass


def test_track_any_block_example_runs_and_stores() -> None:
    import subprocess
    import sys

    example = Path(__file__).resolve().parents[1] / "examples" / "track_any_block.py"
    done = subprocess.run([sys.executable, str(example)], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    stored = Store().get_run(summary["run_id"])
    assert stored.status.value == "completed" and stored.workload.steps == 400
    # The decorated evaluation runs inside the training run: a window of it (a phase under
    # "eval"), never a second run measuring the same machine.
    assert [p.name for p in stored.phases] == ["epoch0", "epoch1", "eval", "eval/evaluation"]
    assert Store().run_count(model_id="me/decorated-eval") == 0


def test_tracker_saves_to_any_store_backend(store_url: str) -> None:
    with track("me/backend", store=store_url, meter="estimate") as run:
        run.count(steps=3)
    stored = Store(store_url).get_run(run.id)
    assert stored is not None and stored.workload.steps == 3 and stored.status.value == "completed"


def test_str_enum_phase_names_use_their_value() -> None:
    from enum import Enum

    class Stage(str, Enum):
        FITTING = "fit"

    with track(store=False) as run, run.phase(Stage.FITTING):  # type: ignore[arg-type]
        pass
    assert [p.name for p in run.report.phases] == ["fit"]
