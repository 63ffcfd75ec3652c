"""Fill a model card (README.md) with a model's footprint from the store.

The card gets Hub-native fields describing THIS model's own production runs
(``co2_eq_emissions`` in grams, ``base_model``, ``base_model_relation``), DIA's own
``dia:`` block (incremental figures with intervals and quality, factors, relation, and
an optional clearly labelled ``upstream_cumulative`` block) and a short "Environmental
impact" table in the body between markers. Everything else in the card is kept
byte-for-byte, and writing twice changes nothing the second time.

>>> from dia.record.store import Store
>>> from dia.record.report import Energy, Quantity, RunReport
>>> store = Store("sqlite://")
>>> store.save_run(RunReport(model_id="org/tiny", kind="finetuning",
...                          energy=Energy(it_kwh=Quantity.of(0.5, "kWh", "measured"))))
True
>>> card_metadata("org/tiny", store)["dia"]["energy_kwh"]["value"]
0.5
"""

from __future__ import annotations

import errno
import math
import os
import re
import secrets
import stat
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, NamedTuple

from dia.errors import CardError, DIAError
from dia.hub.formats import CardData, dia_block, frontmatter, hf, v01

if TYPE_CHECKING:
    from dia.record.report import RunReport
    from dia.record.store import Store

CardFormat = Literal["hf", "dia-v0.1", "both"]
FORMATS: tuple[str, ...] = ("hf", "dia-v0.1", "both")

SECTION_START = "<!-- dia:environmental-impact:start -->"
SECTION_END = "<!-- dia:environmental-impact:end -->"

# Top-level front-matter keys DIA owns, per format (everything else is left untouched).
_HF_KEYS = hf.KEYS + dia_block.KEYS
_V01_KEYS = v01.KEYS


# -- reading the store ------------------------------------------------------------------------

def _open(store: Store | str | None) -> tuple[Store, bool]:
    from dia.record.store import Store

    if isinstance(store, Store):
        return store, False
    return Store(store, read_only=True), True


def _production_runs(store: Store, model_id: str) -> list[RunReport]:
    """This model's own finished production runs (use runs and live runs excluded)."""
    runs = store.list_runs(model_id=model_id)
    return sorted((r for r in runs if not r.is_use and r.status.value != "running"), key=lambda r: r.id)


def _parents(store: Store, model_id: str, runs: list[RunReport]) -> list[dict[str, Any]]:
    """Parent edges (store first, then runs), in a stable order."""
    found: dict[str, dict[str, Any]] = {}
    for edge in store.edges():
        if edge.child_id == model_id:
            found.setdefault(edge.parent_id, {"model_id": edge.parent_id, "relation": edge.relation,
                                              "method": edge.method})
    for run in runs:
        for p in run.parents:
            found.setdefault(p.model_id, {"model_id": p.model_id, "relation": p.relation.value,
                                          "method": p.method})
    return [found[k] for k in sorted(found)]


def _load(model_id: str, store: Store) -> CardData:
    from dia.errors import UnknownModelError, did_you_mean

    runs = _production_runs(store, model_id)
    parents = _parents(store, model_id, runs)
    if not runs and not parents and store.get_model(model_id) is None:
        hint = did_you_mean(model_id, store.model_ids())
        raise UnknownModelError(f"unknown model {model_id!r}{hint}")
    try:
        return CardData(model_id, runs, parents)
    except DIAError:
        raise
    except (ArithmeticError, ValueError):  # a sum past float range: refused by Quantity, not a crash
        raise _overflow(model_id) from None


def _overflow(model_id: str) -> CardError:
    return CardError(f"{model_id}: the sum of its stored figures is not a finite number; no card written")


def card_metadata(model_id: str, store: Store | str | None = None, *, upstream: bool = False) -> dict[str, Any]:
    """The front-matter fields DIA fills for ``model_id`` (Hub fields plus the ``dia`` block).

    Raises :class:`~dia.errors.UnknownModelError` when the store knows nothing of the model.
    """
    opened, close = _open(store)
    try:
        data = _load(model_id, opened)
        rolled = None
        if upstream and data.parents:
            from dia.aggregate.rollup import rollup

            try:
                rolled = rollup(model_id, scope="upstream", store=opened)
            except DIAError:
                raise
            except (ArithmeticError, ValueError):
                raise _overflow(model_id) from None
            # The card's rounding writes a non-finite figure as 0: refuse it here instead.
            figures = (rolled.energy_kwh, rolled.carbon_kg, rolled.water_l)
            if not all(math.isfinite(x) for f in figures if f is not None for x in (f.value, f.low, f.high)):
                raise _overflow(model_id)
        meta = hf.write(data)
        if data.own.runs:  # a block with no runs would hide the card's own figures from readers
            meta.update(dia_block.write(data, upstream=rolled))
        return meta
    finally:
        if close:
            opened.close()


