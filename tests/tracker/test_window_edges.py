"""Window edges: CUDA work is waited for at every edge (``sync_cuda``), short windows are flagged."""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest

import dia
import dia.measure
from dia.errors import InvalidArgumentError
from dia.measure.base import ComponentEnergy, Meter


class _FakeCuda:
    """What DIA asks of ``torch.cuda``; ``synchronize`` calls are recorded with what was open."""

    def __init__(self, events: list[str]) -> None:
        self.events = events

    def is_available(self) -> bool:
        return True

    def is_initialized(self) -> bool:
        return True

    def current_device(self) -> int:
        return 0

    def synchronize(self, device: Any = None) -> None:
        self.events.append("sync")


@pytest.fixture
def cuda_events(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    events: list[str] = []
    torch = types.ModuleType("torch")
    torch.cuda = _FakeCuda(events)  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "torch", torch)
    return events


class _ReadLog(Meter):
    """A meter that logs its reads into the same event list, to see sync-before-read."""

    def __init__(self, events: list[str], min_window_s: float = 0.0) -> None:
        super().__init__(name="logged", min_window_s=min_window_s)
        self.events = events

    def start(self) -> None:
        self.events.append("start")

    def read(self) -> list[ComponentEnergy]:
        self.events.append("read")
        return [ComponentEnergy("gpu", 1.0, 1.0, 1.0, "measured")]

    def stop(self) -> list[ComponentEnergy]:
        self.events.append("stop")
        return [ComponentEnergy("gpu", 1.0, 1.0, 1.0, "measured")]


def _use_meter(monkeypatch: pytest.MonkeyPatch, meter: Meter) -> None:
    monkeypatch.setattr(dia.measure, "select_meters", lambda *a, **k: ([meter], []))


def test_cuda_is_synchronised_at_the_run_and_phase_edges(cuda_events: list[str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    _use_meter(monkeypatch, _ReadLog(cuda_events))
    with dia.track("me/gpu", store=False, sample_interval_s=3600) as run:
        cuda_events.append("user code")
        with run.phase("train"):
            cuda_events.append("phase code")
    edges = [e for e in cuda_events if e != "read"]
    # Queued kernels are waited for before each edge's reading, as Zeus does.
    assert edges == ["sync", "start", "user code", "sync", "phase code", "sync", "sync", "stop"]


def test_sync_cuda_false_never_waits(cuda_events: list[str]) -> None:
    with dia.track("me/gpu", store=False, meter="estimate", sync_cuda=False) as run, run.phase("train"):
        pass
    assert "sync" not in cuda_events


def test_sync_cuda_must_be_a_bool() -> None:
    with pytest.raises(InvalidArgumentError, match="sync_cuda"):
        dia.track("me/gpu", store=False, sync_cuda="no")  # type: ignore[arg-type]


def test_a_window_shorter_than_the_counter_period_is_flagged(monkeypatch: pytest.MonkeyPatch) -> None:
    # A counter that updates once an hour cannot resolve any window of this test.
    _use_meter(monkeypatch, _ReadLog([], min_window_s=3600.0))
    with dia.track("me/short", store=False, sample_interval_s=3600) as run, run.phase("tiny"):
        pass
    notes = run.report.notes if run.report else []
    assert any(n.startswith("phase 'tiny' was shorter than the 3600 s the logged meter resolves") for n in notes)
    assert any(n.startswith("the run was shorter than the 3600 s the logged meter resolves") for n in notes)


def test_no_flag_when_the_meter_resolves_any_window(monkeypatch: pytest.MonkeyPatch) -> None:
    _use_meter(monkeypatch, _ReadLog([], min_window_s=0.0))
    with dia.track("me/short", store=False, sample_interval_s=3600) as run, run.phase("tiny"):
        pass
    assert run.report is not None and not any("shorter than" in n for n in run.report.notes)
