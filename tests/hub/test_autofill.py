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
    assert _front(files["README.md"])["dia"]["runs"] == 2
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