def v01_metadata(model_id: str, store: Store | str | None = None) -> dict[str, Any]:
    """The ai-impact-accounting v0.1 ``dia_version`` / ``dia_report`` front-matter keys."""
    opened, close = _open(store)
    try:
        data = _load(model_id, opened)
    finally:
        if close:
            opened.close()
    # No runs: no dia_report (an empty one would hide the card's own figures from readers).
    return v01.write(data) if data.own.runs else {}


# -- the card text ------------------------------------------------------------------------------

# Tiers that are DIA's own modelling, not a measurement or the authors' statement.
_ESTIMATED = ("estimated", "imputed")
ESTIMATE_SENTENCE = ("These figures rest at least in part on DIA's estimates (rated power, default factors), "
                     "not only on measurements: read them as estimates, not as a disclosure.")


def _figure(q: dict[str, Any] | None, quantity: str) -> tuple[str, str]:
    """(``"780 g CO2e (570–1,020)"``, quality) of a card figure; the YAML keeps full precision."""
    from dia.show import NOT_DISCLOSED, format_range

    if q is None:
        return NOT_DISCLOSED, ""
    return format_range(q["value"], q["low"], q["high"], quantity), str(q["quality"])


def body_section(meta: dict[str, Any], *, line_break: str = "\n") -> str:
    """The "Environmental impact" section (with its markers) for a card body."""
    from dia.show import NOT_DISCLOSED, evidence, format_range
    from dia.show.format import RANGE_DASH

    block = meta.get("dia", {})
    carbon = block.get("carbon_kg", {})
    water = block.get("water_l", {})
    rows = [("Energy (IT)", _figure(block.get("energy_kwh"), "energy_kwh")),
            ("Carbon, operational", _figure(carbon.get("operational"), "carbon_kg"))]
    if "embodied" in carbon:
        rows.append(("Carbon, embodied", _figure(carbon.get("embodied"), "carbon_kg")))
    rows += [("Carbon, total", _figure(carbon.get("total"), "carbon_kg")),
             ("Water, on-site", _figure(water.get("onsite"), "water_l")),
             ("Water, off-site", _figure(water.get("offsite"), "water_l"))]
    runs = block.get("runs", 0)
    runs = len(runs) if isinstance(runs, list) else runs  # the ids (an old card: a count)
    lines = [SECTION_START, "## Environmental impact", "",
             f"Footprint of the {runs} run{'s' if runs != 1 else ''} that produced this model "
             "(its own, incremental share; ancestors not included), recorded by DIA.", ""]
    qualities = {q for _, (_, q) in rows if q}
    if qualities and qualities <= set(_ESTIMATED):
        # "disclosed" would overstate it. A sum takes its worst part's tier, so an "estimated"
        # total may still hold measured runs: say "at least in part", never "only".
        lines += [ESTIMATE_SENTENCE, ""]
    lines += [f"| Quantity | Value (low{RANGE_DASH}high) | Quality |", "|---|---|---|"]
    lines += [f"| {name} | {v} | {q} |" for name, (v, q) in rows]
    up = block.get("upstream_cumulative")
    if up:
        c = up["carbon_kg"]
        # null: no model disclosed carbon ("not disclosed"), never a zero
        figure = NOT_DISCLOSED if c is None else format_range(c["value"], c["low"], c["high"], "carbon_kg")
        ev = evidence(int(up["members"]), int(up["with_report"]), noun="model")
        lines += ["", f"Cumulative with its ancestors ({ev.badge}): carbon {figure}."]
    lines.append(SECTION_END)
    return line_break.join(lines)


_TOP_KEY = re.compile(r"^([A-Za-z_][^:\s#]*|\"[^\"]+\"|'[^']+')\s*:")


