"""Read model cards (and JSONL report files) into the store: ``dia ingest``.

A local card's model id is its folder ``<org>/<name>`` below the ingest root (the layout
of a Hub download; with ``--hub``, the repo id): a card stating another ``model_id`` is
refused, and a second card for a model already read is reported, never silently stored
over the first. A card in the ingest root itself has no folder: its own ``model_id``, else
``model_id=``. FIFOs, devices and symbolic links out of the folder are never read.
Each card becomes at most one run report (``source="card"``, ``meter="card"``, the card's
path relative to the ingest root as ``source_ref``) with a run id derived from the model id,
so ingesting the same card again updates that run instead of adding one. Parents from
``base_model`` become lineage edges. A card that cannot be used is listed with its reason
and skipped; the rest are ingested. A card whose ``co2_eq_emissions`` cannot be read (an
ambiguous unit) but that names its parents is listed too, and its edges are still stored.

>>> import pathlib, tempfile
>>> from dia.record.store import Store
>>> root = pathlib.Path(tempfile.mkdtemp())
>>> (root / "org" / "tiny").mkdir(parents=True)
>>> _ = (root / "org" / "tiny" / "README.md").write_text("---\\nco2_eq_emissions: 500\\n---\\n# Tiny\\n")
>>> summary = ingest([root], store=Store("sqlite://"))
>>> summary.read, summary.ingested, summary.skipped
(1, 1, [])
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dia.errors import CardError, DIAError, HubError, LineageCycleError
from dia.hub.formats import ParsedCard, parse_card_text
from dia.hub.formats.frontmatter import MAX_FRONT_MATTER_BYTES

if TYPE_CHECKING:
    from dia.record.report import RunReport
    from dia.record.store import Store

_BATCH = 500
_REPORT_SUFFIXES = (".jsonl", ".ndjson", ".json")
# Enough of a file to hold the largest front matter we accept; the body is never needed.
_READ_CHARS = MAX_FRONT_MATTER_BYTES + 4096
_READ_BYTES = _READ_CHARS


@dataclass
class IngestSummary:
    """What an ingest did: counts, and every skipped file with its reason."""

    read: int = 0  # cards and report records read
    ingested: int = 0  # of which stored with a footprint (or, for lineage-only cards, their edges)
    lineage_only: int = 0  # cards with parents but no footprint (edges stored, no run)
    empty: list[str] = field(default_factory=list)  # cards with neither footprint nor lineage
    already_tracked: list[str] = field(default_factory=list)  # DIA cards of runs already in the store
    copied: list[str] = field(default_factory=list)  # cards whose figure is their base's, copied: not counted
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None  # an ingest stopped early (Hub offline, rate-limited): what was read is kept

    @property
    def ok(self) -> bool:
        return not self.skipped and self.error is None

    def as_dict(self) -> dict[str, Any]:
        return {"read": self.read, "ingested": self.ingested, "lineage_only": self.lineage_only,
                "empty": self.empty, "already_tracked": self.already_tracked, "copied": self.copied,
                "skipped": [{"file": f, "reason": r} for f, r in self.skipped],
                "warnings": self.warnings, "error": self.error}


# -- reading one card ---------------------------------------------------------------------------

def _read_text(path: Path, where: str) -> str:
    """The first :data:`_READ_BYTES` of a card, as text; one CardError line when it cannot be read.

    Opened without blocking and checked with ``fstat`` before reading: a FIFO, a device or
    a folder named README.md is refused at once instead of hanging or failing later.
    """
    import stat

    from dia.hub.formats.frontmatter import decode

    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0))
    except FileNotFoundError:
        raise CardError(f"{where}: no such file") from None
    except OSError as exc:
        raise CardError(f"{where}: cannot read ({exc.strerror or type(exc).__name__})") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise CardError(f"{where}: not a regular file ({_file_kind(mode)}): not read")
        with os.fdopen(fd, "rb", closefd=False) as fh:
            data = fh.read(_READ_BYTES + 1)
    except OSError as exc:
        raise CardError(f"{where}: cannot read ({exc.strerror or type(exc).__name__})") from None
    finally:
        os.close(fd)
    return decode(data[:_READ_BYTES], where, cut=len(data) > _READ_BYTES)


def _file_kind(mode: int) -> str:
    import stat

    for test, name in ((stat.S_ISFIFO, "a FIFO"), (stat.S_ISDIR, "a folder"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a plain file"


def _folder_model_id(path: Path, root: Path) -> str | None:
    """``<org>/<name>`` (or ``<name>``) of the card's folder below ``root``."""
    try:
        parts = path.parent.relative_to(root).parts
    except ValueError:
        return None
    if not parts:
        return None
    return "/".join(parts[-2:])


