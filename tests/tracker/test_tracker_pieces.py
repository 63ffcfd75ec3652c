"""The tracker's pieces on their own: the sampler, the recorder, the report builder."""

from __future__ import annotations

import json
import threading
import time
import warnings
from pathlib import Path

import pytest

from dia.measure.base import ComponentEnergy, DIAWarning, Meter
from dia.measure.distributed import RankInfo
from dia.record.report import RunReport, RunStatus
from dia.record.store import Store
from dia.tracker._build import RunSnapshot, build_report, minimal_report
from dia.tracker._recorder import Recorder
from dia.tracker._sampler import Sampler


class SteadyMeter(Meter):
    """A CPU meter drawing ``watts`` since start (wall clock)."""

    def __init__(self, watts: float = 100.0) -> None:
        super().__init__(name="steady")
        self.watts, self.t0, self.samples = watts, 0.0, 0

    def start(self) -> None:
        self.t0 = time.perf_counter()

    def sample(self) -> None:
        self.samples += 1

    def read(self) -> list[ComponentEnergy]:
        j = self.watts * (time.perf_counter() - self.t0)
        return [ComponentEnergy("cpu", j, j * 0.9, j * 1.1, "estimated")]


class BrokenMeter(Meter):
    def __init__(self, fail_on: str) -> None:
        super().__init__(name="broken")
        self.fail_on = fail_on

    def start(self) -> None:
        if self.fail_on == "start":
            raise RuntimeError("no device")

    def read(self) -> list[ComponentEnergy]:
        if self.fail_on == "read":
            raise RuntimeError("counter lost")
        return []


def _sampler(checkpoints: list[float], failures: list[str], **kw: float) -> Sampler:
    return Sampler(interval_s=kw.get("interval_s", 0.01), checkpoint_s=kw.get("checkpoint_s", 0.05),
                   degrade=lambda where, exc: failures.append(where),
                   checkpoint=lambda: checkpoints.append(time.perf_counter()))


def test_sampler_keeps_a_power_trace_and_checkpoints() -> None:
    checkpoints: list[float] = []
    failures: list[str] = []
    sampler = _sampler(checkpoints, failures)
    meter = SteadyMeter(watts=100.0)
    sampler.open([meter])
    sampler.start(time.perf_counter(), offset_s=10.0)
    deadline = time.monotonic() + 10
    while (len(checkpoints) < 2 or len(sampler.power()) < 3) and time.monotonic() < deadline:
        time.sleep(0.01)
    final = sampler.stop()
    assert failures == []
    assert len(checkpoints) >= 2 and meter.samples >= 3
    power = sampler.power()
    assert all(p.t_s >= 10.0 for p in power)  # timed after the earlier sessions of a resumed run
    assert all(p.power_w == pytest.approx(100.0, rel=0.5) for p in power)
    assert final and final[0].component == "cpu"
    n = len(power)
    time.sleep(0.05)
    assert len(sampler.power()) == n  # the thread is gone


def test_sampler_leaves_out_failed_meters_and_reports_read_failures() -> None:
    failures: list[str] = []
    sampler = _sampler([], failures)
    good, broken = SteadyMeter(), BrokenMeter("start")
    sampler.open([good, broken])
    assert sampler.meters == [good] and failures == ["meter broken"]
    reader = _sampler([], failures)
    reader.open([BrokenMeter("read")])
    assert reader.readings() is None and failures[-1] == "meter broken"


def test_sampler_keeps_an_earlier_trace_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    from dia.record.report import PowerSample
    from dia.tracker import _sampler

    monkeypatch.setattr(_sampler, "MAX_POWER_SAMPLES", 10)
    sampler = _sampler.Sampler(interval_s=1, checkpoint_s=1, degrade=lambda w, e: None, checkpoint=lambda: None)
    sampler.open([], power=[PowerSample(t_s=float(i), power_w=1.0) for i in range(10)])
    sampler._record_power(0.0, 2.0)
    assert len(sampler.power()) == 6  # every other sample dropped, the trace still spans the run
    assert sampler.power()[0].t_s == 0.0


def _report(run_id: str = "00000000-0000-4000-8000-000000000001") -> RunReport:
    return minimal_report(RunSnapshot(id=run_id, model_id="me/tiny"), RunStatus.COMPLETED)


def test_recorder_saves_to_the_store_and_reads_back(tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path / 'a.db'}") as store:
        recorder = Recorder(store)
        recorder.open()
        recorder.save(_report("00000000-0000-4000-8000-000000000001"))
        previous = recorder.previous("00000000-0000-4000-8000-000000000001")
        assert previous is not None and previous.model_id == "me/tiny"
        assert recorder.previous("00000000-0000-4000-8000-0000000000ff") is None


def test_recorder_with_store_false_saves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    recorder = Recorder(False)
    recorder.open()
    recorder.save(_report())
    assert recorder.store is None and list(tmp_path.iterdir()) == []


