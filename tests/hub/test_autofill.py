"""Autofill: uploads through huggingface_hub's real code carry the filled card, same commit.

Every test talks to the fake Hub on loopback (``fake_hub`` in conftest.py) and asserts on
the bytes that reached it.
"""

from __future__ import annotations

import subprocess
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from dia.errors import DIAWarning
from dia.hub import disable_autofill, enable_autofill
from dia.hub.card import SECTION_START
from dia.record.store import Store


@pytest.fixture(autouse=True)
def _autofill_off_afterwards() -> Iterator[None]:
    yield
    disable_autofill()


def _front(readme: bytes | None) -> dict[str, Any]:
    assert readme is not None
    text = readme.decode()
    assert text.startswith("---\n")
    return yaml.safe_load(text.split("---\n", 2)[1])


def test_upload_file_commit_carries_the_filled_card(fake_hub: Any, hf_api: Any, hub_store: Store) -> None:
    enable_autofill(hub_store)
    hf_api.upload_file(path_or_fileobj=b"weights", path_in_repo="model.safetensors", repo_id="org/child")
    assert len(fake_hub.commits) == 1
    files = fake_hub.commits[0]["files"]
    assert files["model.safetensors"] == b"weights"
    data = _front(files["README.md"])
    assert data["co2_eq_emissions"]["emissions"] == pytest.approx(780.0)
    assert data["base_model"] == "org/base" and data["base_model_relation"] == "finetune"
    assert SECTION_START in files["README.md"].decode()


def test_upload_folder_merges_the_readme_in_the_commit(fake_hub: Any, hf_api: Any, hub_store: Store,
                                                       tmp_path: Path) -> None:
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / "config.json").write_text('{"a": 1}')
    user_card = "---\nlicense: mit\ntags:\n- demo\n---\n\n# Child model\n\nWritten by hand.\n"
    (folder / "README.md").write_text(user_card)
    enable_autofill(hub_store)
    hf_api.upload_folder(folder_path=folder, repo_id="org/child")
    files = fake_hub.commits[0]["files"]
    assert set(files) == {"config.json", "README.md"}
    text = files["README.md"].decode()
    assert text.startswith("---\nlicense: mit\ntags:\n- demo\n")
    assert "\n---\n\n# Child model\n\nWritten by hand.\n" in text
    own = sorted(r.id for r in hub_store.list_runs(model_id="org/child") if not r.is_use)
    assert len(own) == 2 and _front(files["README.md"])["dia"]["runs"] == own
    assert (folder / "README.md").read_text() == user_card  # the user's file is not touched


def test_existing_readme_on_the_hub_is_merged(fake_hub: Any, hf_api: Any, hub_store: Store) -> None:
    fake_hub.files["org/child"] = {"README.md": b"---\nlicense: mit\n---\n# On the Hub\n\nHub text.\n"}
    enable_autofill(hub_store)
    hf_api.upload_file(path_or_fileobj=b"w", path_in_repo="w.bin", repo_id="org/child")
    assert ("GET", "/org/child/resolve/main/README.md") in fake_hub.requests
    text = fake_hub.commits[0]["files"]["README.md"].decode()
    assert text.startswith("---\nlicense: mit\n") and "# On the Hub\n\nHub text.\n" in text
    # uploading again changes nothing in the card: idempotent through the Hub too
    hf_api.upload_file(path_or_fileobj=b"w2", path_in_repo="w.bin", repo_id="org/child")
    assert fake_hub.commits[1]["files"]["README.md"].decode() == text


def test_module_level_create_commit_is_filled_too(fake_hub: Any, hub_store: Store, monkeypatch: Any) -> None:
    import huggingface_hub
    from huggingface_hub import CommitOperationAdd

    enable_autofill(hub_store)
    monkeypatch.setattr(huggingface_hub.hf_api.api, "endpoint", fake_hub.endpoint)
    huggingface_hub.create_commit("org/child", [CommitOperationAdd("x.txt", b"x")], commit_message="m",
                                  token="hf_fake")
    assert "README.md" in fake_hub.commits[0]["files"]


def test_unknown_repo_and_other_repo_types_are_left_unchanged(fake_hub: Any, hf_api: Any, hub_store: Store) -> None:
    enable_autofill(hub_store)
    hf_api.upload_file(path_or_fileobj=b"w", path_in_repo="w.bin", repo_id="org/stranger")
    hf_api.upload_file(path_or_fileobj=b"d", path_in_repo="d.csv", repo_id="org/child", repo_type="dataset")
    assert [set(c["files"]) for c in fake_hub.commits] == [{"w.bin"}, {"d.csv"}]
    assert not any(path.endswith("README.md") for _method, path in fake_hub.requests)


