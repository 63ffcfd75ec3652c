"""dia ingest --hub: cards read from a Hub on loopback through huggingface_hub's real code."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from typer.testing import CliRunner

from dia.cli.main import app
from dia.hub.reader import ingest_hub
from dia.record.store import Store

CARDS = {
    "org/base": "---\nco2_eq_emissions: {emissions: 100000, energy_consumed: 400}\n---\n# Base\n",
    "org/child": "---\nbase_model: org/base\nco2_eq_emissions: 0.5 kg\n---\n",
    "org/grandchild": "---\nbase_model: org/child\nbase_model_relation: quantized\n---\n",
    "other/adapter": "---\nbase_model: org/base\nbase_model_relation: adapter\nco2_eq_emissions: 20\n---\n",
}
CHILDREN = {"org/base": ["org/child", "other/adapter"], "org/child": ["org/grandchild"]}


@dataclass
class MiniHub:
    endpoint: str = ""
    cards: dict[str, str | bytes] = field(default_factory=lambda: dict(CARDS))
    rate_limited: set[str] = field(default_factory=set)  # repos whose download answers 429
    files: dict[str, list[str]] = field(default_factory=dict)  # repo -> its file list (model_info); else 404
    broken_listing: set[str] = field(default_factory=set)  # repos whose model_info answers 500
    requests: list[str] = field(default_factory=list)


def _handler(hub: MiniHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:
            pass

        def _send(self, code: int, body: bytes, headers: dict[str, str]) -> None:
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            for k, v in headers.items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def do_GET(self) -> None:
            url = urlsplit(self.path)
            hub.requests.append(f"{self.command} {url.path}")
            if url.path == "/api/models":
                base = parse_qs(url.query).get("filter", [""])[0].removeprefix("base_model:")
                body = json.dumps([{"id": c, "modelId": c} for c in CHILDREN.get(base, [])]).encode()
                self._send(200, body, {"Content-Type": "application/json"})
                return
            if url.path.startswith("/api/models/"):
                repo = url.path.removeprefix("/api/models/")
                if repo in hub.broken_listing:
                    self._send(500, b'{"error": "internal"}', {"Content-Type": "application/json"})
                    return
                if repo not in hub.files:
                    self._send(404, b'{"error": "Repository not found"}', {"X-Error-Code": "RepoNotFound"})
                    return
                info = {"id": repo, "modelId": repo, "siblings": [{"rfilename": f} for f in hub.files[repo]]}
                self._send(200, json.dumps(info).encode(), {"Content-Type": "application/json"})
                return
            parts = url.path.strip("/").split("/")
            repo = "/".join(parts[:2])
            if parts[2:4] != ["resolve", "main"] or repo not in hub.cards:
                self._send(404, b'{"error": "Repository not found"}', {"X-Error-Code": "RepoNotFound"})
                return
            if repo in hub.rate_limited:
                self._send(429, b'{"error": "slow down"}', {"Retry-After": "60"})
                return
            card = hub.cards[repo]
            body = card if isinstance(card, bytes) else card.encode()
            self._send(200, body, {"Content-Type": "text/plain", "ETag": f'"{hashlib.sha1(body).hexdigest()}"',
                                   "X-Repo-Commit": hashlib.sha1(repo.encode()).hexdigest()})

        do_HEAD = do_GET

    return Handler


@pytest.fixture
def mini_hub(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, serve_hub: Any) -> Iterator[MiniHub]:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    hub = MiniHub()
    with serve_hub(hub, _handler(hub)):
        yield hub


def test_hub_family_walk_ingests_footprints_and_lineage(mini_hub: MiniHub, tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path}/s.sqlite") as store:
        summary = ingest_hub([], families=["org/base"], store=store, endpoint=mini_hub.endpoint)
        assert summary.ok, summary.as_dict()
        assert (summary.read, summary.ingested, summary.lineage_only) == (4, 4, 1)
        runs = {r.model_id: r for r in store.list_runs()}
        assert set(runs) == {"org/base", "org/child", "other/adapter"}
        assert runs["org/child"].source_ref == "hub:org/child/README.md"
        assert runs["org/base"].energy.it_kwh.value == 400
        edges = {(e.child_id, e.parent_id): e.relation for e in store.edges()}
        assert edges == {("org/child", "org/base"): "finetune", ("org/grandchild", "org/child"): "quantization",
                         ("other/adapter", "org/base"): "adapter"}
    assert "GET /api/models" in mini_hub.requests


def test_hub_missing_repo_is_skipped_and_the_rest_ingested(mini_hub: MiniHub, tmp_path: Path) -> None:
    with Store(f"sqlite:///{tmp_path}/s.sqlite") as store:
        summary = ingest_hub(["org/child", "nobody/nothing"], store=store, endpoint=mini_hub.endpoint)
        assert summary.skipped == [("hub:nobody/nothing/README.md", "repository not found (or private)")]
        assert store.run_count() == 1


def test_hub_rate_limit_stops_with_a_clear_error_and_keeps_progress(
        mini_hub: MiniHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    # huggingface_hub backs off (Retry-After) five times before giving up: skip the waiting.
    waits: list[float] = []
    monkeypatch.setattr(time, "sleep", waits.append)
    mini_hub.rate_limited.add("org/grandchild")
    db = f"sqlite:///{tmp_path}/s.sqlite"
    result = CliRunner().invoke(app, ["ingest", "--hub", "org/base", "org/child", "org/grandchild",
                                      "other/adapter", "--endpoint", mini_hub.endpoint, "--db", db])
    assert result.exit_code == 1
    assert "rate-limited" in result.output and "HTTP 429" in result.output
    assert "after 2 of 4 card(s); those are kept" in result.output
    assert waits and waits[0] == 61.0  # the library honoured Retry-After before we reported it
    with Store(db) as store:
        assert {r.model_id for r in store.list_runs()} == {"org/base", "org/child"}


def test_hub_offline_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hf-cache"))
    with Store(f"sqlite:///{tmp_path}/s.sqlite") as store:
        summary = ingest_hub(["org/base"], store=store)
        assert summary.error is not None and "offline" in summary.error
        assert not summary.ok and summary.read == 0
        fam = ingest_hub([], families=["org/base"], store=store)
        assert fam.error is not None and "offline" in fam.error


def test_hub_download_reports_progress_to_the_caller_and_prints_nothing(
        mini_hub: MiniHub, tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    import time

    from dia.errors import HubError
    from dia.hub.hub_fetch import iter_hub_cards

    steps: list[tuple[int, int]] = []
    with Store(f"sqlite:///{tmp_path}/s.sqlite") as store:
        summary = ingest_hub(["org/child", "nobody/nothing", "org/base"], store=store, endpoint=mini_hub.endpoint,
                             on_progress=lambda done, total: steps.append((done, total)))
    assert steps == [(0, 3), (1, 3), (2, 3), (3, 3)]  # the missing repo counts as done too
    assert summary.read == 2 and len(summary.skipped) == 1
    out, err = capfd.readouterr()
    assert out == "" and err == ""
    # A Hub-wide problem is a DIAError the caller turns into a message, not an exit or a print.
    mini_hub.rate_limited.add("org/grandchild")  # not in the local cache yet
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(time, "sleep", lambda s: None)
        cards = iter_hub_cards(["org/grandchild"], endpoint=mini_hub.endpoint)
        with pytest.raises(HubError, match="rate-limited"):
            list(cards)


def test_hub_fetch_does_not_import_the_cli() -> None:
    import subprocess
    import sys

    code = ("import sys, dia.hub.hub_fetch, dia.hub.reader\n"
            "print(sorted(m for m in sys.modules if m.startswith(('dia.cli', 'typer', 'rich'))))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_hub_file_list_decides_a_relation_the_card_does_not_state(
        mini_hub: MiniHub, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    monkeypatch.setattr(time, "sleep", lambda s: None)  # the 500 below is retried by the library
    bare = "---\nbase_model: org/base\n---\n"
    mini_hub.cards.update({"q/plain-name": bare, "a/plain-name": bare, "f/plain-name": bare, "x/unlisted": bare})
    mini_hub.files.update({"q/plain-name": ["README.md", "model.Q4_K_M.gguf"],
                           "a/plain-name": ["README.md", "adapter_config.json", "adapter_model.safetensors"],
                           "f/plain-name": ["README.md", "config.json", "model.safetensors"]})
    mini_hub.broken_listing.add("x/unlisted")
    db = f"sqlite:///{tmp_path}/s.sqlite"
    result = CliRunner().invoke(app, ["ingest", "--hub", "q/plain-name", "a/plain-name", "f/plain-name",
                                      "x/unlisted", "--endpoint", mini_hub.endpoint, "--db", db])
    assert result.exit_code == 0, result.output
    with Store(db) as store:
        edges = {e.child_id: (e.relation, e.method) for e in store.edges()}
    # Before: all four were finetunes. A repo whose files cannot be listed keeps its card.
    assert edges == {"q/plain-name": ("quantization", "inferred:file:gguf"),
                     "a/plain-name": ("adapter", "inferred:file:adapter_config"),
                     "f/plain-name": ("finetune", "inferred:default"),
                     "x/unlisted": ("finetune", "inferred:default")}
    listed = [r for r in mini_hub.requests if r.startswith("GET /api/models/")]
    assert sorted(set(listed)) == sorted(f"GET /api/models/{r}" for r in
                                         ("q/plain-name", "a/plain-name", "f/plain-name", "x/unlisted"))


def test_iter_hub_cards_keeps_its_three_tuples_unless_files_are_asked(mini_hub: MiniHub) -> None:
    from dia.hub.hub_fetch import iter_hub_cards

    mini_hub.files["org/child"] = ["README.md", "adapter_config.json"]
    assert [len(c) for c in iter_hub_cards(["org/child"], endpoint=mini_hub.endpoint)] == [3]
    assert not any(r.startswith("GET /api/models/") for r in mini_hub.requests)  # no extra request
    (item,) = iter_hub_cards(["org/child"], endpoint=mini_hub.endpoint, with_files=True)
    assert item[:2] == ("hub:org/child/README.md", "org/child") and item[3] == ["README.md", "adapter_config.json"]


def test_hub_repo_id_is_the_model_id_whatever_the_card_states(mini_hub: MiniHub, tmp_path: Path) -> None:
    # Before: o/evil's card stating `model_id: org/base` replaced org/base's figure.
    mini_hub.cards["o/evil"] = "---\nmodel_id: org/base\nco2_eq_emissions: 99000000\n---\n"
    mini_hub.cards["o/evil-dia"] = "---\ndia:\n  model_id: org/base\n  carbon_kg: 99000\n---\n"
    db = f"sqlite:///{tmp_path}/s.sqlite"
    args = ["ingest", "--hub", "--endpoint", mini_hub.endpoint, "--db", db]
    assert CliRunner().invoke(app, [*args, "org/base"]).exit_code == 0
    result = CliRunner().invoke(app, [*args, "o/evil", "o/evil-dia", "org/child"])
    assert result.exit_code == 1
    for repo in ("o/evil", "o/evil-dia"):
        named = [line for line in result.output.splitlines() if f"hub:{repo}/README.md" in line]
        assert len(named) == 1, result.output
        assert f"model_id: states 'org/base' but its Hub repo is {repo}: refused" in named[0]
    with Store(db) as store:
        carbon = {r.model_id: r.carbon.total_kg.value for r in store.list_runs() if r.carbon is not None}
    assert carbon == {"org/base": 100.0, "org/child": 0.5}


def test_hub_card_that_is_not_utf8_is_one_line(mini_hub: MiniHub, tmp_path: Path) -> None:
    # Before: read with replaced bytes, so a Latin-1 card was ingested with mangled text.
    mini_hub.cards["o/latin1"] = b"---\nco2_eq_emissions: 5\nlicense: caf\xe9\n---\n"
    db = f"sqlite:///{tmp_path}/s.sqlite"
    result = CliRunner().invoke(app, ["ingest", "--hub", "o/latin1", "org/child", "--endpoint", mini_hub.endpoint,
                                      "--db", db])
    assert result.exit_code == 1
    named = [line for line in result.output.splitlines() if "hub:o/latin1/README.md" in line]
    assert len(named) == 1 and "not UTF-8 text (invalid continuation byte at line 3, byte 36)" in named[0], \
        result.output
    with Store(db) as store:
        assert {r.model_id for r in store.list_runs()} == {"org/child"}