def test_recorder_falls_back_to_a_file_warning_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)

    class FailingStore(Store):
        def save_run(self, report: RunReport) -> None:
            raise OSError("disk full")

    store = FailingStore(f"sqlite:///{tmp_path / 'b.db'}")
    recorder = Recorder(store)
    recorder.open()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        recorder.save(_report("00000000-0000-4000-8000-000000000002"))
        recorder.save(_report("00000000-0000-4000-8000-000000000002"))
    assert [w.category for w in caught] == [DIAWarning]
    assert "disk full" in str(caught[0].message)
    assert recorder.fallback_path == tmp_path / "dia-fallback-00000000-0000-4000-8000-000000000002.json"
    assert json.loads(recorder.fallback_path.read_text())["id"] == "00000000-0000-4000-8000-000000000002"
    store.close()


def test_recorder_notes_a_store_that_cannot_be_opened(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    recorder = Recorder("nosuchdriver://x/y")
    recorder.open()
    assert recorder.store is None and recorder.notes and "store could not be opened" in recorder.notes[0]
    with pytest.warns(DIAWarning, match="cannot be opened"):
        recorder.save(_report("00000000-0000-4000-8000-000000000003"))
    assert (tmp_path / "dia-fallback-00000000-0000-4000-8000-000000000003.json").exists()


def test_report_builder_turns_a_snapshot_into_a_report() -> None:
    snap = RunSnapshot(id="00000000-0000-4000-8000-000000000004", model_id="me/tiny", elapsed_s=3600.0, counts={"steps": 3, "tokens": 0},
                       rank=RankInfo(rank=1, world_size=2, local_rank=1, run_group="g"), run_group="g",
                       location={"country": "FRA"}, notes=["hello"])
    readings = [ComponentEnergy("cpu", 3.6e6, 3.0e6, 4.0e6, "estimated")]
    report = build_report(snap, RunStatus.RUNNING, readings, ended=False, degrade=lambda w, e: "x")
    assert report.energy.it_kwh.value == pytest.approx(1.0)
    assert (report.rank, report.world_size, report.run_group) == (1, 2, "g")
    assert report.workload.steps == 3 and report.workload.tokens is None
    assert report.ended_at is None and report.status is RunStatus.RUNNING
    assert report.location.country == "FRA" and report.carbon is not None
    assert "hello" in report.notes and "degraded" not in report.extra


def test_report_builder_degrades_a_failed_conversion(monkeypatch: pytest.MonkeyPatch) -> None:
    from dia.tracker import _build

    def boom(report: RunReport, options: object) -> RunReport:
        raise RuntimeError("no factors")

    monkeypatch.setattr(_build, "convert", boom)
    seen: list[str] = []

    def degrade(where: str, exc: BaseException) -> str:
        seen.append(where)
        return f"degraded: {where}"

    report = build_report(RunSnapshot(id="00000000-0000-4000-8000-000000000005"), RunStatus.COMPLETED, [], ended=True, degrade=degrade)
    assert seen == ["conversion to carbon and water"]
    assert report.extra["degraded"] is True and "degraded: conversion to carbon and water" in report.notes
    assert report.energy.it_kwh.quality.value == "unavailable"


def test_count_from_threads_while_sampling() -> None:
    import dia

    with dia.track("me/tiny", store=False, meter="estimate", sample_interval_s=0.01) as run:
        threads = [threading.Thread(target=lambda: [run.count(steps=1) for _ in range(1000)]) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    assert run.report is not None and run.report.workload.steps == 4000


def test_a_rank_whose_only_gpu_never_answers_is_unavailable_not_measured_zero() -> None:
    # A rank that leaves the host to local rank 0 and whose GPU gives no reading at all
    # did not measure 0 J: its energy is unknown.
    from dia.measure.base import GPUInfo, Meter
    from dia.measure.distributed import RankInfo

    silent = Meter(name="nvml", gpus=[GPUInfo(index=1, name="NVIDIA A100-SXM4-40GB", method="unavailable")])
    rank = RankInfo(rank=1, world_size=2, local_rank=1, local_world_size=2, run_group="g")
    snap = RunSnapshot(id="00000000-0000-4000-8000-000000000016", rank=rank, meters=[silent], host_skipped=True)
    report = build_report(snap, RunStatus.COMPLETED, [], ended=True, degrade=lambda w, e: "x")
    assert report.energy.it_kwh.quality.value == "unavailable"
    assert not any("counted by other ranks" in n for n in report.notes)
    counted_elsewhere = RunSnapshot(id="00000000-0000-4000-8000-000000000017", rank=rank, meters=[], host_skipped=True)
    report = build_report(counted_elsewhere, RunStatus.COMPLETED, [], ended=True, degrade=lambda w, e: "x")
    assert report.energy.it_kwh.quality.value == "measured"