def _relative(path: Path, root: Path) -> str:
    # A card is cited by its path below the ingest root: never an absolute local path.
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.name


def read_card(path: str | Path, *, model_id: str | None = None, root: str | Path | None = None) -> ParsedCard:
    """Parse one README.md into a :class:`ParsedCard` (nothing is stored).

    ``root`` (default: the card's folder) decides the folder-derived model id and the
    ``source_ref``. Raises :class:`~dia.errors.CardError` for a card that cannot be used.

    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "README.md"
    >>> _ = p.write_text("---\\nbase_model: org/base\\nco2_eq_emissions: {emissions: 1200, energy_consumed: 3.1}\\n---\\n")
    >>> card = read_card(p, model_id="org/child")
    >>> card.reports[0].energy.it_kwh.value, card.reports[0].carbon.total_kg.value, card.parents[0].model_id
    (3.1, 1.2, 'org/base')
    """
    path = Path(path)
    base = Path(root) if root is not None else path.parent
    where = _relative(path, base)
    folder_id = _folder_model_id(path, base)
    text = _read_text(path, where)
    card = parse_card_text(text, model_id=folder_id or model_id, source_ref=where,
                           model_id_from="its folder" if folder_id else None)
    if card.conflict is not None:
        raise CardError(card.conflict)
    return card


# -- storing -------------------------------------------------------------------------------------

@dataclass
class _Item:
    where: str
    model_id: str
    parents: list[tuple[str, str, str | None]]  # (parent id, relation, method)
    report: RunReport | None  # None: a lineage-only card
    keep_runs: bool = False  # figures refused: keep what an earlier version of the card stored