def test_dia_failure_warns_and_the_upload_goes_ahead_unchanged(fake_hub: Any, hf_api: Any, hub_store: Store,
                                                              monkeypatch: Any) -> None:
    import dia.hub.card

    def broken(*args: Any, **kwargs: Any) -> str:
        raise RuntimeError("simulated DIA bug")

    monkeypatch.setattr(dia.hub.card, "render_card", broken)
    enable_autofill(hub_store)
    with pytest.warns(DIAWarning, match="simulated DIA bug"):
        hf_api.upload_file(path_or_fileobj=b"w", path_in_repo="w.bin", repo_id="org/child")
    assert fake_hub.commits[0]["files"] == {"w.bin": b"w"}


def test_unreadable_hub_readme_is_not_replaced_by_a_new_card(fake_hub: Any, hf_api: Any, hub_store: Store,
                                                            monkeypatch: Any) -> None:
    import dia.hub.autofill

    def unreachable(*args: Any, **kwargs: Any) -> str:
        raise ConnectionError("README download failed")

    monkeypatch.setattr(dia.hub.autofill, "_fetch_readme", unreachable)
    enable_autofill(hub_store)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        hf_api.upload_file(path_or_fileobj=b"w", path_in_repo="w.bin", repo_id="org/child")
    assert any(issubclass(w.category, DIAWarning) for w in caught)
    assert set(fake_hub.commits[0]["files"]) == {"w.bin"}


def test_store_without_a_file_yet_means_nothing_to_fill(fake_hub: Any, hf_api: Any, tmp_path: Path) -> None:
    missing = tmp_path / "none" / "dia.sqlite"
    enable_autofill(f"sqlite:///{missing}")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        hf_api.upload_file(path_or_fileobj=b"w", path_in_repo="w.bin", repo_id="org/child")
    assert set(fake_hub.commits[0]["files"]) == {"w.bin"}
    assert not missing.exists()


def test_disable_restores_huggingface_hub(fake_hub: Any, hf_api: Any, hub_store: Store) -> None:
    from huggingface_hub import HfApi

    before = HfApi.create_commit
    enable_autofill(hub_store)
    assert getattr(HfApi.create_commit, "__dia_autofill__", False)
    enable_autofill(hub_store)  # twice: wrapped once
    assert HfApi.create_commit.__wrapped__ is before  # type: ignore[attr-defined]
    disable_autofill()
    assert HfApi.create_commit is before
    from huggingface_hub import _upload_pipeline

    assert not hasattr(_upload_pipeline.pipelined_upload, "__dia_autofill__")
    hf_api.upload_file(path_or_fileobj=b"w", path_in_repo="w.bin", repo_id="org/child")
    assert set(fake_hub.commits[0]["files"]) == {"w.bin"}


def test_pytorch_model_hub_mixin_push_to_hub(fake_hub: Any, hub_store: Store, monkeypatch: Any) -> None:
    torch = pytest.importorskip("torch")
    from huggingface_hub import PyTorchModelHubMixin

    class Tiny(torch.nn.Module, PyTorchModelHubMixin):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__()
            self.lin = torch.nn.Linear(2, 1)

    monkeypatch.setenv("HF_ENDPOINT", fake_hub.endpoint)
    import huggingface_hub.constants as hc

    monkeypatch.setattr(hc, "ENDPOINT", fake_hub.endpoint)
    enable_autofill(hub_store)
    Tiny().push_to_hub("org/child", token="hf_fake")
    files = fake_hub.commits[-1]["files"]
    assert "model.safetensors" in files
    data = _front(files["README.md"])
    assert data["co2_eq_emissions"]["emissions"] == pytest.approx(780.0)


def test_env_variable_enables_autofill_when_huggingface_hub_is_imported(tmp_path: Path) -> None:
    code = ("import sys, dia.hub\n"
            "assert 'huggingface_hub' not in sys.modules\n"
            "from huggingface_hub import HfApi\n"
            "import huggingface_hub\n"
            "print(getattr(HfApi.create_commit, '__dia_autofill__', False),"
            " getattr(huggingface_hub.create_commit, '__func__', None) is HfApi.create_commit)\n")
    env = {"PATH": "/usr/bin:/bin", "DIA_HUB_AUTOFILL": "1", "HF_HUB_OFFLINE": "1",
           "DIA_DATABASE_URL": f"sqlite:///{tmp_path}/s.sqlite", "HOME": str(tmp_path)}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["True", "True"]


# -- no side effects on import; public APIs only, private ones pinned --------------------------------

_SNAPSHOT = """
import sys
import huggingface_hub, huggingface_hub.hf_api as hf_api
try:
    import huggingface_hub._upload_pipeline as pipeline
except ImportError:
    pipeline = None

def snapshot():
    out = {name: value for name, value in vars(hf_api.HfApi).items() if callable(value)}
    out.update({"module." + name: getattr(huggingface_hub, name) for name in dir(huggingface_hub)
                if callable(getattr(huggingface_hub, name, None))})
    if pipeline is not None:
        out.update({"pipeline." + name: value for name, value in vars(pipeline).items() if callable(value)})
    return out
"""


