"""Monotone updates: an upsert never moves a stored run backwards.

A completed, failed or interrupted run is not replaced by a ``running`` snapshot of it
(unless that snapshot is a resume: its heartbeat is later than the run's end), and a run's
energy never decreases. The tracker's own checkpoints and resumes still go through.
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from factories import T0, run_report
from typer.testing import CliRunner

from dia.cli.main import app
from dia.record.report import RunReport, RunStatus
from dia.record.store import ModelRecord, Store

RUN_ID = "11111111-1111-4111-8111-111111111111"


def snapshot(energy_kwh: float, status: str = "running", *, beat_h: float = 0.5, **fields: object) -> RunReport:
    """One report of run RUN_ID: ``running`` snapshots have no end, only a heartbeat."""
    ended = {} if status == "running" else {"ended_at": T0 + timedelta(hours=beat_h)}
    report = run_report("org/m", energy_kwh=energy_kwh, id=RUN_ID, status=status,
                        heartbeat_at=T0 + timedelta(hours=beat_h), **fields)
    return report.model_copy(update={"ended_at": None, **ended})


def stored(url: str) -> RunReport:
    with Store(url) as store:
        rows = list(store.iter_runs())
    assert len(rows) == 1
    return rows[0]


@pytest.mark.parametrize("final", ["completed", "failed", "interrupted"])
def test_a_running_snapshot_does_not_replace_a_finished_run(store_url: str, final: str) -> None:
    with Store(store_url) as store:
        assert store.save_runs([snapshot(3.0, final, beat_h=2.0)]) == 1
        skipped: list[str] = []
        # The same run seen earlier, still going (an export taken while it ran).
        assert store.save_runs([snapshot(1.0, beat_h=1.0)], not_applied=skipped) == 0
        assert skipped == [RUN_ID]
        # Even with as much energy: the snapshot's heartbeat is before the run's end.
        assert store.save_run(snapshot(3.0, beat_h=1.0)) is False
    kept = stored(store_url)
    assert kept.status.value == final and kept.energy.it_kwh.value == 3.0


def test_energy_never_decreases(store_url: str) -> None:
    with Store(store_url) as store:
        assert store.save_run(snapshot(5.0, beat_h=2.0))
        skipped: list[str] = []
        assert store.save_runs([snapshot(4.0, beat_h=3.0)], not_applied=skipped) == 0
        assert skipped == [RUN_ID]
        assert store.save_run(snapshot(2.0, "completed", beat_h=3.0)) is False
    kept = stored(store_url)
    assert (kept.status, kept.energy.it_kwh.value) == (RunStatus.RUNNING, 5.0)


def test_the_trackers_checkpoints_and_final_save_still_apply(store_url: str) -> None:
    with Store(store_url) as store:
        for i, energy in enumerate([0.0, 0.0, 1.5, 2.5]):  # equal energy: a heartbeat refresh applies
            assert store.save_run(snapshot(energy, beat_h=0.1 * (i + 1)))
        assert store.save_run(snapshot(3.0, "completed", beat_h=1.0))
        # Saving the final report again (an idempotent re-import) changes nothing, and applies.
        assert store.save_runs([snapshot(3.0, "completed", beat_h=1.0)]) == 1
    kept = stored(store_url)
    assert (kept.status, kept.energy.it_kwh.value) == (RunStatus.COMPLETED, 3.0)


def test_a_resumed_run_goes_running_again_then_completes(store_url: str) -> None:
    with Store(store_url) as store:
        assert store.save_run(snapshot(2.0, "interrupted", beat_h=1.0))
        # dia.track(run_id=...) resumes it later: energy continues from 2.0 and grows.
        assert store.save_run(snapshot(2.0, beat_h=5.0))
        assert stored(store_url).status is RunStatus.RUNNING
        assert store.save_run(snapshot(2.7, beat_h=5.5))
        assert store.save_run(snapshot(3.1, "completed", beat_h=6.0))
        # The export taken during the first session is still refused afterwards.
        assert store.save_run(snapshot(1.0, beat_h=0.5)) is False
    kept = stored(store_url)
    assert (kept.status, kept.energy.it_kwh.value) == (RunStatus.COMPLETED, 3.1)


def test_a_stale_report_in_a_batch_is_skipped_and_the_rest_stored(store_url: str) -> None:
    other = run_report("org/other", energy_kwh=1.0, id="22222222-2222-4222-8222-222222222222")
    with Store(store_url) as store:
        store.save_run(snapshot(3.0, "completed", beat_h=2.0))
        skipped: list[str] = []
        assert store.save_runs([snapshot(1.0, beat_h=1.0), other], not_applied=skipped) == 1
        assert skipped == [RUN_ID]
        assert store.get_run(other.id) is not None
        assert store.get_run(RUN_ID).status is RunStatus.COMPLETED  # type: ignore[union-attr]


def test_bulk_save_is_monotone_too(store_url: str) -> None:
    fresh = run_report("org/n", energy_kwh=1.0, id="33333333-3333-4333-8333-333333333333")
    with Store(store_url) as store:
        store.bulk_save([ModelRecord("org/m", reports=(snapshot(3.0, "completed", beat_h=2.0),))])
        skipped: list[str] = []
        refused = store.bulk_save([ModelRecord("org/m", reports=(snapshot(1.0, beat_h=1.0),)),
                                   ModelRecord("org/n", reports=(fresh,))], not_applied=skipped)
        assert refused == [] and skipped == [RUN_ID]
        assert store.get_run(fresh.id) is not None
        kept = store.get_run(RUN_ID)
        assert kept is not None and (kept.status, kept.energy.it_kwh.value) == (RunStatus.COMPLETED, 3.0)
        # A later snapshot with more energy goes through the bulk path as well.
        store.bulk_save([ModelRecord("org/m", reports=(snapshot(4.0, "completed", beat_h=3.0),))])
        assert store.get_run(RUN_ID).energy.it_kwh.value == 4.0  # type: ignore[union-attr]


def test_a_card_restates_its_own_figure_even_when_lower(store_url: str) -> None:
    """A corrected card is the card's new statement, not an older snapshot of a run."""
    card = snapshot(5.0, "completed", beat_h=1.0, source="card")
    with Store(store_url) as store:
        store.bulk_save([ModelRecord("org/m", source="card", reports=(card,))])
        corrected = card.model_copy(update={"energy": snapshot(2.0).energy})
        store.bulk_save([ModelRecord("org/m", source="card", reports=(corrected,))])
    assert stored(store_url).energy.it_kwh.value == 2.0