class _Ingester:
    """Collects parsed cards and stores them in batches, one transaction each.

    Cards take the store's bulk path (:meth:`Store.bulk_save`: multi-row upserts, one
    lineage read per batch) because ``Store.save_runs`` costs a few SQL round trips per
    run: 10x too slow for Hub-scale ingests. Report files (JSONL) go through
    ``Store.save_runs`` unchanged.
    """

    def __init__(self, store: Store, summary: IngestSummary) -> None:
        self.store = store
        self.summary = summary
        self.pending: list[_Item] = []
        self.pending_reports: list[tuple[str, RunReport]] = []
        self._tracked: set[str] | None = None
        self._claimed: dict[str, tuple[str, str]] = {}  # model id -> (origin, where) of its card in this ingest
        # Stored cards with a carbon figure and parents: (card, model, parent ids, carbon kg).
        self._with_bases: list[tuple[str, str, tuple[str, ...], float]] = []

    # -- intake ------------------------------------------------------------------------------

    def card(self, parsed: ParsedCard, origin: str | None = None) -> None:
        """Queue one parsed card; ``origin`` (default: its ``source_ref``) tells two cards apart
        whose paths below two ingest roots are the same."""
        where = parsed.source_ref or "card"
        held = self.held(parsed.run_ids) if parsed.reports and parsed.run_ids else set()
        if parsed.run_ids and len(held) == len(set(parsed.run_ids)):  # DIA's own card of these very runs
            self.summary.already_tracked.append(where)  # (a copy in another folder too: nothing is stored)
            return
        if parsed.conflict is not None:  # it names another model than its folder or Hub repo
            self.skip(where, parsed.conflict)
            return
        if parsed.model_id:
            # Two cards for one model (a/o/x and b/o/x): the first read is kept, the others are
            # refused with a line, never silently replacing it.
            first, first_where = self._claimed.setdefault(parsed.model_id, (origin or where, where))
            if first != (origin or where):
                self.skip(where, f"{parsed.model_id} was already read from {first_where}: "
                                 "two cards for one model, this one is not stored")
                return
        self.summary.warnings.extend(parsed.warnings)
        parents = [(p.model_id, p.relation.value, p.method) for p in parsed.parents]
        if parsed.refused is not None:
            # Figures refused (an ambiguous unit): listed as skipped, the lineage is still stored.
            self.skip(where, parsed.refused)
            self._queue(_Item(where, parsed.model_id or "", parents, None, keep_runs=True))
            return
        if parsed.reports:
            if parsed.run_ids:
                if held:
                    shown = ", ".join(sorted(held)[:3]) + (f" and {len(held) - 3} more" if len(held) > 3 else "")
                    self.skip(where, f"DIA card built from {len(set(parsed.run_ids))} runs, {len(held)} of them "
                                     f"already in the store ({shown}): ingesting it would count them twice")
                    return
                # None of its runs here: read like any other card (another store's card).
            elif parsed.by_dia and parsed.model_id in self.tracked():
                # An old DIA card (a run count, no ids): recognised by its model.
                self.summary.already_tracked.append(where)
                return
            for report in parsed.reports:
                self._queue(_Item(where, report.model_id or "", parents, report))
            return
        if parents and parsed.model_id:
            self._queue(_Item(where, parsed.model_id, parents, None))
            return
        self.summary.empty.append(where)

    def report(self, where: str, report: RunReport) -> None:
        self.pending_reports.append((where, report))
        if len(self.pending_reports) >= _BATCH:
            self._flush_reports()

    def skip(self, where: str, reason: str) -> None:
        # Reasons are one line and start with the file name already; keep just the reason.
        prefix = f"{where}: "
        self.summary.skipped.append((where, reason[len(prefix):] if reason.startswith(prefix) else reason))

    def refuse(self, where: str, exc: Exception) -> None:
        """A card that could not be read: skipped with one line (an unforeseen error included)."""
        if isinstance(exc, DIAError):
            self.skip(where, str(exc))
            return
        from dia.redact import describe_error

        # A value no check foresaw (a report the model refuses): one redacted line, no traceback.
        self.skip(where, f"cannot be read ({describe_error(exc)})")

    def _queue(self, item: _Item) -> None:
        self.pending.append(item)
        if len(self.pending) >= _BATCH:
            self._flush_cards()

    def flush(self) -> None:
        self._flush_cards()
        self._flush_reports()

    # -- what the store already holds --------------------------------------------------------

    def held(self, run_ids: list[str]) -> set[str]:
        """Which of a DIA card's runs this store holds, or will once what was read before is stored."""
        wanted = set(run_ids)
        # Reports read but not yet written count too; no flush, so a DIA card costs one query.
        pending = {report.id for _, report in self.pending_reports if report.id in wanted}
        return pending | self.store.stored_run_ids(sorted(wanted - pending))

    def tracked(self) -> set[str]:
        """Models with runs of their own in this store (not from cards), read once.

        Only for old DIA cards, which name a count of runs instead of their ids: such a card
        of a model with runs of its own here is taken as DIA's card of those runs.
        """
        if self._tracked is None:
            self._tracked = self.store.tracked_model_ids(except_source="card")
        return self._tracked

    # -- writing -----------------------------------------------------------------------------

    def _flush_cards(self) -> None:
        batch, self.pending = self.pending, []
        if not batch:
            return
        from dia.hub.formats import card_run_id
        from dia.record.store import Edge, ModelRecord

        # The card is the authority on the edges it stated before (restate_edges), and an
        # updated card without figures drops the run its previous version gave.
        records = [ModelRecord(
            item.model_id, source="card", restate_edges=True,
            parents=tuple(Edge(item.model_id, p, rel, method, "card") for p, rel, method in item.parents),
            reports=() if item.report is None else (item.report,),
            drop_runs=(card_run_id(item.model_id),) if item.report is None and not item.keep_runs else (),
        ) for item in batch]
        refused = self.store.bulk_save(records, skip_cycles=True)
        for refusal in refused:
            self.skip(batch[refusal.index].where, refusal.reason)
        left_out = {r.index for r in refused}
        accepted = [item for i, item in enumerate(batch) if i not in left_out]
        self._with_bases += [(item.where, item.model_id, tuple(p for p, _, _ in item.parents),
                              item.report.carbon.total_kg.value)
                             for item in accepted if item.parents and item.report is not None
                             and item.report.carbon is not None and item.report.carbon.total_kg.value > 0]
        self.summary.ingested += len(accepted)
        self.summary.lineage_only += sum(1 for i in accepted if i.report is None)

    def finish(self) -> None:
        """Store what is pending, then uncount the figures that are a base's, copied."""
        self.flush()
        self._drop_copied_figures()

    def _drop_copied_figures(self) -> None:
        """A card whose carbon figure equals its base's own total (quantizations and forks
        often carry the base's ``co2_eq_emissions`` block verbatim) states the base's
        footprint, not its own: summing both would count the base twice. Its run is
        dropped (the lineage stays) and a warning names the card and the base. Checked once
        all cards are stored, so a base read after its child is compared too.
        """
        if not self._with_bases:
            return
        import math

        from dia.hub.formats import card_run_id
        from dia.record.store import ModelRecord

        bases = sorted({p for _, _, parents, _ in self._with_bases for p in parents})
        totals = {}
        for start in range(0, len(bases), 500):  # bounded IN lists
            totals.update(self.store.model_totals(bases[start:start + 500]))
        dropped: list[ModelRecord] = []
        for where, model_id, parents, carbon_kg in self._with_bases:
            base = next((p for p in parents if (t := totals.get(p)) is not None and t.discloses("carbon_kg")
                         and math.isclose(t.carbon_kg.value, carbon_kg, rel_tol=1e-9)), None)
            if base is None:
                continue
            self.summary.copied.append(where)
            self.summary.warnings.append(
                f"{where}: carbon {carbon_kg:.6g} kg is its base {base}'s own total, copied: not counted for {model_id}")
            dropped.append(ModelRecord(model_id, source="card", drop_runs=(card_run_id(model_id),)))
        if dropped:
            self.store.bulk_save(dropped, skip_cycles=True)

    def _flush_reports(self) -> None:
        batch, self.pending_reports = self.pending_reports, []
        if not batch:
            return
        self._flush_cards()  # keep the order: cards read before these reports are stored first
        try:
            self.summary.ingested += self.store.save_runs(r for _, r in batch)
        except LineageCycleError:
            # The batch was rolled back: store one by one to find the record(s) closing a cycle.
            for where, report in batch:
                try:
                    self.summary.ingested += int(self.store.save_run(report))  # False: kept as stored
                except LineageCycleError as exc:
                    self.skip(where, str(exc))