@pytest.mark.parametrize("env_value", [None, "0", "off"])
def test_import_dia_patches_nothing_in_huggingface_hub(tmp_path: Path, env_value: str | None) -> None:
    code = ("import sys\n"
            "import dia, dia.hub, dia.hub.card, dia.hub.reader\n"  # before huggingface_hub is imported
            + _SNAPSHOT +
            "before = snapshot()\n"
            "import dia.hub.autofill\n"  # and after: importing the module enables nothing either
            "changed = [k for k, v in snapshot().items() if before.get(k) is not v]\n"
            "hooks = [type(f).__module__ for f in sys.meta_path if type(f).__module__.startswith('dia')]\n"
            "marked = [k for k, v in before.items() if getattr(v, '__dia_autofill__', False)]\n"
            "print(changed, hooks, marked, dia.hub.autofill.is_enabled())\n")
    env = {"PATH": "/usr/bin:/bin", "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path),
           "DIA_DATABASE_URL": f"sqlite:///{tmp_path}/s.sqlite"}
    if env_value is not None:
        env["DIA_HUB_AUTOFILL"] = env_value
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["[]", "[]", "[]", "False"]


def test_enable_then_disable_patches_only_the_listed_functions(fake_hub: Any) -> None:
    import huggingface_hub
    from huggingface_hub import hf_api

    from dia.hub import autofill

    before = {k: v for k, v in vars(hf_api.HfApi).items() if callable(v)}
    module_level = huggingface_hub.create_commit
    enable_autofill()
    changed = {k for k, v in vars(hf_api.HfApi).items() if callable(v) and before.get(k) is not v}
    assert changed == {"create_commit"}  # public API only on the class
    private = {name for (module, name) in autofill._module_functions if module.split(".")[-1].startswith("_")}
    assert private <= {autofill._PRIVATE_PIPELINE[1]}
    disable_autofill()
    assert {k: v for k, v in vars(hf_api.HfApi).items() if callable(v)} == before
    assert huggingface_hub.create_commit is module_level


# huggingface_hub versions autofill was checked against: [oldest supported, first not checked).
_HF_CHECKED = ((0, 24), (3, 0))


def _version(text: str) -> tuple[int, ...]:
    import re

    return tuple(int(x) for x in re.findall(r"\d+", text)[:2])


def test_private_huggingface_hub_api_is_where_autofill_expects_it() -> None:
    """Fails loudly when huggingface_hub moves the one private function autofill patches."""
    import inspect

    import huggingface_hub
    from huggingface_hub import HfApi

    from dia.hub import autofill

    low, high = _HF_CHECKED
    assert low <= _version(huggingface_hub.__version__) < high, (
        f"huggingface_hub {huggingface_hub.__version__} is outside the versions autofill was checked with "
        f"({'.'.join(map(str, low))} to <{'.'.join(map(str, high))}): check {'.'.join(autofill._PRIVATE_PIPELINE)} "
        "in dia/hub/autofill.py, then widen _HF_CHECKED")
    module_name, attr = autofill._PRIVATE_PIPELINE
    upload_folder = inspect.getsource(HfApi.upload_folder)
    try:
        pipeline = __import__(module_name, fromlist=[attr])
    except ImportError:
        # No pipeline: every upload must go through the public create_commit.
        assert attr not in upload_folder
        return
    # upload_folder imports it at call time (so patching the module reaches it) ...
    assert f"from .{module_name.rsplit('.', 1)[1]} import {attr}" in upload_folder, (
        f"HfApi.upload_folder no longer calls {module_name}.{attr}: autofill misses upload_folder")
    # ... with the keyword arguments the wrapper reads and passes on.
    params = inspect.signature(getattr(pipeline, attr)).parameters
    assert {"api", "repo_id", "repo_type", "add_operations", "delete_operations"} <= set(params)


def test_hub_readme_is_fetched_with_the_public_header_builder(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.utils
    from huggingface_hub import HfApi

    from dia.hub import autofill

    seen: dict[str, Any] = {}

    class Response:
        status_code = 200
        content = b"---\nlicense: mit\n---\n"

        def raise_for_status(self) -> None:
            pass

    class Session:
        def get(self, url: str, *, headers: dict[str, str], **kwargs: Any) -> Response:
            seen.update(url=url, headers=headers)
            return Response()

    monkeypatch.setattr(huggingface_hub.utils, "get_session", lambda: Session())
    api = HfApi(endpoint="http://hub.invalid", token="hf_" + "a" * 30, library_name="mylib")
    assert autofill._fetch_readme(api, "org/m", None, None) == "---\nlicense: mit\n---\n"
    assert seen["url"] == "http://hub.invalid/org/m/resolve/main/README.md"
    headers = {k.lower(): v for k, v in seen["headers"].items()}
    assert headers["authorization"] == "Bearer hf_" + "a" * 30  # the client's token
    assert "mylib" in headers["user-agent"]
    autofill._fetch_readme(api, "org/m", "v1", "hf_" + "b" * 30)
    assert {k.lower(): v for k, v in seen["headers"].items()}["authorization"] == "Bearer hf_" + "b" * 30
