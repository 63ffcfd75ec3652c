"""``dia card M --write PATH`` under hostile files and faults (issue 15, "cards written safely").

Every case runs the real command on a real SQLite store and checks the exit code, the one
line it prints and the file before and after: on a refusal the card is byte-identical, and no
temporary file is left beside it.
"""

from __future__ import annotations

import errno
import json
import os
import stat
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from factories import run_report
from typer.testing import CliRunner, Result

from dia.cli.main import app
from dia.errors import DIAError
from dia.hub.card import MAX_CARD_BYTES, SECTION_START
from dia.hub.formats import frontmatter
from dia.record.store import Store

FORMATS = ("hf", "dia-v0.1", "both")

HAND_WRITTEN = """---
license: mit
base_model: meta-llama/Llama-3.1-8B
co2_eq_emissions:
  emissions: 1234
  source: the paper, table 3
datasets: [squad]
---
# Base model

Trained by hand; figures from the paper.
"""


@pytest.fixture()
def db(tmp_path: Path) -> Iterator[str]:
    """A store with org/child (a measured run) whose parent org/base has no run of its own."""
    url = f"sqlite:///{tmp_path}/store.sqlite"
    with Store(url) as store:
        store.save_run(run_report("org/child", energy_kwh=2.0, carbon_kg=0.5, parents=[("org/base", "finetune")]))
    yield url


def _card(db: str, model: str, path: Path, *extra: str) -> Result:
    return CliRunner().invoke(app, ["card", model, "--write", str(path), "--db", db, *extra])


def _one_line(result: Result, *fragments: str) -> str:
    """The command failed with exit 1 and one line (no traceback) holding every fragment."""
    assert result.exit_code == 1, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


def _no_temp_files(folder: Path, before: set[str]) -> None:
    assert {p.name for p in folder.iterdir()} == before


# -- keeping the card's own keys ----------------------------------------------------------------

@pytest.mark.parametrize("fmt", FORMATS)
def test_parent_only_model_keeps_its_hand_written_card(db: str, tmp_path: Path, fmt: str) -> None:
    card = tmp_path / "README.md"
    card.write_text(HAND_WRITTEN, encoding="utf-8")
    result = _card(db, "org/base", card, "--format", fmt)
    assert result.exit_code == 0, result.output
    assert "nothing to write for org/base" in result.output
    # Before: base_model and co2_eq_emissions were removed, "runs: 0" and an n/a table added.
    assert card.read_text(encoding="utf-8") == HAND_WRITTEN


@pytest.mark.parametrize("fmt", FORMATS)
def test_lineage_only_model_gets_lineage_but_keeps_its_figures(db: str, tmp_path: Path, fmt: str) -> None:
    with Store(db) as store:
        store.add_edge("org/quant", "org/child", "quantization")
    card = tmp_path / "README.md"
    card.write_text(HAND_WRITTEN, encoding="utf-8")
    result = _card(db, "org/quant", card, "--format", fmt)
    assert result.exit_code == 0, result.output
    text = card.read_text(encoding="utf-8")
    meta = frontmatter.read(text, "README.md")
    assert meta["co2_eq_emissions"] == {"emissions": 1234, "source": "the paper, table 3"}
    assert meta["license"] == "mit" and meta["datasets"] == ["squad"]
    assert "Trained by hand; figures from the paper." in text
    # No runs: no DIA block, no table of "not disclosed" rows.
    assert "dia" not in meta and "dia_report" not in meta
    assert SECTION_START not in text and "not disclosed" not in text and "runs: 0" not in text
    if fmt == "dia-v0.1":  # lineage lives in dia_report, which needs runs: the card is left alone
        assert text == HAND_WRITTEN
    else:  # the store's lineage replaces the card's
        assert meta["base_model"] == "org/child"


@pytest.mark.parametrize("fmt", FORMATS)
def test_store_figures_replace_the_cards_only_when_the_store_has_them(db: str, tmp_path: Path, fmt: str) -> None:
    card = tmp_path / "README.md"
    card.write_text(HAND_WRITTEN, encoding="utf-8")
    result = _card(db, "org/child", card, "--format", fmt)
    assert result.exit_code == 0, result.output
    meta = frontmatter.read(card.read_text(encoding="utf-8"), "README.md")
    assert meta["license"] == "mit" and meta["datasets"] == ["squad"]
    if fmt == "dia-v0.1":
        assert meta["dia_report"]["footprint"]["energy_kwh"]["value"] == pytest.approx(2.0)
        assert meta["co2_eq_emissions"]["emissions"] == 1234  # hf keys are not this format's
    else:
        assert meta["co2_eq_emissions"]["emissions"] == pytest.approx(500.0)  # grams, from the store
        assert meta["base_model"] == "org/base"


def test_new_card_for_a_model_with_nothing_to_say_is_not_created(db: str, tmp_path: Path) -> None:
    card = tmp_path / "out" / "README.md"
    result = _card(db, "org/base", card)
    assert result.exit_code == 0, result.output
    assert not card.exists()