def _discover(paths: Iterable[str | Path], refused: list[tuple[str, str]],
              warnings: list[str]) -> Iterator[tuple[str, str]]:
    """(file, its path below the ingest root) for every card and report file under ``paths``.

    Files that must not be read go to ``refused`` as (path below the root, reason): a symbolic
    link out of the folder (not followed: it would read and cite a file the folder does not
    hold), a FIFO or device (reading it would hang), a folder that cannot be listed. Symbolic
    links to folders are not followed (a warning says so): no loops, nothing read twice.
    """
    import stat

    for raw in paths:
        path = os.fspath(raw)
        if not os.path.isdir(path):
            kind = _kind_of(path)
            if kind is not None:
                refused.append((os.path.basename(path), f"not a regular file ({kind}): not read"))
                continue
            yield path, os.path.basename(path)
            continue
        # Plain strings, not Path objects: at 100,000 cards pathlib is a visible cost.
        prefix = len(path.rstrip(os.sep)) + 1
        inside = os.path.realpath(path)

        def unlisted(err: OSError, prefix: int = prefix, top: str = path) -> None:
            rel = (err.filename or top)[prefix:].replace(os.sep, "/") or "."
            refused.append((rel, f"cannot list this folder ({err.strerror or type(err).__name__})"))

        for folder, dirs, files in os.walk(path, onerror=unlisted):
            rel = folder[prefix:].replace(os.sep, "/")
            kept = []
            for d in sorted(dirs):
                if d.startswith("."):  # .git, .cache
                    continue
                if os.path.islink(os.path.join(folder, d)):
                    warnings.append(f"{rel}/{d}" if rel else d)
                    continue
                kept.append(d)
            dirs[:] = kept
            for name in sorted(files):
                low = name.lower()
                if not (low == "readme.md" or low.endswith((".jsonl", ".ndjson"))):
                    continue
                full, where = os.path.join(folder, name), f"{rel}/{name}" if rel else name
                try:
                    mode = os.lstat(full).st_mode
                except OSError as exc:
                    refused.append((where, f"cannot read ({exc.strerror or type(exc).__name__})"))
                    continue
                if stat.S_ISLNK(mode) and not _within(os.path.realpath(full), inside):
                    refused.append((where, "symbolic link to a file outside the folder: not followed"))
                    continue
                kind = _kind_of(full)
                if kind is not None:
                    refused.append((where, f"not a regular file ({kind}): not read"))
                    continue
                yield full, where


