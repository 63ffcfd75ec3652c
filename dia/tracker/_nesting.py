"""Nested runs: a run started inside another run is a *window* of it, never a second measurement.

Two runs of one process tree measure the same hardware (the NVML counter is the whole
GPU's, the host estimate covers the process tree), so storing both would count every
joule twice. The rule:

* in one process, a run started while another is active is a window of the innermost
  active run (:func:`find_outer` with ``current_run()``);
* across processes, every run that is not itself a window exports its id and a private
  directory to its children (``DIA_OUTER_RUN``, ``DIA_WINDOWS_DIR``, see
  :mod:`dia.settings`); ``dia run`` is such a run. A run started in a child that has them,
  the directory still there, is a window: it leaves its report in the directory (one JSON
  file per window, written to a temporary name and renamed) at its checkpoints and at stop.

A window measures its own span with its own meters, is not saved to the store, and its
report says so (``extra["window_of"]``). The outer run takes its windows in at its
checkpoints and at stop: each becomes a phase (with the window's phases under it), the
outer adopts the window's model id, parents and kind when it has none, and each workload
counter it did not count itself. Phases never add to totals: each joule is counted once.

>>> from dia.record.report import RunKind
>>> phase_name(RunKind.FINETUNING, rank=1, world_size=2)
'finetuning@rank 1'
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING

from dia import settings
from dia.errors import InvalidSettingError
from dia.record.report import Phase, RunKind, RunReport, RunStatus
from dia.redact import describe_error

if TYPE_CHECKING:  # pragma: no cover
    from dia.tracker._build import RunSnapshot
    from dia.tracker._run import Run

WINDOW_SUFFIX = ".json"
_COUNTERS = ("steps", "samples", "tokens", "inferences")


def phase_name(kind: RunKind, *, rank: int, world_size: int) -> str:
    """The phase a window becomes: its kind, plus ``@rank N`` in a distributed job."""
    return f"{kind.value}@rank {rank}" if world_size > 1 else kind.value


def window_note(outer_id: str) -> str:
    return f"measured as a window of run {outer_id}: counted there, once"


@dataclass
class Outer:
    """The run a window belongs to: a run of this process, or a directory another process reads."""

    run_id: str
    run: Run | None = None
    directory: Path | None = None
    # The outer run's open phases when the window started ("eval"): its phase goes under them.
    prefix: str = ""

    def publish(self, report: RunReport) -> bool:
        """Hand ``report`` to the outer run; ``False`` when the outer run has ended."""
        if self.run is not None:
            return self.run._windows.take(report, from_run=self.run, prefix=self.prefix)
        assert self.directory is not None
        if not _owner_alive(self.directory):  # killed without closing its directory
            return False
        return _write_atomically(self.directory, report)


def find_outer(current: Run | None) -> tuple[Outer | None, str | None]:
    """The run a run starting now is a window of (``None``: a run of its own), and a note.

    ``current`` is this process's innermost active run. A forked child inherits its
    parent's run objects, so only a run started by this very process counts; the child
    finds its outer run through the exported variables instead.
    """
    if current is not None and current.is_active and current._pid == os.getpid():
        return Outer(current.id, run=current, prefix="/".join(current._phase_stack)), None
    try:
        exported = settings.outer_run()
    except InvalidSettingError as exc:  # a variable set by hand: measure on our own, and say why
        return None, f"{exc}: measured as a run of its own"
    if exported is None:
        return None, None
    run_id, directory = exported
    path = Path(directory)
    if path.is_dir() and _owner_alive(path):
        return Outer(run_id, directory=path), None
    # Gone, or never here: a task another node started with this environment (srun copies it).
    return None, (f"started inside run {run_id}, whose windows directory is not on this machine (that run has "
                  f"ended, or runs on another node): measured as a run of its own")


_PREFIX = "dia-windows-"


def _owner_alive(directory: Path) -> bool:
    """Whether the process that made ``directory`` (its pid is in the name) still runs."""
    pid_text = directory.name[len(_PREFIX):].split("-", 1)[0] if directory.name.startswith(_PREFIX) else ""
    if not pid_text.isdigit():
        return True  # not ours to judge: the directory's presence says it
    try:
        import psutil

        return bool(psutil.pid_exists(int(pid_text)))
    except Exception:  # no answer: trust the directory
        return True


def _write_atomically(directory: Path, report: RunReport) -> bool:
    # Written under a temporary name, then renamed: the outer run never reads half a file.
    # Once the outer has closed its directory (renamed it away), both steps fail: ended.
    final = directory / f"{report.id}{WINDOW_SUFFIX}"
    tmp = directory / f".{report.id}.{os.getpid()}.{threading.get_ident()}.tmp"
    try:
        tmp.write_text(report.to_json(), encoding="utf-8")
        os.replace(tmp, final)
    except OSError:
        try:
            tmp.unlink()
        except OSError:
            pass
        return False
    return True


@dataclass
class Windows:
    """The windows an outer run has taken in, and the directory its children write to."""

    reports: dict[str, RunReport] = field(default_factory=dict)
    prefixes: dict[str, str] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    directory: Path | None = None
    closed: bool = False
    _env_before: dict[str, str | None] | None = None
    _exported: dict[str, str] = field(default_factory=dict)
    # (mtime, size) of each window file when last read: an unchanged file is not parsed again.
    _seen: dict[str, tuple[int, int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def export(self, run_id: str) -> None:
        """Create the private directory and export it, with ``run_id``, to child processes."""
        # The pid in the name lets a window tell an outer run killed without cleaning up.
        directory = Path(tempfile.mkdtemp(prefix=f"{_PREFIX}{os.getpid()}-"))
        self.directory = directory
        self._exported = settings.outer_run_env(run_id, str(directory))
        self._env_before = {name: os.environ.get(name) for name in self._exported}
        os.environ.update(self._exported)

    def take(self, report: RunReport, *, from_run: Run, prefix: str = "") -> bool:
        """Keep a window's latest report; ``False`` once the outer run has stopped."""
        with from_run._lock:
            if not from_run.is_active:
                return False
            with self._lock:
                self.reports[report.id] = _compact(report)
                self.prefixes[report.id] = prefix
            return True

    def collect(self) -> None:
        """Read the windows child processes left in the directory (unreadable ones: a note)."""
        if self.directory is not None and not self.closed:
            self._read(self.directory)

    def close(self) -> None:
        """Take the last windows in, remove the directory and restore the environment (once)."""
        if self.closed:
            return
        self.closed = True
        self._restore_env()
        directory = self.directory
        if directory is None:
            return
        # Renamed first: a window writing after this finds no directory and knows its outer
        # run has ended, instead of writing a file nobody reads.
        closing = directory.with_name(directory.name + ".closed")
        try:
            os.replace(directory, closing)
        except OSError:
            closing = directory
        self._read(closing)
        shutil.rmtree(closing, ignore_errors=True)

    def _read(self, directory: Path) -> None:
        from dia.errors import DIAError
        from dia.record.report import parse_report

        try:
            paths = sorted(p for p in directory.iterdir() if p.name.endswith(WINDOW_SUFFIX))
        except OSError:
            return
        for path in paths:
            try:
                st = path.stat()
            except OSError:
                continue
            if self._seen.get(path.name) == (st.st_mtime_ns, st.st_size):
                continue
            self._seen[path.name] = (st.st_mtime_ns, st.st_size)
            try:
                report = parse_report(path.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, DIAError) as exc:
                self._note(f"window file {path.name} could not be read, skipped ({describe_error(exc, limit=160)})")
                continue
            with self._lock:
                self.reports[report.id] = _compact(report)

    def _note(self, text: str) -> None:
        with self._lock:
            if text not in self.notes:
                self.notes.append(text)

    def _restore_env(self) -> None:
        for name, value in self._exported.items():
            if os.environ.get(name) != value:
                continue  # changed since by someone else: theirs now
            before = (self._env_before or {}).get(name)
            if before is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = before

    def snapshot(self) -> tuple[list[tuple[RunReport, str]], list[str]]:
        """The windows (each with the outer's phase path it started in), oldest first; notes."""
        with self._lock:
            ordered = sorted(self.reports.values(), key=_start_key)
            return [(r, self.prefixes.get(r.id, "")) for r in ordered], list(self.notes)


