"""``dia ingest DIR`` under hostile cards: each bad card is one line naming its path and why,
every good card beside it is stored, what the store held before is kept, a summary is
printed, the exit code is 1, and nothing hangs or prints a traceback.

Every case goes through the CLI on real files and a real SQLite store.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from dia.cli.main import app
from dia.record.store import Store

GOOD = "---\nco2_eq_emissions: {emissions: 500, energy_consumed: 2}\n---\n# A good card\n"
VICTIM = "---\nco2_eq_emissions: 1000\n---\n# The victim's own card\n"


def _write(root: Path, folder: str, text: str | bytes) -> Path:
    path = root / folder / "README.md"
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def _ingest(*args: str) -> tuple[int, str, Any]:
    result = CliRunner().invoke(app, ["ingest", *args])
    # Never a traceback: the only exception a command may end with is its exit.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    assert "Traceback" not in result.output
    return result.exit_code, result.output, result


def _carbon(db: str) -> dict[str, float]:
    """Stored carbon (kg) per model."""
    with Store(db) as store:
        return {r.model_id: r.carbon.total_kg.value for r in store.list_runs() if r.carbon is not None}


def _lines_naming(output: str, where: str) -> list[str]:
    return [line for line in output.splitlines() if where in line]


@pytest.fixture
def stored(tmp_path: Path) -> tuple[Path, str]:
    """A folder of cards and a store that already holds o/victim's figure (1 kg)."""
    db = f"sqlite:///{tmp_path}/store.sqlite"
    first = tmp_path / "first"
    _write(first, "o/victim", VICTIM)
    code, output, _ = _ingest(str(first), "--db", db)
    assert code == 0, output
    assert _carbon(db) == {"o/victim": 1.0}
    return tmp_path / "cards", db


def _check_refused(root: Path, db: str, folder: str, reason: str) -> str:
    """Ingest ``root`` (holding o/good and the bad card in ``folder``): the bad card is one line
    naming it and the reason, o/good is stored, o/victim is unchanged, the exit code is 1."""
    _write(root, "o/good", GOOD)
    code, output, _ = _ingest(str(root), "--db", db)
    where = f"{folder}/README.md"
    assert code == 1, output
    named = _lines_naming(output, where)
    assert len(named) == 1, output
    assert reason in named[0], output
    assert "read 2, ingested 1" in output and "skipped 1" in output  # the summary line
    assert _carbon(db) == {"o/victim": 1.0, "o/good": 0.5}
    return named[0]


# -- the front matter reader -----------------------------------------------------------------------

