"""Nested runs: a run started inside another run is a window of it, counted once.

On main, ``dia run -- python train.py`` with ``dia.track`` inside (or a DIA callback inside
a user's ``with dia.track()``) stored two runs that both measured the whole machine: 2x.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from dia.integrations._common import CallbackCore, store_forecast

import dia
from dia import settings
from dia.record.store import Store

FAKES = Path(__file__).resolve().parents[1] / "measure"
sys.path.insert(0, str(FAKES))

from measure_fakes import FakeGPU, FakeNVML  # noqa: E402

GPU_W = 300.0


@pytest.fixture(autouse=True)
def _no_outer_run(monkeypatch: pytest.MonkeyPatch) -> None:
    # The suite itself may run under `dia run`: these tests decide what the outer run is.
    monkeypatch.delenv(settings.ENV_OUTER_RUN, raising=False)
    monkeypatch.delenv(settings.ENV_WINDOWS_DIR, raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/runs.sqlite"


@pytest.fixture
def gpu_clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """One fake GPU at 300 W whose energy counter follows a clock the test moves."""
    import dia.measure.gpu.nvidia as nvidia

    now = [0.0]
    fake = FakeNVML([FakeGPU(uuid="GPU-0000", power_w=GPU_W)], clock=lambda: now[0], advancing=True)
    monkeypatch.setattr(nvidia, "load_nvml", lambda: fake)
    return now


# -- in one process ----------------------------------------------------------------------------


def test_inner_track_is_a_window_of_the_outer_run_and_the_gpu_is_counted_once(
        tmp_path: Path, gpu_clock: list[float]) -> None:
    url = _url(tmp_path)
    outer = dia.track(store=url, meter="nvml").start()  # no model id: the window gives it
    gpu_clock[0] = 10.0
    with dia.track("me/inner", parents=["org/base:lora"], kind="finetuning", store=url, meter="nvml") as inner:
        inner.count(steps=3, samples=24)
        with inner.phase("evaluate"):
            gpu_clock[0] = 15.0
        gpu_clock[0] = 20.0
    gpu_clock[0] = 30.0
    outer.stop()

    stored = Store(url).list_runs()
    assert [r.id for r in stored] == [outer.id]  # one run, not two measuring the same GPU
    (run,) = stored
    # Each joule once: the GPU drew 300 W for the outer's 30 s, the window's 10 s included.
    assert run.energy.gpu_kwh is not None
    assert run.energy.gpu_kwh.value * 3.6e6 == pytest.approx(GPU_W * 30.0)
    assert sum(r.energy.it_kwh.value for r in stored) == pytest.approx(outer.report.energy.it_kwh.value)
    phases = {p.name: p for p in run.phases}
    assert set(phases) == {"finetuning", "finetuning/evaluate"}
    window_kwh = phases["finetuning"].energy_kwh
    assert window_kwh is not None and window_kwh.value * 3.6e6 >= GPU_W * 10.0
    assert run.model_id == "me/inner" and run.kind.value == "finetuning"
    assert [(p.model_id, p.relation.value) for p in run.parents] == [("org/base", "adapter")]
    assert run.workload.steps == 3 and run.workload.samples == 24
    assert any("measured as windows of it" in n for n in run.notes)
    # The window's own report is returned to the user's code, labelled, never stored.
    assert inner.report is not None and inner.report.extra["window_of"] == outer.id
    assert f"measured as a window of run {outer.id}: counted there, once" in inner.report.notes


def test_the_outer_run_keeps_its_own_identity_and_counters(tmp_path: Path) -> None:
    url = _url(tmp_path)
    with dia.track("me/outer", kind="pretraining", store=url, meter="estimate") as outer:
        outer.count(steps=7)
        with outer.phase("eval"), dia.track("me/eval", kind="evaluation", store=url, meter="estimate") as inner:
            inner.count(steps=2, inferences=5)
    (run,) = Store(url).list_runs()
    assert (run.model_id, run.kind.value) == ("me/outer", "pretraining")
    assert run.workload.steps == 7  # counted by the outer itself: the window's 2 are not added
    assert run.workload.inferences == 5  # not counted by the outer: the window's
    assert [p.name for p in run.phases] == ["eval", "eval/evaluation"]


def test_a_training_callback_inside_a_users_track_is_a_window(tmp_path: Path) -> None:
    url = _url(tmp_path)
    with dia.track(store=url, meter="estimate") as outer:
        core = CallbackCore("me/ft", store=url, meter="estimate")
        core.start(world_size=1)
        core.count(steps=4, samples=32)
        phase = core.open_phase("evaluate")
        core.close_phase(phase)
        window = core.finish("completed")
        store_forecast(core.run, {"energy_kwh": 1.0}, url)  # must not store a second run either
    assert window is not None and window.extra["window_of"] == outer.id
    (run,) = Store(url).list_runs()
    assert run.id == outer.id and run.model_id == "me/ft" and run.workload.samples == 32
    assert [p.name for p in run.phases] == ["finetuning", "finetuning/evaluate"]
    assert core.report is not None and core.report.extra["forecast"] == {"energy_kwh": 1.0}


def test_sequential_windows_get_distinct_phases(tmp_path: Path) -> None:
    url = _url(tmp_path)
    with dia.track("me/outer", store=url, meter="estimate"):
        for _ in range(2):
            with dia.track(kind="evaluation", store=url, meter="estimate"):
                pass
    (run,) = Store(url).list_runs()
    assert [p.name for p in run.phases] == ["evaluation", "evaluation (2)"]


def test_a_window_whose_outer_run_ended_first_is_stored_as_its_own_run(tmp_path: Path) -> None:
    url = _url(tmp_path)
    outer = dia.track("me/outer", store=url, meter="estimate").start()
    inner = dia.track("me/inner", store=url, meter="estimate").start()
    outer.stop()
    report = inner.stop()
    assert "window_of" not in report.extra
    assert any(f"started inside run {outer.id}, which ended first" in n for n in report.notes)
    assert {r.id for r in Store(url).list_runs()} == {outer.id, inner.id}  # nothing lost


# -- across processes: the exported variables -------------------------------------------------


def test_a_run_exports_itself_to_child_processes_while_it_runs(tmp_path: Path) -> None:
    with dia.track("me/outer", store=_url(tmp_path), meter="estimate") as outer:
        exported = settings.outer_run()
        assert exported is not None and exported[0] == outer.id and Path(exported[1]).is_dir()
    assert settings.outer_run() is None  # restored at stop
    assert not Path(exported[1]).exists()  # the private directory is removed


def test_a_stale_variable_gives_a_run_of_its_own(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = _url(tmp_path)
    monkeypatch.setenv(settings.ENV_OUTER_RUN, "0a565815-1240-465c-8998-ef91c43de42e")
    monkeypatch.setenv(settings.ENV_WINDOWS_DIR, str(tmp_path / "gone"))
    with dia.track("me/alone", store=url, meter="estimate") as run:
        pass
    (stored,) = Store(url).list_runs()
    assert stored.id == run.id and "window_of" not in stored.extra
    assert any("whose windows directory is not on this machine" in n for n in stored.notes)


@pytest.fixture
def exported_windows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """What a child process of run ``outer-run`` inherits: its id and its windows directory."""
    windows = tmp_path / "windows"
    windows.mkdir()
    monkeypatch.setenv(settings.ENV_OUTER_RUN, "outer-run")
    monkeypatch.setenv(settings.ENV_WINDOWS_DIR, str(windows))
    return windows


def test_a_run_in_a_child_process_leaves_its_window_in_the_directory(tmp_path: Path, exported_windows: Path) -> None:
    url = _url(tmp_path)
    windows = exported_windows
    with dia.track("me/child", store=url, meter="estimate") as run:
        run.count(steps=1)
    assert Store(url).list_runs() == []  # counted by the outer run, not here
    (path,) = windows.iterdir()
    saved = json.loads(path.read_text(encoding="utf-8"))
    assert saved["id"] == run.id and saved["extra"]["window_of"] == "outer-run"


def test_a_window_whose_outer_process_ended_is_stored_as_its_own_run(tmp_path: Path, exported_windows: Path) -> None:
    url = _url(tmp_path)
    windows = exported_windows
    with dia.track("me/child", store=url, meter="estimate") as run:
        windows.rmdir()  # the outer run stopped meanwhile (it removes its directory)
    (stored,) = Store(url).list_runs()
    assert stored.id == run.id and "window_of" not in stored.extra
    assert any("started inside run outer-run, which ended first" in n for n in stored.notes)


def test_an_unreadable_window_file_is_skipped_with_a_note(tmp_path: Path) -> None:
    url = _url(tmp_path)
    with dia.track("me/outer", store=url, meter="estimate"):
        exported = settings.outer_run()
        assert exported is not None
        (Path(exported[1]) / "broken.json").write_text("{not json", encoding="utf-8")
    (run,) = Store(url).list_runs()
    assert any(n.startswith("window file broken.json could not be read, skipped") for n in run.notes)
    assert run.phases == []


CHILD = """
import json, sys, time
sys.path.insert(0, {fakes!r})
if {spec!r}:
    from measure_fakes import fake_from_spec, install_fake_nvml
    install_fake_nvml(fake_from_spec({spec!r}))
