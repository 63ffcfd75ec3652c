"""Download model cards from the Hugging Face Hub for ``dia ingest --hub``.

``--family BASE`` walks the model tree with ``list_models(filter="base_model:<id>")``
(breadth first: children, their children, ...). Each README.md is fetched with
``hf_hub_download`` (so a cached card is reused offline). Being offline or rate-limited
raises :class:`~dia.errors.HubError` with a clear message; the cards yielded before it
have already been handed to the caller, so partial progress is kept. Nothing is printed:
progress goes to the caller's ``on_progress(done, total)`` (the CLI draws a bar with it).

>>> seen = []
>>> cards = iter_hub_cards(["org/model"], on_progress=lambda done, total: seen.append(done))
>>> seen  # a lazy iterator: nothing fetched yet
[]
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from dia.errors import CardError, HubError
from dia.hub.formats.frontmatter import MAX_FRONT_MATTER_BYTES, decode

# A family walk stops here: the largest Hub families have tens of thousands of members.
MAX_FAMILY_MODELS = 100_000
# Enough of a card for the largest front matter read; the body is never needed.
_READ_BYTES = MAX_FRONT_MATTER_BYTES + 100_000


def _status(exc: BaseException) -> int | None:
    response = getattr(exc, "response", None)
    code = getattr(response, "status_code", None)
    return int(code) if isinstance(code, int) else None


def _chain(exc: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    cur: BaseException | None = exc
    while cur is not None and id(cur) not in seen:
        seen.add(id(cur))
        yield cur
        cur = cur.__cause__ or cur.__context__


def _hub_error(exc: BaseException, endpoint: str, done: int, total: int | None, what: str) -> HubError | None:
    """A clear HubError for offline / rate-limit / unreachable, else None (a per-repo problem)."""
    from huggingface_hub.errors import OfflineModeIsEnabled

    progress = f"after {done} of {total} card(s)" if total is not None else f"after {done} card(s)"
    kept = f"{progress}; those are kept"
    for err in _chain(exc):
        if isinstance(err, OfflineModeIsEnabled):
            return HubError(f"{what}: offline (HF_HUB_OFFLINE is set), {kept}; unset it or use a local download")
        code = _status(err)
        if code == 429:
            return HubError(f"{what}: rate-limited by {endpoint} (HTTP 429) {kept}; retry later or log in")
        if code is not None and code >= 500:
            return HubError(f"{what}: {endpoint} answered HTTP {code} {kept}; retry later")
        name = type(err).__name__
        if name in ("ConnectError", "ConnectTimeout", "ReadTimeout", "TimeoutException", "ConnectionError",
                    "NetworkAccessError", "gaierror"):
            return HubError(f"{what}: cannot reach {endpoint} ({name}) {kept}")
    return None


def _endpoint(endpoint: str | None) -> str:
    from huggingface_hub import constants

    return (endpoint or constants.ENDPOINT).rstrip("/")


def family_members(api: Any, bases: list[str], endpoint: str) -> list[str]:
    """``bases`` and every model below them in the Hub's model tree, breadth first."""
    seen: dict[str, None] = dict.fromkeys(bases)
    frontier = list(bases)
    while frontier and len(seen) < MAX_FAMILY_MODELS:
        nxt = []
        for base in frontier:
            try:
                for info in api.list_models(filter=f"base_model:{base}"):
                    if info.id not in seen:
                        seen[info.id] = None
                        nxt.append(info.id)
            except Exception as exc:  # classified below, re-raised otherwise
                err = _hub_error(exc, endpoint, 0, None, f"listing the family of {base}")
                raise (err or HubError(f"listing the family of {base}: {_one_line(exc)}")) from None
        frontier = nxt
    return list(seen)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__