def _within(target: str, folder: str) -> bool:
    try:
        return os.path.commonpath([folder, target]) == folder
    except ValueError:  # another drive (Windows)
        return False


def _kind_of(path: str) -> str | None:
    """``None`` for a regular file (or one that cannot be stat'ed: reading it says why), else its kind."""
    import stat

    try:
        mode = os.stat(path).st_mode
    except OSError:
        return None
    return None if stat.S_ISREG(mode) else _file_kind(mode)


def _open_store(store: Store | str | None) -> tuple[Store, bool]:
    from dia.record.store import Store

    if isinstance(store, Store):
        return store, False
    return Store(store), True


def ingest(paths: Iterable[str | Path], *, store: Store | str | None = None,
           model_id: str | None = None) -> IngestSummary:
    """Ingest README.md cards, folders of them (recursively) and JSONL report files.

    ``store`` is a :class:`~dia.record.store.Store`, a database URL, or ``None`` for the
    default store. ``model_id`` names the model of a card that names none and sits
    directly in the ingest root (a single file).
    """
    from dia.record.files import read_reports

    summary = IngestSummary()
    opened, close = _open_store(store)
    ingester = _Ingester(opened, summary)
    try:
        refused: list[tuple[str, str]] = []
        linked: list[str] = []
        found = list(_discover(paths, refused, linked))
        for where, reason in refused:
            ingester.skip(where, reason)
        summary.warnings += [f"{where}: symbolic link to a folder: not followed" for where in linked]
        # Report files first: a DIA card beside the JSONL of its own runs must find them.
        for path, where in found:
            if path.lower().endswith(_REPORT_SUFFIXES):
                _ingest_report_file(Path(path), where, ingester, read_reports)
        for path, where in found:
            if path.lower().endswith(_REPORT_SUFFIXES):
                continue
            summary.read += 1
            folder = where.rpartition("/")[0]
            # <org>/<name> of the card's folder below the root, else the caller's model id:
            # the folder is the model's id whatever the card states (see parse_metadata); the
            # caller's id only names a card that names none.
            mid = "/".join(folder.split("/")[-2:]) if folder else model_id
            source = "its folder" if folder else None
            try:
                parsed = parse_card_text(_read_text(Path(path), where), model_id=mid, source_ref=where,
                                         model_id_from=source)
            except Exception as exc:  # one bad card never stops an ingest (see _Ingester.refuse)
                ingester.refuse(where, exc)
                continue
            ingester.card(parsed, origin=path)
        ingester.finish()
    finally:
        if close:
            opened.close()
    return summary


