"""``dia run -- CMD``: exit code passthrough, the whole process tree, summary, stored report."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from dia.record.store import Store

BUSY_TREE = ("import subprocess, sys; "
             "subprocess.run([sys.executable, '-c', 'sum(i * i for i in range(15_000_000))']); "
             "print('child done'); sys.exit(7)")
IDLE = "import time; time.sleep({s})"


def _one_cpu() -> None:
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def _dia(*args: str, one_cpu: bool = False) -> subprocess.CompletedProcess[str]:
    # On one CPU the busy tree's load is ~1 whatever the machine's size: a clear signal.
    return subprocess.run([sys.executable, "-m", "dia.cli.main", *args], capture_output=True, text=True,
                          env={**os.environ, "COLUMNS": "120"}, timeout=120,
                          preexec_fn=_one_cpu if one_cpu else None)


def test_exit_code_summary_and_stored_report() -> None:
    done = _dia("run", "--model", "me/cli-run", "--parent", "org/base:lora", "--kind", "finetune",
                "--country", "FRA", "--meter", "estimate", "--", sys.executable, "-c", BUSY_TREE)
    assert done.returncode == 7, done.stderr
    assert "child done" in done.stdout  # the command's output is untouched
    for word in ("energy", "carbon", "water", "estimated", "failed", "me/cli-run"):
        assert word in done.stderr
    (report,) = Store().list_runs()
    assert report.status.value == "failed" and report.model_id == "me/cli-run"
    assert [(p.model_id, p.relation.value) for p in report.parents] == [("org/base", "adapter")]
    assert report.kind.value == "finetuning" and report.location.country == "FRA"
    assert report.carbon is not None and report.energy.it_kwh.value > 0


@pytest.mark.slow
@pytest.mark.skipif(not hasattr(os, "sched_setaffinity"), reason="needs CPU affinity (Linux)")
def test_grandchild_cpu_is_counted() -> None:
    busy = _dia("run", "--json", "--meter", "estimate", "--", sys.executable, "-c", BUSY_TREE, one_cpu=True)
    busy_report = json.loads(busy.stdout[busy.stdout.index("{"):])
    seconds = max(0.5, busy_report["duration_s"])
    idle = _dia("run", "--json", "--meter", "estimate", "--", sys.executable, "-c", IDLE.format(s=seconds),
                one_cpu=True)
    assert idle.returncode == 0
    idle_report = json.loads(idle.stdout[idle.stdout.index("{"):])
    # The same wall time, but the busy tree used a CPU for most of it: more CPU energy per second.
    busy_w = busy_report["energy"]["cpu_kwh"]["value"] / busy_report["duration_s"]
    idle_w = idle_report["energy"]["cpu_kwh"]["value"] / idle_report["duration_s"]
    assert busy_w > 1.5 * idle_w  # without the grandchild both would idle alike
    assert idle_report["status"] == "completed"


def test_missing_command_exits_127_and_records_a_failed_run() -> None:
    done = _dia("run", "--", "no-such-command-dia-test")
    assert done.returncode == 127
    assert "cannot run no-such-command-dia-test" in done.stderr
    (report,) = Store().list_runs()
    assert report.status.value == "failed"


def test_bad_parent_is_one_line_error() -> None:
    done = _dia("run", "--parent", "org/base:grafted", "--", sys.executable, "-c", "pass")
    assert done.returncode != 0 and "grafted" in done.stderr and "Traceback" not in done.stderr
    assert Store().run_count() == 0


@pytest.mark.parametrize(("option", "fragment"), [
    (("--meter", "bogus"), "unknown meter 'bogus'"),
    (("--kind", "bogus"), "unknown run kind 'bogus'"),
    (("--model", "not a model id"), "'not a model id' is not a model id"),
    (("--parent", "org/base:grafted"), "unknown relation 'grafted'"),
])
def test_bad_option_is_a_one_line_usage_error(option: tuple[str, str], fragment: str) -> None:
    done = _dia("run", *option, "--", sys.executable, "-c", "print('ran')")
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    assert fragment in done.stderr and "Traceback" not in done.stderr
    assert "ran" not in done.stdout  # the command never started
    assert Store().run_count() == 0


def test_track_raises_dia_errors_for_bad_arguments() -> None:
    from dia.errors import DIAError, InvalidArgumentError
    from dia.tracker import track

    with pytest.raises(InvalidArgumentError, match="unknown meter 'bogus'"):
        track("me/x", meter="bogus", store=False)
    with pytest.raises(InvalidArgumentError, match="sample_interval_s must be positive"):
        track("me/x", sample_interval_s=0, store=False)
    for bad in ({"kind": "bogus"}, {"parents": ["org/base:grafted"]}):
        with pytest.raises(DIAError):
            track("me/x", store=False, **bad)
    with pytest.raises(DIAError):
        track("not a model id", store=False)


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
def test_sigterm_is_forwarded_and_the_run_is_interrupted() -> None:
    import signal
    import time

    child = "import time\nprint('ready', flush=True)\ntime.sleep(60)"
    proc = subprocess.Popen([sys.executable, "-m", "dia.cli.main", "run", "--", sys.executable, "-c", child],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    _out, err = proc.communicate(timeout=30)
    assert proc.returncode == 128 + signal.SIGTERM, err
    (report,) = Store().list_runs()
    assert report.status.value == "interrupted" and "interrupted" in err