def repo_files(api: Any, repo: str) -> list[str] | None:
    """The file names of a Hub model repo (one request), or ``None`` when they cannot be listed.

    Evidence for a relation the card does not state (``*.gguf``, ``adapter_config.json``);
    a failure here never costs the card, so every error is swallowed.
    """
    try:
        info = api.model_info(repo, files_metadata=False)
    except Exception:  # listing is optional evidence: the card is read without it
        return None
    siblings = getattr(info, "siblings", None)
    if not siblings:
        return None
    return [s.rfilename for s in siblings if isinstance(getattr(s, "rfilename", None), str)]


def iter_hub_cards(repo_ids: list[str], *, families: list[str] | None = None, endpoint: str | None = None,
                   token: str | bool | None = None, on_progress: Callable[[int, int], None] | None = None,
                   on_missing: Callable[[str, str], None] | None = None,
                   with_files: bool = False) -> Iterator[Any]:
    """Yield ``(source_ref, model_id, card_text)`` for each repo (and each family member).

    With ``with_files=True`` each item has a fourth element, the repo's file names (one extra
    request per repo, see :func:`repo_files`; ``None`` when they could not be listed).

    A repo that does not exist is reported to ``on_missing`` and skipped; a repo without a
    README.md yields an empty card. ``on_progress(done, total)`` is called once the repos
    are known (``done=0``) and after each repo. Offline, rate-limited or unreachable:
    raises :class:`~dia.errors.HubError`.
    """
    from huggingface_hub import HfApi
    from huggingface_hub.errors import (
        GatedRepoError,
        RemoteEntryNotFoundError,
        RepositoryNotFoundError,
    )

    base = _endpoint(endpoint)
    api = HfApi(endpoint=base, token=token)
    wanted: dict[str, None] = dict.fromkeys(repo_ids)
    if families:
        for member in family_members(api, list(families), base):
            wanted.setdefault(member, None)
    repos = list(wanted)
    total = len(repos)
    _report(on_progress, 0, total)
    for done, repo in enumerate(repos):
        ref = f"hub:{repo}/README.md"
        try:
            path = api.hf_hub_download(repo, "README.md")
        except RemoteEntryNotFoundError:
            _report(on_progress, done + 1, total)
            # No README.md: nothing to read, not an error (and no lineage to infer: no file list).
            yield (ref, repo, "", None) if with_files else (ref, repo, "")
            continue
        except RepositoryNotFoundError as exc:  # GatedRepoError is a subclass
            reason = "gated repository (log in and accept its terms)" if isinstance(exc, GatedRepoError) \
                else "repository not found (or private)"
            _missing(on_missing, ref, reason)
            _report(on_progress, done + 1, total)
            continue
        except Exception as exc:  # classified below: Hub-wide problems stop, others skip the repo
            err = _hub_error(exc, base, done, total, f"downloading {repo}")
            if err is not None:
                raise err from None
            _missing(on_missing, ref, _one_line(exc))
            _report(on_progress, done + 1, total)
            continue
        try:
            with open(path, "rb") as fh:
                data = fh.read(_READ_BYTES + 1)
            # Not UTF-8 is refused as for a local card (never read with replaced bytes).
            text = decode(data[:_READ_BYTES], ref, cut=len(data) > _READ_BYTES)
        except OSError as exc:  # a cache file gone or unreadable: skip this repo, one line
            _missing(on_missing, ref, f"cannot read the downloaded card ({exc.strerror or type(exc).__name__})")
            _report(on_progress, done + 1, total)
            continue
        except CardError as exc:
            _missing(on_missing, ref, str(exc).removeprefix(f"{ref}: "))
            _report(on_progress, done + 1, total)
            continue
        if with_files:
            files = repo_files(api, repo)
            _report(on_progress, done + 1, total)
            yield ref, repo, text, files
            continue
        _report(on_progress, done + 1, total)
        yield ref, repo, text


def _missing(on_missing: Callable[[str, str], None] | None, ref: str, reason: str) -> None:
    if on_missing is not None:
        on_missing(ref, reason)


def _report(on_progress: Callable[[int, int], None] | None, done: int, total: int) -> None:
    if on_progress is not None:
        on_progress(done, total)


__all__ = ["MAX_FAMILY_MODELS", "family_members", "iter_hub_cards", "repo_files"]