def _drop_keys(yaml_text: str, keys: Iterable[str]) -> str:
    """Remove top-level ``keys`` (with their nested lines) from YAML text, keeping the rest verbatim."""
    wanted = set(keys)
    out: list[str] = []
    dropping = False
    for line in yaml_text.splitlines(keepends=True):
        m = _TOP_KEY.match(line)
        if m:
            dropping = m.group(1).strip("\"'") in wanted
        elif line[:1] not in (" ", "\t", "-", "#", "\r", "\n", ""):
            dropping = False  # something else at column 0 ends a block
        if not dropping:
            out.append(line)
    return "".join(out)


def merge_card(text: str, meta: dict[str, Any], *, owned: Iterable[str] = _HF_KEYS + _V01_KEYS,
               section: bool = True, where: str = "README.md") -> str:
    """Put ``meta`` into the front matter of card ``text`` and the section into its body.

    Other front-matter keys keep their exact text; the body is kept byte-for-byte except
    for the section between DIA's markers (appended at the end the first time).
    """
    import yaml

    line_break = "\r\n" if "\r\n" in text else "\n"
    # The reader's own splitter: the writer replaces exactly what `dia ingest` reads.
    parts = frontmatter.split(text, where)
    if parts is not None:
        try:
            old = frontmatter.load_yaml(parts.yaml, where)
        except CardError as exc:
            detail = str(exc).removeprefix(f"{where}: ")
            if detail.endswith("not a mapping"):
                raise CardError(f"{where}: front matter is not a mapping") from None
            raise CardError(f"{where}: front matter is not valid YAML ({detail})") from None
        # Trailing blank lines before the closing '---' are not kept (nor were they before).
        yaml_text = parts.yaml.rstrip("\r\n")
        kept = _drop_keys(yaml_text + line_break, owned) if yaml_text else ""
        expected = {k: v for k, v in old.items() if k not in set(owned)}
        try:
            ok = (yaml.safe_load(kept) or {}) == expected
        except yaml.YAMLError:
            ok = False
        if not ok:  # unusual layout: fall back to re-dumping the other keys
            kept = frontmatter.dump_yaml(expected, line_break) if expected else ""
        head, body = parts.head, parts.body
    else:
        head, kept, body = "", "", text
    front = frontmatter.join(head, kept + frontmatter.dump_yaml(meta, line_break), "", line_break)
    if section:
        body = _with_section(body, body_section(meta, line_break=line_break), line_break)
    return front + body


def _with_section(body: str, section: str, line_break: str) -> str:
    start, end = body.find(SECTION_START), body.find(SECTION_END)
    if start != -1 and end > start:
        return body[:start] + section + body[end + len(SECTION_END):]
    if not body.strip():
        return line_break + section + line_break
    sep = "" if body.endswith(line_break * 2) else (line_break if body.endswith(line_break) else line_break * 2)
    return body + sep + section + line_break


def card_fields(model_id: str, store: Store | str | None = None, *, format: CardFormat = "hf",
                upstream: bool = False) -> dict[str, Any]:
    """The front-matter keys to write for ``format`` (``hf``, ``dia-v0.1`` or ``both``).

    Only what the store has figures for: no ``dia``/``dia_report`` block for a model without
    runs, no ``base_model`` without lineage (``{}`` when the store has nothing to say).
    Raises :class:`~dia.errors.CardError` when a stored figure is not a finite number.
    """
    if format not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, not {format!r}")
    opened, close = _open(store)
    try:
        meta: dict[str, Any] = {}
        if format in ("hf", "both"):
            meta.update(card_metadata(model_id, opened, upstream=upstream))
        if format in ("dia-v0.1", "both"):
            meta.update(v01_metadata(model_id, opened))
    finally:
        if close:
            opened.close()
    if (where := _not_finite(meta)) is not None:
        # inf/nan would be written as '.inf' and read back as a figure nobody measured.
        raise CardError(f"{model_id}: stored figure {where} is not a finite number; no card written")
    return meta


def _not_finite(data: Any, where: str = "") -> str | None:
    """The dotted key of the first non-finite float in ``data`` (``None`` when all are finite)."""
    if isinstance(data, float):
        return None if math.isfinite(data) else (where or "value")
    items = data.items() if isinstance(data, dict) else enumerate(data) if isinstance(data, list) else ()
    for key, value in items:
        found = _not_finite(value, f"{where}.{key}" if where else str(key))
        if found is not None:
            return found
    return None