def _alias_bomb(levels: int) -> str:
    lines = ["---", "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    return "\n".join([*lines, "co2_eq_emissions: 5", "---", ""])


@pytest.mark.parametrize(("text", "reason"), [
    (_alias_bomb(10), "YAML alias *a0 at line 3"),
    ("---\nlicense: mit\nco2_eq_emissions: 5\nco2_eq_emissions: 5000\n---\n",
     "duplicate key 'co2_eq_emissions' at line 4"),
    ("---\nco2_eq_emissions:\n  emissions: 5\n  emissions: 7\n---\n", "duplicate key 'emissions' at line 4"),
    ("---\ndia:\n  schema_version: '1.0'\n  energy_kwh: !!binary aGVsbG8=\n---\n", "YAML tag !!binary at line 4"),
    ("---\nco2_eq_emissions: !!binary aGVsbG8=\n---\n", "YAML tag !!binary at line 2"),
    ("---\ntags: !!set {a, b}\nco2_eq_emissions: 5\n---\n", "YAML tag !!set at line 2"),
    ("---\nco2_eq_emissions: !custom 5\n---\n", "YAML tag !custom at line 2"),
    ("---\nx: !!python/object:os.system {}\n---\n", "YAML tag !!python/object:os.system at line 2"),
    ("---\ntags:\n" + "  - t\n" * 300_000 + "---\n", "front matter larger than 1 MB"),
    ("---\na:\n  " + "- " * 100_000 + "x\n---\n", "YAML error at line 3: exceeded maximum nesting depth"),
    ("---\nnote: '*'\na: " + "[" * 100_000 + "]" * 100_000 + "\n---\n", "YAML error: nested too deeply"),
    ("---\nreleased: 2024-13-45\nco2_eq_emissions: 5\n---\n", "YAML error: ValueError: month must be in 1..12"),
], ids=["alias-bomb", "duplicate-top-key", "duplicate-nested-key", "binary-in-dia-block", "binary-co2", "set",
        "local-tag", "python-object", "oversize", "deep-nesting", "deep-nesting-with-a-star", "impossible-date"])
def test_front_matter_reader_refuses_in_one_line(stored: tuple[Path, str], text: str, reason: str) -> None:
    root, db = stored
    _write(root, "o/bad", text)
    _check_refused(root, db, "o/bad", reason)


def test_the_last_of_two_equal_keys_never_wins_silently(stored: tuple[Path, str]) -> None:
    # Before: the second co2_eq_emissions (5,000 kg) replaced the first without a word.
    root, db = stored
    _write(root, "o/victim", "---\nco2_eq_emissions: 1000\nco2_eq_emissions: 5000000\n---\n")
    code, output, _ = _ingest(str(root), "--db", db)
    assert code == 1
    assert len(_lines_naming(output, "o/victim/README.md: duplicate key 'co2_eq_emissions'")) == 1
    assert _carbon(db) == {"o/victim": 1.0}


def test_non_utf8_is_refused_with_the_line_and_byte_of_the_bad_byte(stored: tuple[Path, str]) -> None:
    # A bad byte after 20,000 bytes of valid text (the old reader counted from its last chunk).
    root, db = stored
    head = b"---\nlicense: mit\ntags:\n" + b"  - caf\xc3\xa9\n" * 2000
    data = head + b"  - caf\xe9\nco2_eq_emissions: 5\n---\n"
    _write(root, "o/latin1", data)
    bad_at = len(head) + len(b"  - caf")
    line = head.count(b"\n") + 1
    _check_refused(root, db, "o/latin1", f"not UTF-8 text (invalid continuation byte at line {line}, byte {bad_at})")


def test_a_multibyte_character_cut_by_the_read_limit_is_not_an_error(stored: tuple[Path, str]) -> None:
    # Only the first ~1 MB of a card is read. Three cards of 3-byte characters, shifted by 0, 1
    # and 2 bytes: wherever the reader stops, it stops inside a character in two of them.
    root, db = stored
    for shift in range(3):
        _write(root, f"o/long-{shift}", GOOD.encode() + b"x" * shift + "€".encode() * 1_000_000)
    code, output, _ = _ingest(str(root), "--db", db)
    assert code == 0, output
    assert _carbon(db) == {"o/victim": 1.0, "o/long-0": 0.5, "o/long-1": 0.5, "o/long-2": 0.5}


# -- numbers -------------------------------------------------------------------------------------

@pytest.mark.parametrize(("co2", "reason"), [
    ("true", "co2_eq_emissions.emissions: expected a number (got bool)"),
    ("{emissions: 5, energy_consumed: true}", "co2_eq_emissions.energy_consumed: expected a number (got bool)"),
    ("1" + "0" * 5000, "a number of 5001 characters at line 2"),
    ("{emissions: 1" + "0" * 400 + "}", "a number of 401 characters at line 2"),
    ("1e308", "co2_eq_emissions.emissions: too large"),
    ("'1e12 t'", "co2_eq_emissions.emissions: too large"),  # finite, but not once in grams
    ("{emissions: 5, energy_consumed: '1e14 MWh'}", "co2_eq_emissions.energy_consumed: too large"),
    ("-5", "co2_eq_emissions.emissions: must not be negative"),
    (".nan", "co2_eq_emissions.emissions: must be a finite number"),
    (".inf", "co2_eq_emissions.emissions: must be a finite number"),
    ("'" + "9" * 400 + " kg'", "co2_eq_emissions.emissions: must be a finite number (got '99999"),
], ids=["bool", "bool-energy", "5000-digits", "400-digits", "1e308", "overflow-in-tonnes", "overflow-in-MWh",
        "negative", "nan", "inf", "400-digit-string"])
def test_bad_numbers_are_refused_naming_the_field(stored: tuple[Path, str], co2: str, reason: str) -> None:
    root, db = stored
    _write(root, "o/bad", f"---\nco2_eq_emissions: {co2}\n---\n")
    line = _check_refused(root, db, "o/bad", reason)
    assert len(line) < 300  # a 5,000-digit value is not echoed back


@pytest.mark.parametrize(("block", "field"), [
    ("  energy_kwh: true", "dia.energy_kwh"),
    ("  energy_kwh: {value: 1e300}", "dia.energy_kwh"),
    ("  energy_kwh: 2\n  carbon_kg: [1, .inf]", "dia.carbon_kg.high"),
    ("  energy_kwh: 2\n  gpu_hours: -1", "dia.gpu_hours"),
], ids=["bool", "huge", "inf-high", "negative-gpu-hours"])
def test_bad_numbers_in_the_dia_block_name_their_field(stored: tuple[Path, str], block: str, field: str) -> None:
    root, db = stored
    _write(root, "o/bad", f"---\ndia:\n  schema_version: '1.0'\n{block}\n---\n")
    line = _check_refused(root, db, "o/bad", field)
    assert "o/bad/README.md:" in line


def test_a_huge_gpu_count_is_not_a_count(stored: tuple[Path, str]) -> None:
    root, db = stored
    _write(root, "o/many", "---\nco2_eq_emissions: {emissions: 500, hardware_used: "
                           f"'{'9' * 40} x A100'}}\n---\n")
    code, output, _ = _ingest(str(root), "--db", db)
    assert code == 0, output
    with Store(db) as store:
        run = next(r for r in store.list_runs() if r.model_id == "o/many")
    assert all(g.count < 10**6 for g in run.hardware.gpus)


# -- files that are not cards ----------------------------------------------------------------------

def _ingest_in_thread(args: list[str], fifo: Path) -> tuple[int, str, Any]:
    """Run the ingest; should it block on the FIFO, open the FIFO's other end to free it, then fail."""
    box: dict[str, Any] = {}
    worker = threading.Thread(target=lambda: box.update(result=CliRunner().invoke(app, args)), daemon=True)
    worker.start()
    worker.join(60)
    if worker.is_alive():
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        worker.join(60)
        pytest.fail("dia ingest blocked on a FIFO named README.md")
    result = box["result"]
    return result.exit_code, result.output, result


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_a_fifo_named_readme_is_skipped_with_a_line_not_read(stored: tuple[Path, str]) -> None:
    root, db = stored
    _write(root, "o/good", GOOD)
    fifo = root / "o" / "fifo" / "README.md"
    fifo.parent.mkdir(parents=True)
    os.mkfifo(fifo)
    code, output, result = _ingest_in_thread(["ingest", str(root), "--db", db], fifo)
    assert result.exception is None or isinstance(result.exception, SystemExit), output
    assert code == 1
    named = _lines_naming(output, "o/fifo/README.md")
    assert len(named) == 1 and "not a regular file (a FIFO)" in named[0], output
    assert _carbon(db) == {"o/victim": 1.0, "o/good": 0.5}
    # A FIFO named like a report file is not opened either.
    os.mkfifo(root / "o" / "fifo" / "runs.jsonl")
    code, output, _ = _ingest_in_thread(["ingest", str(root), "--db", db], root / "o" / "fifo" / "runs.jsonl")
    assert code == 1 and len(_lines_naming(output, "o/fifo/runs.jsonl: not a regular file (a FIFO)")) == 1, output
    # Named on the command line, it is refused the same way.
    code, output, _ = _ingest_in_thread(["ingest", str(fifo), "--model-id", "o/fifo", "--db", db], fifo)
    assert code == 1 and "not a regular file (a FIFO)" in output


def test_a_folder_named_readme_is_not_a_card(stored: tuple[Path, str]) -> None:
    root, db = stored
    (root / "o" / "dir" / "README.md").mkdir(parents=True)
    _write(root, "o/good", GOOD)
    code, output, _ = _ingest(str(root), "--db", db)
    # os.walk lists it as a folder: it is not a card, and nothing is read from it.
    assert code == 0, output
    assert _carbon(db) == {"o/victim": 1.0, "o/good": 0.5}


@pytest.mark.skipif(sys.platform == "win32", reason="symbolic links need privileges on Windows")
def test_symlinks_out_of_the_folder_are_not_followed(stored: tuple[Path, str], tmp_path: Path) -> None:
    root, db = stored
    outside = _write(tmp_path / "outside", "o/secret", "---\nco2_eq_emissions: 777000\n---\n")
    (root / "o" / "link").mkdir(parents=True)
    (root / "o" / "link" / "README.md").symlink_to(outside)
    (root / "o" / "linked-folder").parent.mkdir(parents=True, exist_ok=True)
    (root / "o" / "linked-folder").symlink_to(outside.parent, target_is_directory=True)
    _write(root, "o/good", GOOD)
    # A link that stays inside the folder is read as the file it points to.
    _write(root, "o/real", GOOD)
    (root / "o" / "inside-link").mkdir()
    (root / "o" / "inside-link" / "README.md").symlink_to(root / "o" / "real" / "README.md")
    code, output, _ = _ingest(str(root), "--db", db)
    assert code == 1, output
    named = _lines_naming(output, "o/link/README.md")
    assert len(named) == 1 and "symbolic link to a file outside the folder: not followed" in named[0], output
    assert len(_lines_naming(output, "o/linked-folder: symbolic link to a folder: not followed")) == 1, output
    assert "777" not in output
    assert _carbon(db) == {"o/victim": 1.0, "o/good": 0.5, "o/real": 0.5, "o/inside-link": 0.5}


@pytest.mark.skipif(sys.platform == "win32" or os.geteuid() == 0,
                    reason="root (and Windows) can read a file without read permission")
def test_unreadable_files_and_folders_are_one_line_each(stored: tuple[Path, str]) -> None:
    root, db = stored
    locked = _write(root, "o/locked", GOOD)
    locked.chmod(0)
    _write(root, "p/closed/m", GOOD)
    (root / "p" / "closed").chmod(0)
    _write(root, "o/good", GOOD)
    try:
        code, output, _ = _ingest(str(root), "--db", db)
    finally:
        locked.chmod(0o600)
        (root / "p" / "closed").chmod(0o700)
    assert code == 1
    assert len(_lines_naming(output, "o/locked/README.md: cannot read (Permission denied)")) == 1, output
    assert len(_lines_naming(output, "p/closed: cannot list this folder (Permission denied)")) == 1, output
    assert _carbon(db) == {"o/victim": 1.0, "o/good": 0.5}


# -- whose figure is it ----------------------------------------------------------------------------

@pytest.mark.parametrize("block", ["model_id: o/victim", "dia:\n  model_id: o/victim\n  energy_kwh: 5",
                                   "dia_report:\n  model_id: o/victim\n  footprint: {carbon_kgco2eq: 99}"],
                         ids=["top-level", "dia-block", "v0.1-block"])
def test_a_card_naming_another_model_than_its_folder_is_refused(stored: tuple[Path, str], block: str) -> None:
    # Before: o/evil/README.md with `model_id: o/victim` replaced o/victim's figure silently.
    root, db = stored
    _write(root, "o/evil", f"---\n{block}\nco2_eq_emissions: 99000000\n---\n")
    line = _check_refused(root, db, "o/evil", "model_id: states 'o/victim' but its folder is o/evil: refused")
    assert "o/victim" in line
    with Store(db) as store:
        assert {r.model_id for r in store.list_runs()} == {"o/victim", "o/good"}  # no run for o/evil either


def test_a_card_naming_its_own_folder_in_another_case_is_read(stored: tuple[Path, str]) -> None:
    root, db = stored
    _write(root, "o/Mixed", "---\nmodel_id: o/mixed\nco2_eq_emissions: 500\n---\n")
    code, output, _ = _ingest(str(root), "--db", db)
    assert code == 0, output
    assert _carbon(db)["o/Mixed"] == 0.5  # the folder's spelling is the id


def test_two_cards_for_one_model_are_reported_and_the_first_is_kept(stored: tuple[Path, str]) -> None:
    root, db = stored
    _write(root, "a/o/twin", GOOD)
    _write(root, "b/o/twin", "---\nco2_eq_emissions: 9000000\n---\n")
    code, output, _ = _ingest(str(root), "--db", db)
    assert code == 1
    named = _lines_naming(output, "b/o/twin/README.md")
    assert len(named) == 1 and "o/twin was already read from a/o/twin/README.md" in named[0], output
    assert _carbon(db) == {"o/victim": 1.0, "o/twin": 0.5}


def test_the_same_model_under_two_ingest_roots_is_reported(stored: tuple[Path, str], tmp_path: Path) -> None:
    # Both cards are "o/twin/README.md" below their own root: still two cards for one model.
    root, db = stored
    _write(root, "o/twin", GOOD)
    _write(tmp_path / "other", "o/twin", "---\nco2_eq_emissions: 9000000\n---\n")
    code, output, _ = _ingest(str(root), str(tmp_path / "other"), "--db", db)
    assert code == 1
    assert "o/twin was already read from o/twin/README.md" in output
    assert _carbon(db) == {"o/victim": 1.0, "o/twin": 0.5}


def test_a_single_card_names_its_model_and_model_id_only_fills_in(tmp_path: Path) -> None:
    # A file given on its own has no folder to go by: its own model_id is used, --model-id
    # names a card that names none (unchanged).
    db = f"sqlite:///{tmp_path}/s.sqlite"
    named = tmp_path / "named.md"
    named.write_text("---\nmodel_id: org/named\nco2_eq_emissions: 3000\n---\n", encoding="utf-8")
    bare = tmp_path / "bare.md"
    bare.write_text("---\nco2_eq_emissions: 2000\n---\n", encoding="utf-8")
    assert _ingest(str(named), "--model-id", "me/mine", "--db", db)[0] == 0
    assert _ingest(str(bare), "--model-id", "me/mine", "--db", db)[0] == 0
    assert _carbon(db) == {"org/named": 3.0, "me/mine": 2.0}


# -- whatever goes wrong, one card at a time -----------------------------------------------------

def test_an_unforeseen_error_costs_one_card_not_the_ingest(stored: tuple[Path, str],
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    from dia.hub.formats import parsed

    real = parsed._report

    def flaky(fig: Any, model_id: str, *args: Any) -> Any:
        if model_id == "o/boom":
            raise ValueError(f"boom in {Path.home() / 'secret-token.txt'}")
        return real(fig, model_id, *args)

    monkeypatch.setattr(parsed, "_report", flaky)
    root, db = stored
    _write(root, "o/boom", GOOD)
    line = _check_refused(root, db, "o/boom", "cannot be read (ValueError: boom in ~/secret-token.txt)")
    assert str(Path.home()) not in line


def test_json_summary_lists_every_refused_card(stored: tuple[Path, str]) -> None:
    root, db = stored
    _write(root, "o/good", GOOD)
    _write(root, "o/dup", "---\na: 1\na: 2\n---\n")
    _write(root, "o/tag", "---\na: !!binary aGVsbG8=\n---\n")
    _write(root, "o/evil", "---\nmodel_id: o/victim\nco2_eq_emissions: 5\n---\n")
    code, _, result = _ingest(str(root), "--db", db, "--json")
    summary = json.loads(result.stdout)
    assert code == 1
    assert sorted(s["file"] for s in summary["skipped"]) == ["o/dup/README.md", "o/evil/README.md",
                                                            "o/tag/README.md"]
    assert summary["ingested"] == 1
    assert _carbon(db) == {"o/victim": 1.0, "o/good": 0.5}