import dia
with dia.track("me/child", parents=["org/base"], kind="finetuning", store={url!r}, meter={meter!r}) as run:
    with run.phase("train"):
        time.sleep({sleep_s})
        run.count(steps=5, samples=40)
print(json.dumps(run.report.extra))
"""


def _dia_run(tmp_path: Path, *args: str, spec: str = "", meter: str = "estimate", sleep_s: float = 0.2
             ) -> subprocess.CompletedProcess[str]:
    url = _url(tmp_path)
    child = tmp_path / "child.py"
    child.write_text(textwrap.dedent(CHILD.format(fakes=str(FAKES), spec=spec, url=url, meter=meter,
                                                  sleep_s=sleep_s)), encoding="utf-8")
    boot = ("import sys; sys.path.insert(0, sys.argv.pop(1)); spec = sys.argv.pop(1)\n"
            "if spec:\n"
            "    from measure_fakes import fake_from_spec, install_fake_nvml\n"
            "    install_fake_nvml(fake_from_spec(spec))\n"
            "from dia.cli.main import app; app()")
    env = {k: v for k, v in os.environ.items() if k not in (settings.ENV_OUTER_RUN, settings.ENV_WINDOWS_DIR)}
    return subprocess.run([sys.executable, "-c", boot, str(FAKES), spec, "run", "--db", url, "--meter", meter,
                           *args, "--", sys.executable, str(child)],
                          capture_output=True, text=True, timeout=120, env={**env, "COLUMNS": "200"})


def test_dia_run_around_dia_track_stores_one_run_with_the_childs_window(tmp_path: Path) -> None:
    done = _dia_run(tmp_path)
    assert done.returncode == 0, done.stderr
    (run,) = Store(_url(tmp_path)).list_runs()
    child_extra = json.loads(done.stdout.strip().splitlines()[-1])
    assert child_extra["window_of"] == run.id
    assert run.model_id == "me/child" and run.kind.value == "finetuning"  # dia run gave none
    assert [p.model_id for p in run.parents] == ["org/base"]
    assert [p.name for p in run.phases] == ["finetuning", "finetuning/train"]
    assert run.workload.steps == 5 and run.workload.samples == 40


def test_dia_runs_own_model_id_wins(tmp_path: Path) -> None:
    done = _dia_run(tmp_path, "--model", "me/launcher")
    assert done.returncode == 0, done.stderr
    (run,) = Store(_url(tmp_path)).list_runs()
    assert run.model_id == "me/launcher" and run.parents == []


def test_gpu_energy_under_dia_run_is_counted_once(tmp_path: Path) -> None:
    from measure_fakes import fake_spec

    spec = fake_spec([{"uuid": "GPU-0000", "power_w": GPU_W}])
    done = _dia_run(tmp_path, spec=spec, meter="nvml", sleep_s=2.0)
    assert done.returncode == 0, done.stderr
    stored = Store(_url(tmp_path)).list_runs()
    assert len(stored) == 1
    (run,) = stored
    assert run.energy.gpu_kwh is not None and run.duration_s
    # Both processes read one shared counter at 300 W. Stored once: ~300 W x the outer's
    # duration; stored twice (main), the child's 2 s of the ~2.5 s would be added again.
    total_gpu_j = sum(r.energy.gpu_kwh.value for r in stored if r.energy.gpu_kwh) * 3.6e6
    assert total_gpu_j == pytest.approx(GPU_W * run.duration_s, rel=0.15)
    window = next(p for p in run.phases if p.name == "finetuning")
    assert window.energy_kwh is not None and window.duration_s
    assert window.energy_kwh.value * 3.6e6 == pytest.approx(GPU_W * window.duration_s, rel=0.15)


def test_dia_run_inside_dia_run_is_a_window_and_says_so(tmp_path: Path) -> None:
    url = _url(tmp_path)
    inner = [sys.executable, "-m", "dia.cli.main", "run", "--db", url, "--meter", "estimate", "--model", "me/inner",
             "--", sys.executable, "-c", "pass"]
    env = {k: v for k, v in os.environ.items() if k not in (settings.ENV_OUTER_RUN, settings.ENV_WINDOWS_DIR)}
    done = subprocess.run([sys.executable, "-m", "dia.cli.main", "run", "--db", url, "--meter", "estimate", "--",
                           *inner], capture_output=True, text=True, timeout=120, env={**env, "COLUMNS": "300"})
    assert done.returncode == 0, done.stderr
    (run,) = Store(url).list_runs()
    assert run.model_id == "me/inner" and [p.name for p in run.phases] == ["other"]
    assert f"note: measured as a window of run {run.id}: counted there, once" in done.stderr


def test_a_window_of_a_killed_outer_process_is_stored_as_its_own_run(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = _url(tmp_path)
    gone = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    windows = tmp_path / f"dia-windows-{gone.stdout.strip()}-x"  # made by a process that no longer runs
    windows.mkdir()
    monkeypatch.setenv(settings.ENV_OUTER_RUN, "killed-run")
    monkeypatch.setenv(settings.ENV_WINDOWS_DIR, str(windows))
    with dia.track("me/child", store=url, meter="estimate") as run:
        pass
    (stored,) = Store(url).list_runs()
    assert stored.id == run.id and "window_of" not in stored.extra
    assert list(windows.iterdir()) == []


def test_a_window_inside_a_window_ends_up_under_it(tmp_path: Path) -> None:
    url = _url(tmp_path)
    outer = dia.track("me/outer", store=url, meter="estimate").start()
    with dia.track(kind="finetuning", store=url, meter="estimate") as middle, middle.phase("eval"), \
            dia.track(kind="evaluation", store=url, meter="estimate"):
        pass
    outer.stop()
    (run,) = Store(url).list_runs()
    assert [p.name for p in run.phases] == ["finetuning", "finetuning/eval", "finetuning/eval/evaluation"]


RANK_CHILD = """
import os, dia
with dia.track("me/ddp", kind="finetuning", store={url!r}, meter="estimate") as run:
    run.count(steps=10 + int(os.environ["RANK"]))  # rank 1 counts 11: whose counters win shows