def _owned(meta: dict[str, Any]) -> tuple[str, ...]:
    """The card keys ``meta`` replaces: only those the store has figures for (rest kept)."""
    owned: list[str] = [k for k in ("co2_eq_emissions", "dia") if k in meta]
    if "base_model" in meta:  # the lineage pair goes together: a kept relation could contradict it
        owned += ["base_model", "base_model_relation"]
    if "dia_report" in meta:
        owned += list(_V01_KEYS)
    return tuple(owned)


def _render(model_id: str, existing: str | None, *, store: Store | str | None, format: CardFormat,
            upstream: bool, where: str) -> str | None:
    """The filled card, or ``None`` when the store has nothing to write for ``model_id``."""
    from huggingface_hub import ModelCard

    meta = card_fields(model_id, store, format=format, upstream=upstream)
    if not meta:
        return None
    text = existing if existing is not None else blank_card(model_id)
    # The dia-v0.1 format carries no body table: its users' tools render their own. Without
    # runs there is no table at all (never a table of "not disclosed" rows for 0 runs).
    out = merge_card(text, meta, owned=_owned(meta), section=format != "dia-v0.1" and "dia" in meta, where=where)
    try:
        ModelCard(out)  # huggingface_hub must read back what we wrote
    except Exception as exc:  # its own error types vary by version: one line, not a traceback
        from dia.redact import describe_error

        raise CardError(f"{where}: huggingface_hub cannot read the filled card back ({describe_error(exc)})") from None
    return out


def render_card(model_id: str, existing: str | None = None, *, store: Store | str | None = None,
                format: CardFormat = "hf", upstream: bool = False) -> str:
    """The card text: ``existing`` (or a new minimal card) with DIA's fields filled in.

    The card's own keys stay unless the store has figures for them: a model the store knows
    only as a parent keeps its hand-written ``base_model`` and ``co2_eq_emissions``.
    """
    out = _render(model_id, existing, store=store, format=format, upstream=upstream, where="README.md")
    if out is not None:
        return out
    return existing if existing is not None else blank_card(model_id)


def blank_card(model_id: str) -> str:
    """The card DIA starts from when there is none: a title line."""
    return f"# {model_id}\n"


# -- writing the file safely ----------------------------------------------------------------------

# A model card is a few KB: anything larger is not one (and is not read into memory).
MAX_CARD_BYTES = 10_000_000

_SYMLINK_WHY = ("DIA does not write through links: a Hugging Face cache snapshot links to content-addressed "
                "blobs, and writing through the link would corrupt the cache; write to a real copy instead")


class CardWrite(NamedTuple):
    """What :func:`fill_card` did: the card's ``path``, whether the file ``changed``, and
    ``empty`` when the store had nothing to write for the model (the file is left alone)."""

    path: Path
    changed: bool
    empty: bool = False


def _refuse(target: Path, why: str) -> CardError:
    return CardError(f"{target}: {why}; the card was not changed")


def _file_kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO (named pipe)"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def decode_card(data: bytes, where: str | Path) -> str:
    """``data`` as card text; :class:`~dia.errors.CardError` when too large or not UTF-8.

    >>> decode_card(b"---\\nlicense: mit\\n---\\n", "README.md")
    '---\\nlicense: mit\\n---\\n'
    """
    if len(data) > MAX_CARD_BYTES:
        raise CardError(f"{where}: larger than {MAX_CARD_BYTES // 1_000_000} MB, not a model card")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise CardError(f"{where}: not UTF-8 text (byte 0x{data[exc.start]:02x} at offset {exc.start})") from None


