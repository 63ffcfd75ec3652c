"""Fill the model card automatically on every upload through huggingface_hub.

huggingface_hub has no pre-upload hook, but every upload path (``upload_file``,
``upload_folder``, ``push_to_hub`` of transformers, ``Trainer`` and
``PyTorchModelHubMixin``) ends in ``HfApi.create_commit``. :func:`enable_autofill` wraps
that method: a commit to a model repo the store knows gets a README.md operation holding
the filled card, in the same commit. The README comes from the commit itself when it has
one, else from the repo (when it has none, a new card is written). The repo being
unknown to the store leaves the commit untouched, and any failure inside DIA is a
:class:`~dia.errors.DIAWarning`: the upload always goes ahead.

>>> from dia.hub import enable_autofill
>>> enable_autofill()                      # doctest: +SKIP
>>> HfApi().upload_folder(repo_id="me/tiny", folder_path="out")  # README filled # doctest: +SKIP

``DIA_HUB_AUTOFILL=1`` switches it on when huggingface_hub is imported (see
:func:`install_env_hook`).
"""

from __future__ import annotations

import functools
import importlib
import importlib.abc
import importlib.machinery
import sys
import threading
import warnings
from types import ModuleType
from typing import TYPE_CHECKING, Any

from dia import settings
from dia.errors import InvalidSettingError

if TYPE_CHECKING:
    from dia.hub.card import CardFormat
    from dia.record.store import Store

_lock = threading.Lock()
_original: Any = None  # HfApi.create_commit before wrapping
_module_functions: dict[tuple[str, str], Any] = {}  # huggingface_hub.create_commit & co. before rebinding
_options: dict[str, Any] = {}
_FETCH_TIMEOUT_S = 10.0
# Everything else patched is public (HfApi.create_commit, huggingface_hub.create_commit).
_PRIVATE_PIPELINE = ("huggingface_hub._upload_pipeline", "pipelined_upload")


def is_enabled() -> bool:
    """True while uploads are being filled."""
    return _original is not None


def enable_autofill(store: Store | str | None = None, *, format: CardFormat = "hf",
                    upstream: bool = False) -> None:
    """Fill README.md in every model-repo commit made through huggingface_hub.

    ``store`` defaults to the store in use at upload time (``DIA_DATABASE_URL`` or the
    embedded one). Calling it again only updates the options.
    """
    from huggingface_hub import hf_api

    _options.update(store=store, format=format, upstream=upstream)
    _patch(hf_api)


def _patch(hf_api: ModuleType) -> None:
    global _original
    with _lock:
        if _original is not None:
            return
        _original = hf_api.HfApi.create_commit
        hf_api.HfApi.create_commit = _wrap(_original)
        # The one private API patched (see _PRIVATE_PIPELINE): with hf_xet installed,
        # upload_folder streams through this pipeline instead of create_commit, and no public
        # hook sees its operations. It is imported at call time, so patching the module works;
        # tests/hub/test_autofill.py pins this to the huggingface_hub versions checked.
        module_name, attr = _PRIVATE_PIPELINE
        try:
            pipeline = importlib.import_module(module_name)
        except ImportError:  # older huggingface_hub: everything goes through create_commit
            pass
        else:
            _module_functions[_PRIVATE_PIPELINE] = getattr(pipeline, attr)
            setattr(pipeline, attr, _wrap_pipeline(getattr(pipeline, attr)))
    _rebind_module_functions()


def disable_autofill() -> None:
    """Stop filling cards; uploads go through huggingface_hub unchanged."""
    global _original
    with _lock:
        if _original is None:
            return
        from huggingface_hub import hf_api

        hf_api.HfApi.create_commit = _original  # type: ignore[method-assign]
        _original = None
        for (module_name, attr), value in list(_module_functions.items()):
            setattr(sys.modules[module_name], attr, value)
        _module_functions.clear()


def _rebind_module_functions() -> None:
    """``huggingface_hub.create_commit`` is bound to a default HfApi at import: rebind it."""
    for module_name in ("huggingface_hub.hf_api", "huggingface_hub"):
        module = sys.modules.get(module_name)
        current = getattr(module, "create_commit", None)
        owner = getattr(current, "__self__", None)
        if module is not None and owner is not None:
            _module_functions[(module_name, "create_commit")] = current
            module.create_commit = owner.create_commit  # type: ignore[attr-defined]


def _fill(api: Any, repo_id: str, repo_type: str | None, operations: list[Any], kwargs: dict[str, Any]) -> list[Any]:
    """``operations`` with the card filled in; unchanged (with a DIAWarning) if DIA fails."""
    if repo_type not in (None, "model"):
        return operations
    try:
        return _with_card(api, repo_id, operations, kwargs)
    except Exception as exc:  # never let DIA break an upload
        from dia.errors import DIAWarning

        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        warnings.warn(DIAWarning(f"DIA could not fill the model card of {repo_id}: {first}"), stacklevel=4)
        return operations


def _wrap(original: Any) -> Any:
    @functools.wraps(original)
    def create_commit(self: Any, repo_id: str, operations: Any, *args: Any, **kwargs: Any) -> Any:
        operations = _fill(self, repo_id, kwargs.get("repo_type"), list(operations), kwargs)
        return original(self, repo_id, operations, *args, **kwargs)

    create_commit.__dia_autofill__ = True  # type: ignore[attr-defined]
    return create_commit