# -- atomic writes ----------------------------------------------------------------------------

def test_full_disk_leaves_the_card_untouched(db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    card = tmp_path / "cards" / "README.md"
    card.parent.mkdir()
    card.write_text(HAND_WRITTEN, encoding="utf-8")
    before = {p.name for p in card.parent.iterdir()}
    real_write = os.write

    def disk_fills(fd: int, data: bytes) -> int:  # the first bytes land, then the disk is full
        if len(data) > 16:
            real_write(fd, bytes(data[:16]))
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", disk_fills)
    result = _card(db, "org/child", card)
    monkeypatch.undo()
    _one_line(result, str(card), "no space left", "not changed")
    assert card.read_text(encoding="utf-8") == HAND_WRITTEN
    _no_temp_files(card.parent, before)


@pytest.fixture()
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A 64 KB tmpfs (root only: skipped otherwise)."""
    if os.name != "posix" or os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root; the monkeypatched ENOSPC test covers the rest")
    mount = tmp_path / "tiny"
    mount.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)],
                          capture_output=True, text=True, check=False)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip() or done.returncode}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_full_tmpfs_leaves_the_card_untouched(db: str, tiny_disk: Path) -> None:
    card = tiny_disk / "README.md"
    card.write_text(HAND_WRITTEN, encoding="utf-8")
    with open(tiny_disk / "filler", "wb", buffering=0) as fh:  # fill the disk to the last byte
        try:
            while True:
                fh.write(b"x" * 512)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC
    before = {p.name for p in tiny_disk.iterdir()}
    result = _card(db, "org/child", card)
    _one_line(result, str(card), "no space left", "not changed")
    assert card.read_text(encoding="utf-8") == HAND_WRITTEN
    _no_temp_files(tiny_disk, before)


def test_write_keeps_the_cards_permissions_and_leaves_no_temp_file(db: str, tmp_path: Path) -> None:
    card = tmp_path / "repo" / "README.md"
    card.parent.mkdir()
    card.write_text(HAND_WRITTEN, encoding="utf-8")
    card.chmod(0o640)
    result = _card(db, "org/child", card)
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(card.stat().st_mode) == 0o640
    assert "emissions: 500" in card.read_text(encoding="utf-8")
    assert [p.name for p in card.parent.iterdir()] == ["README.md"]


# -- refusals: one line, quickly, file untouched ------------------------------------------------

def test_symlink_is_not_followed(db: str, tmp_path: Path) -> None:
    blob = tmp_path / "blobs" / "0123abcd"  # a Hub cache: snapshots link to content-addressed blobs
    blob.parent.mkdir()
    blob.write_text(HAND_WRITTEN, encoding="utf-8")
    link = tmp_path / "snapshot" / "README.md"
    link.parent.mkdir()
    link.symlink_to(blob)
    _one_line(_card(db, "org/child", link), str(link), "symbolic link", "content-addressed", "real copy")
    assert blob.read_text(encoding="utf-8") == HAND_WRITTEN and link.is_symlink()


def test_dangling_symlink_is_refused_and_nothing_is_created(db: str, tmp_path: Path) -> None:
    link = tmp_path / "README.md"
    link.symlink_to(tmp_path / "elsewhere" / "missing.md")
    (tmp_path / "elsewhere").mkdir()
    _one_line(_card(db, "org/child", link), str(link), "dangling symbolic link")
    assert link.is_symlink() and not (tmp_path / "elsewhere" / "missing.md").exists()


@pytest.mark.timeout(60)  # opening the FIFO would block forever: this turns a hang into a failure
def test_fifo_is_refused_without_opening_it(db: str, tmp_path: Path) -> None:
    if not hasattr(os, "mkfifo"):
        pytest.skip("no FIFOs on this platform")
    fifo = tmp_path / "README.md"
    os.mkfifo(fifo)
    _one_line(_card(db, "org/child", fifo), str(fifo), "FIFO")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_directory_named_like_the_card_is_refused(db: str, tmp_path: Path) -> None:
    folder = tmp_path / "README.md"
    folder.mkdir()
    _one_line(_card(db, "org/child", folder), str(folder), "directory")
    assert list(folder.iterdir()) == []
    inner = tmp_path / "repo" / "README.md"  # a folder given: its README.md is a directory
    inner.mkdir(parents=True)
    _one_line(_card(db, "org/child", tmp_path / "repo"), str(inner), "directory")
    assert list(inner.iterdir()) == []


def test_device_is_refused(db: str) -> None:
    if not os.path.exists(os.devnull) or not stat.S_ISCHR(os.stat(os.devnull).st_mode):
        pytest.skip("no character device to try")
    _one_line(_card(db, "org/child", Path(os.devnull)), os.devnull, "device")
    assert stat.S_ISCHR(os.stat(os.devnull).st_mode)


def test_non_utf8_card_is_refused(db: str, tmp_path: Path) -> None:
    card = tmp_path / "README.md"
    raw = b"---\nlicense: mit\n---\n# Caf\xe9\n"
    card.write_bytes(raw)
    _one_line(_card(db, "org/child", card), str(card), "not UTF-8", "0xe9", f"offset {raw.index(0xE9)}")
    assert card.read_bytes() == raw


@pytest.mark.timeout(60)
def test_alias_bomb_is_refused(db: str, tmp_path: Path) -> None:
    lines = ["---", 'a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    lines += [f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * 9)}]" for i in range(1, 10)]
    raw = ("\n".join([*lines, "---", "# bomb", ""])).encode()
    card = tmp_path / "README.md"
    card.write_bytes(raw)
    _one_line(_card(db, "org/child", card), str(card), "alias", "not changed")
    assert card.read_bytes() == raw


def test_huge_file_is_refused_without_reading_it(db: str, tmp_path: Path) -> None:
    card = tmp_path / "README.md"
    with open(card, "wb") as fh:  # sparse: a size past the bound costs no disk
        fh.write(b"---\nlicense: mit\n---\n")
        fh.truncate(MAX_CARD_BYTES + 1)
    _one_line(_card(db, "org/child", card), str(card), "larger than")
    assert card.stat().st_size == MAX_CARD_BYTES + 1


def test_unreadable_front_matter_is_refused(db: str, tmp_path: Path) -> None:
    raw = b"---\nlicense: [mit\n---\n# x\n"
    card = tmp_path / "README.md"
    card.write_bytes(raw)
    _one_line(_card(db, "org/child", card), str(card), "YAML", "not changed")
    assert card.read_bytes() == raw


# -- values at the limits ---------------------------------------------------------------------

def test_extreme_but_finite_figures_render(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/s.sqlite"
    with Store(db) as store:
        store.save_run(run_report("org/tiny", energy_kwh=(1e-300, 0.0, 2e-300), carbon_kg=5e-310))
    card = tmp_path / "README.md"
    for fmt in FORMATS:
        result = _card(db, "org/tiny", card, "--format", fmt)
        assert result.exit_code == 0, result.output
        assert frontmatter.read(card.read_text(encoding="utf-8"), "README.md")  # reads back


def test_figures_summing_past_float_range_are_one_line(tmp_path: Path) -> None:
    db = f"sqlite:///{tmp_path}/s.sqlite"
    try:
        runs = [run_report("org/huge", energy_kwh=1.5e308, carbon_kg=1.5e308, started_at=None) for _ in range(2)]
    except (DIAError, ValueError):
        pytest.skip("the report model refuses figures this large: no stored sum can overflow")
    with Store(db) as store:
        store.save_runs(runs)
    card = tmp_path / "README.md"
    card.write_text(HAND_WRITTEN, encoding="utf-8")
    for fmt in FORMATS:
        _one_line(_card(db, "org/huge", card, "--format", fmt), "org/huge", "not a finite number")
        assert card.read_text(encoding="utf-8") == HAND_WRITTEN


def test_model_id_with_markup_is_printed_verbatim(db: str, tmp_path: Path) -> None:
    card = tmp_path / "README.md"
    line = _one_line(_card(db, "org/[bold]x[/bold]", card), "org/[bold]x[/bold]")
    assert "unknown model" in line and not card.exists()


def test_json_output_says_what_was_written(db: str, tmp_path: Path) -> None:
    card = tmp_path / "README.md"
    card.write_text(HAND_WRITTEN, encoding="utf-8")
    first = json.loads(_card(db, "org/child", card, "--json").output)
    again = json.loads(_card(db, "org/child", card, "--json").output)
    assert first["changed"] is True and first["written"] == str(card)
    assert again["changed"] is False  # written twice: nothing changes the second time
    nothing = json.loads(_card(db, "org/base", tmp_path / "b.md", "--json").output)
    assert nothing["empty"] is True and nothing["written"] is None


def test_printing_a_parent_only_model_says_there_is_nothing(db: str) -> None:
    result = CliRunner().invoke(app, ["card", "org/base", "--db", db])
    assert result.exit_code == 0, result.output
    assert "nothing to write for org/base" in result.output and "{}" not in result.output


# -- autofill on upload: the same rules -------------------------------------------------------

@pytest.fixture()
def _autofill_off() -> Iterator[None]:
    yield
    from dia.hub import disable_autofill

    disable_autofill()


@pytest.mark.usefixtures("_autofill_off")
def test_upload_of_a_parent_only_model_keeps_its_card(db: str, fake_hub: Any, hf_api: Any) -> None:
    from dia.hub import enable_autofill

    with Store(db) as store:
        assert store.get_model("org/base") is not None  # known, as a parent only
        enable_autofill(store)
        hf_api.upload_file(path_or_fileobj=b"w", path_in_repo="w.bin", repo_id="org/base")
        hf_api.upload_file(path_or_fileobj=HAND_WRITTEN.encode(), path_in_repo="README.md", repo_id="org/base")
    first, second = fake_hub.commits
    assert first["files"] == {"w.bin": b"w"}  # the Hub has no card: no empty one is added
    assert second["files"] == {"README.md": HAND_WRITTEN.encode()}  # base_model, co2 kept