def _read_existing(target: Path) -> tuple[str | None, int | None]:
    """The card at ``target`` and its permission bits; ``(None, None)`` when there is none.

    Checks the file type with ``lstat`` before opening: a FIFO is never opened (it would
    block), a symlink never followed.
    """
    try:
        st = os.lstat(target)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        raise _refuse(target, f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    if stat.S_ISLNK(st.st_mode):
        kind = "a symbolic link" if os.path.exists(target) else "a dangling symbolic link"
        raise _refuse(target, f"is {kind}. {_SYMLINK_WHY}")
    if not stat.S_ISREG(st.st_mode):
        raise _refuse(target, f"is {_file_kind(st.st_mode)}, not a card file")
    if st.st_size > MAX_CARD_BYTES:
        raise _refuse(target, f"is larger than {MAX_CARD_BYTES // 1_000_000} MB, not a model card")
    # O_NOFOLLOW/O_NONBLOCK: a file swapped for a link or a FIFO since lstat neither is followed nor blocks.
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_BINARY", 0)
    try:
        fd = os.open(target, flags)
    except OSError as exc:
        raise _refuse(target, f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise _refuse(target, "changed into something other than a regular file while being read")
        chunks, size = [], 0
        while size <= MAX_CARD_BYTES:
            chunk = os.read(fd, 1 << 20)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    except OSError as exc:
        raise _refuse(target, f"cannot be read ({exc.strerror or type(exc).__name__})") from None
    finally:
        os.close(fd)
    try:
        return decode_card(b"".join(chunks), target), stat.S_IMODE(st.st_mode)
    except CardError as exc:
        raise CardError(f"{exc}; the card was not changed") from None


def _write_atomic(target: Path, text: str, mode: int | None) -> None:
    """Write ``text`` to a temporary file beside ``target``, fsync it, rename it over ``target``.

    Readers see the old card or the new one, never a truncated one; on any failure (a full
    disk) the temporary file is removed and ``target`` is untouched.
    """
    data = text.encode("utf-8")
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_BINARY", 0)
    while True:
        tmp = target.with_name(f".{target.name}.{secrets.token_hex(4)}.dia-tmp")
        try:
            fd = os.open(tmp, flags, 0o666)  # a new card gets the umask's permissions
            break
        except FileExistsError:
            continue
        except OSError as exc:
            raise _write_error(target, exc) from None
    try:
        try:
            if mode is not None and hasattr(os, "fchmod"):
                os.fchmod(fd, mode)  # keep the card's own permissions
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, target)  # replaces a link swapped in meanwhile, never writes through it
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise _write_error(target, exc) from None
    _fsync_folder(target.parent)


def _write_error(target: Path, exc: OSError) -> CardError:
    if exc.errno in (errno.ENOSPC, getattr(errno, "EDQUOT", errno.ENOSPC)):
        return _refuse(target, "no space left on the device")
    return _refuse(target, f"cannot be written ({exc.strerror or type(exc).__name__})")


def _fsync_folder(folder: Path) -> None:
    """Make the rename durable (POSIX); best effort: the card is already in place."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _target(path: str | Path) -> Path:
    target = Path(path)
    # A folder holds the README.md; a path ending in .md is the card itself (a folder named
    # README.md is refused, not written into).
    if target.suffix.lower() != ".md" and (target.is_dir() or (not target.suffix and not target.exists())):
        target = target / "README.md"
    return target


def fill_card(model_id: str, path: str | Path, *, store: Store | str | None = None,
              format: CardFormat = "hf", upstream: bool = False) -> CardWrite:
    """Fill (or create) the card at ``path`` safely and say what happened.

    Refuses (:class:`~dia.errors.CardError`, one line, file untouched) a symlink, a FIFO, a
    directory, a device, a file over :data:`MAX_CARD_BYTES`, a non-UTF-8 file and a card whose
    front matter cannot be read. The new card replaces the old one atomically.
    """
    target = _target(path)
    existing, mode = _read_existing(target)
    try:
        text = _render(model_id, existing, store=store, format=format, upstream=upstream, where=str(target))
    except CardError as exc:  # the card on disk cannot be read: leave it as it is
        if existing is None or not str(exc).startswith(f"{target}: "):
            raise
        raise CardError(f"{exc}; the card was not changed") from None
    if text is None:
        return CardWrite(target, changed=False, empty=True)
    if text == existing:  # leave the file (and its mtime) alone when nothing changed
        return CardWrite(target, changed=False)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise _refuse(target, f"its folder cannot be created ({exc.strerror or type(exc).__name__})") from None
    _write_atomic(target, text, mode)
    return CardWrite(target, changed=True)


def write_card(model_id: str, path: str | Path, *, store: Store | str | None = None,
               format: CardFormat = "hf", upstream: bool = False) -> Path:
    """Fill (or create) the card at ``path`` (a README.md, or a folder holding one).

    See :func:`fill_card` for what is refused; the file is replaced atomically.

    >>> write_card("org/tiny", "out/README.md", store=store)  # doctest: +SKIP
    PosixPath('out/README.md')
    """
    return fill_card(model_id, path, store=store, format=format, upstream=upstream).path


__all__ = ["FORMATS", "MAX_CARD_BYTES", "SECTION_END", "SECTION_START", "CardWrite", "blank_card", "body_section", "card_fields",
           "card_metadata", "decode_card", "fill_card", "merge_card", "render_card", "v01_metadata", "write_card"]