def _compact(report: RunReport) -> RunReport:
    # The outer keeps what becomes its phases and counters, not the window's power trace.
    return report.model_copy(update={"power_samples": []}) if report.power_samples else report


def _start_key(report: RunReport) -> tuple[str, str]:
    return (report.started_at.isoformat() if report.started_at else "", report.id)


def apply_windows(snap: RunSnapshot, placed: list[tuple[RunReport, str]], notes: list[str]) -> RunSnapshot:
    """``snap`` with its windows taken in: phases, identity when it has none, counters.

    ``placed``: each window with the path of the outer's phases open when it started.
    """
    if not placed and not notes:
        return snap
    windows = [w for w, _ in placed]
    phases = list(snap.phases)
    used: dict[str, int] = {}
    for w, prefix in placed:
        base = "/".join(filter(None, [prefix, phase_name(w.kind, rank=w.rank, world_size=w.world_size)]))
        used[base] = used.get(base, 0) + 1
        name = base if used[base] == 1 else f"{base} ({used[base]})"
        phases += _phases_of(w, name)
    model_id, parents, kind = snap.model_id, list(snap.parents), snap.kind
    if model_id is None:
        first = next((w for w in windows if w.model_id is not None), None)
        if first is not None:
            model_id = first.model_id
            parents = parents or list(first.parents)
    if kind is RunKind.OTHER:
        kind = next((w.kind for w in windows if w.kind is not RunKind.OTHER), kind)
    counts = dict(snap.counts)
    workers = _workload_windows(windows)
    for name in _COUNTERS:
        if not counts.get(name):
            counts[name] = sum(getattr(w.workload, name) or 0 for w in workers)
    extra_notes = list(notes)
    if windows:
        extra_notes.append(f"{len(windows)} run(s) started inside this run were measured as windows of it "
                           f"(phases {', '.join(_top_names(placed))}): "
                           f"their energy is in this run's totals once")
    for w in windows:
        if w.status is RunStatus.RUNNING:
            extra_notes.append(f"window {w.id} was still running when last seen: its phase holds its energy up to "
                               f"its last checkpoint")
    all_notes = [*snap.notes, *(n for n in extra_notes if n not in snap.notes)]
    return replace(snap, phases=phases, model_id=model_id, parents=parents, kind=kind, counts=counts,
                   notes=all_notes)