def _wrap_pipeline(original: Any) -> Any:
    @functools.wraps(original)
    def pipelined_upload(api: Any, *, repo_id: str, repo_type: str, add_operations: list[Any],
                         delete_operations: list[Any], **kwargs: Any) -> Any:
        from huggingface_hub import CommitOperationAdd

        ops = _fill(api, repo_id, repo_type, [*delete_operations, *add_operations], kwargs)
        adds = [op for op in ops if isinstance(op, CommitOperationAdd)]
        return original(api, repo_id=repo_id, repo_type=repo_type, add_operations=adds,
                        delete_operations=delete_operations, **kwargs)

    pipelined_upload.__dia_autofill__ = True  # type: ignore[attr-defined]
    return pipelined_upload


def _known(store: Store, repo_id: str) -> bool:
    return store.get_model(repo_id) is not None or store.run_count(model_id=repo_id) > 0


def _open_store() -> Store | None:
    """The configured store, or ``None`` when there is none yet (nothing to fill)."""
    from dia.record.store import Store, sqlite_file

    store = _options.get("store")
    if isinstance(store, Store):
        return store
    path = sqlite_file(store)
    if path is not None and not path.exists():
        return None
    return Store(store, read_only=True)


def _with_card(api: Any, repo_id: str, operations: list[Any], kwargs: dict[str, Any]) -> list[Any]:
    """``operations`` with README.md replaced (or added) by the filled card."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    from dia.hub.card import MAX_CARD_BYTES, blank_card, decode_card, render_card

    store = _open_store()
    if store is None:
        return operations
    try:
        if not _known(store, repo_id):
            return operations
        readme_ops = [i for i, op in enumerate(operations) if getattr(op, "path_in_repo", None) == "README.md"]
        if any(isinstance(operations[i], CommitOperationDelete) for i in readme_ops):
            return operations  # the user deletes the card on purpose
        adds = [i for i in readme_ops if isinstance(operations[i], CommitOperationAdd)]
        if adds:
            with operations[adds[-1]].as_file() as fh:
                # Bounded read: a card larger than the limit is refused, not loaded whole.
                existing: str | None = decode_card(fh.read(MAX_CARD_BYTES + 1), "README.md")
        else:
            existing = _fetch_readme(api, repo_id, kwargs.get("revision"), kwargs.get("token"))
        text = render_card(repo_id, existing, store=store, format=_options.get("format", "hf"),
                           upstream=bool(_options.get("upstream")))
    finally:
        if store is not _options.get("store"):
            store.close()
    if existing is None and text == blank_card(repo_id):
        return operations  # no card and nothing to say: no empty card is added to the commit
    card = CommitOperationAdd(path_in_repo="README.md", path_or_fileobj=text.encode("utf-8"))
    if adds:
        out = list(operations)
        out[adds[-1]] = card
        return out
    return [*operations, card]


def _fetch_readme(api: Any, repo_id: str, revision: str | None, token: Any) -> str | None:
    """The repo's README.md text; ``None`` when the repo or the file does not exist.

    Any other failure raises, so the upload goes ahead unchanged rather than replacing
    a card DIA could not read with a new one.
    """
    from urllib.parse import quote

    from huggingface_hub.utils import build_hf_headers, get_session

    url = f"{api.endpoint}/{repo_id}/resolve/{quote(revision or 'main', safe='')}/README.md"
    # The public header builder with the client's own settings (what HfApi does internally).
    headers = build_hf_headers(token=api.token if token is None else token,
                               library_name=getattr(api, "library_name", None),
                               library_version=getattr(api, "library_version", None),
                               user_agent=getattr(api, "user_agent", None), headers=getattr(api, "headers", None))
    response = get_session().get(url, headers=headers, timeout=_FETCH_TIMEOUT_S, follow_redirects=True)
    if response.status_code == 404:
        return None
    response.raise_for_status()
    from dia.hub.card import decode_card

    return decode_card(response.content, "README.md")


# -- DIA_HUB_AUTOFILL=1 ---------------------------------------------------------------------------

def _env_on() -> bool:
    try:
        return settings.hub_autofill()
    except InvalidSettingError as exc:  # never break the user's import over a typo
        from dia.errors import DIAWarning

        warnings.warn(DIAWarning(f"{exc}: card autofill stays off"), stacklevel=3)
        return False


class _HfApiHook(importlib.abc.MetaPathFinder):
    """Enables autofill right after ``huggingface_hub.hf_api`` is imported (no import cost before)."""

    def find_spec(self, fullname: str, path: Any, target: ModuleType | None = None) -> Any:
        if fullname != "huggingface_hub.hf_api":
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return None
        loader = spec.loader
        exec_module = loader.exec_module

        def exec_then_enable(module: ModuleType) -> None:
            exec_module(module)
            _remove_hook()
            try:
                _enable_after_import(module)
            except Exception as exc:  # never break the user's import
                from dia.errors import DIAWarning

                warnings.warn(DIAWarning(f"DIA_HUB_AUTOFILL: could not enable card autofill: {exc}"), stacklevel=2)

        loader.exec_module = exec_then_enable  # type: ignore[method-assign]
        return spec


def _enable_after_import(module: ModuleType) -> None:
    _patch(module)


def _remove_hook() -> None:
    sys.meta_path[:] = [f for f in sys.meta_path if not isinstance(f, _HfApiHook)]


def install_env_hook() -> bool:
    """If ``DIA_HUB_AUTOFILL`` is on, enable autofill now or when huggingface_hub is imported.

    Cheap when huggingface_hub is not imported yet: nothing is imported until the user does.
    Returns whether autofill is (or will be) on.
    """
    if not _env_on():
        return False
    if "huggingface_hub.hf_api" in sys.modules:
        enable_autofill()
    elif not any(isinstance(f, _HfApiHook) for f in sys.meta_path):
        sys.meta_path.insert(0, _HfApiHook())
    return True


__all__ = ["disable_autofill", "enable_autofill", "install_env_hook", "is_enabled"]