def _ingest_report_file(path: Path, where: str, ingester: _Ingester, read_reports: Any) -> None:
    # As `dia import`: inconsistent records are refused by the reader, and energy-only
    # reports get carbon and water from the tracker's conversion before they are stored.
    from dia.convert.complete import convert_if_missing
    from dia.record.files import first_problem, prepared

    try:
        for record in read_reports(path):
            ingester.summary.read += 1
            record = prepared(record, convert_if_missing)
            if record.report is None:
                ingester.skip(where, first_problem(record))
            else:
                ingester.report(record.where, record.report)
    except DIAError as exc:
        ingester.skip(where, str(exc))


def ingest_texts(cards: Iterable[tuple[str, str | None, str] | tuple[str, str | None, str, list[str] | None]], *,
                 store: Store | str | None = None, summary: IngestSummary | None = None) -> IngestSummary:
    """Ingest cards given as ``(source_ref, model_id, text)`` or ``(source_ref, model_id, text, files)``
    (used for Hub downloads; ``files``, the repo's file names or ``None``, is evidence for a relation
    the card does not state).

    A :class:`~dia.errors.HubError` raised while iterating ``cards`` stops the ingest: what
    was read before it is stored, and the error is kept in ``summary.error``.
    """
    summary = summary if summary is not None else IngestSummary()
    opened, close = _open_store(store)
    ingester = _Ingester(opened, summary)
    try:
        try:
            for card in cards:
                where, mid, text = card[0], card[1], card[2]
                files = card[3] if len(card) > 3 else None
                summary.read += 1
                # The Hub repo's id is the model's id, whatever the card states.
                try:
                    parsed = parse_card_text(text[:_READ_CHARS], model_id=mid, source_ref=where, files=files,
                                             model_id_from="its Hub repo" if mid else None)
                except Exception as exc:  # one bad card never stops an ingest (see _Ingester.refuse)
                    ingester.refuse(where, exc)
                    continue
                ingester.card(parsed)
        except HubError as exc:
            summary.error = str(exc)
        ingester.finish()
    finally:
        if close:
            opened.close()
    return summary


def ingest_hub(repo_ids: Iterable[str], *, families: Iterable[str] = (), store: Store | str | None = None,
               endpoint: str | None = None, token: str | bool | None = None,
               on_progress: Callable[[int, int], None] | None = None) -> IngestSummary:
    """Download the README.md of each Hub repo (and of each family member) and ingest it.

    Offline or rate-limited: what was downloaded is kept and ``summary.error`` says why it stopped.
    ``on_progress(done, total)`` follows the downloads (nothing is printed here).
    """
    from dia.hub.hub_fetch import iter_hub_cards

    summary = IngestSummary()
    cards = iter_hub_cards(list(repo_ids), families=list(families), endpoint=endpoint, token=token,
                           on_progress=on_progress, on_missing=lambda ref, why: summary.skipped.append((ref, why)),
                           with_files=True)
    return ingest_texts(cards, store=store, summary=summary)


__all__ = ["IngestSummary", "ParsedCard", "ingest", "ingest_hub", "ingest_texts", "read_card"]