def _workload_windows(windows: list[RunReport]) -> list[RunReport]:
    """The windows whose counters make the workload: a distributed job's is its lowest rank's.

    As when the ranks' stored runs are merged into one logical run (rank 0's workload): the
    ranks of one job count the same steps, adding them would count the job N times.
    """
    lowest: dict[str, RunReport] = {}
    alone: list[RunReport] = []
    for w in windows:
        if w.world_size <= 1:
            alone.append(w)
            continue
        key = w.run_group or ""
        if key not in lowest or w.rank < lowest[key].rank:
            lowest[key] = w
    return [*alone, *lowest.values()]


def _top_names(placed: list[tuple[RunReport, str]]) -> list[str]:
    return sorted({phase_name(w.kind, rank=w.rank, world_size=w.world_size) for w, _ in placed})


def _phases_of(window: RunReport, name: str) -> list[Phase]:
    from datetime import datetime, timezone

    started = window.started_at or datetime.now(timezone.utc)
    top = Phase(name=name, started_at=started, ended_at=window.ended_at, duration_s=window.duration_s,
                energy_kwh=window.energy.it_kwh)
    inner = [p.model_copy(update={"name": f"{name}/{p.name}"}) for p in window.phases]
    return [top, *inner]


def window_extra(report: RunReport, outer_id: str) -> RunReport:
    """The window's report, labelled: ``extra["window_of"]`` and a note."""
    note = window_note(outer_id)
    notes = report.notes if note in report.notes else [*report.notes, note]
    return report.model_copy(update={"extra": {**report.extra, "window_of": outer_id}, "notes": notes})