def test_import_of_an_export_taken_while_the_run_was_going(tmp_path: Path) -> None:
    """The issue's case: ``dia import`` of an old export left the completed run as it was."""
    url = f"sqlite:///{tmp_path}/store.sqlite"
    runner = CliRunner()
    with Store(url) as store:
        store.save_run(snapshot(1.0, beat_h=0.5))
    export = tmp_path / "during.jsonl"
    result = runner.invoke(app, ["export", "--db", url, "--output", str(export)])
    assert result.exit_code == 0, result.output
    assert '"running"' in export.read_text()
    with Store(url) as store:
        store.save_run(snapshot(4.0, "completed", beat_h=2.0))
    result = runner.invoke(app, ["import", str(export), "--db", url])
    assert "Traceback" not in result.output
    kept = stored(url)
    assert (kept.status, kept.energy.it_kwh.value) == (RunStatus.COMPLETED, 4.0)
    # the summary says exactly what was stored: the record was read, valid, and not applied
    assert result.exit_code == 0, result.output
    assert "not applied during.jsonl: record 1 (line 1): run " in result.output and "kept as stored" in result.output
    assert result.output.splitlines()[-1].startswith("imported 0 of 1 record into ")
    assert result.output.splitlines()[-1].endswith("; 1 not applied (the stored run is further along)")