"""


def test_ranks_started_inside_an_outer_track_are_its_windows_one_phase_per_rank(tmp_path: Path) -> None:
    url = _url(tmp_path)
    script = tmp_path / "rank.py"
    script.write_text(RANK_CHILD.format(url=url), encoding="utf-8")
    with dia.track(store=url, meter="estimate") as outer:
        procs = [subprocess.Popen([sys.executable, str(script)],
                                  env={**os.environ, "RANK": str(r), "LOCAL_RANK": str(r), "WORLD_SIZE": "2",
                                       "LOCAL_WORLD_SIZE": "2", "MASTER_ADDR": "127.0.0.1", "MASTER_PORT": "29555"})
                 for r in (0, 1)]
        assert [p.wait(timeout=120) for p in procs] == [0, 0]
    (run,) = Store(url).list_runs()
    assert run.id == outer.id and run.model_id == "me/ddp"
    assert sorted(p.name for p in run.phases) == ["finetuning@rank 0", "finetuning@rank 1"]
    # The job's workload is rank 0's, as when its ranks' runs are merged into one logical run.
    assert run.workload.steps == 10


def test_an_outer_run_variable_set_by_hand_is_ignored_with_a_note(tmp_path: Path, exported_windows: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    # Whatever DIA_OUTER_RUN holds would be copied into notes, which may be published.
    url = _url(tmp_path)
    monkeypatch.setenv(settings.ENV_OUTER_RUN, "$(cat ~/.netrc) and more")
    with dia.track("me/alone", store=url, meter="estimate") as run:
        pass
    (stored,) = Store(url).list_runs()
    assert stored.id == run.id and "window_of" not in stored.extra
    assert "DIA_OUTER_RUN is not a run id (set by DIA for nested runs; unset it): measured as a run of its own" in stored.notes
    assert not any("netrc" in n for n in stored.notes)
    assert list(exported_windows.iterdir()) == []
