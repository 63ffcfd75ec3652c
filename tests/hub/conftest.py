"""Shared fixtures for the Hub tests: a fake Hugging Face Hub on loopback and stores with runs.

``fake_hub`` answers the endpoints huggingface_hub's real upload code calls
(``validate-yaml``, ``preupload``, ``commit``, ``repos/create``, ``resolve`` for README
downloads) and records what reached it, so tests assert on the bytes the server got.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from dia.record.report import (
    GPU,
    Carbon,
    Energy,
    Factor,
    Hardware,
    Location,
    Quantity,
    RunReport,
    Water,
)
from dia.record.store import Store

T0 = datetime(2025, 3, 1, tzinfo=timezone.utc)


@dataclass
class FakeHub:
    """State of the fake Hub: files per repo, commits received, every request seen."""

    endpoint: str = ""
    files: dict[str, dict[str, bytes]] = field(default_factory=dict)  # repo -> path -> bytes
    commits: list[dict[str, Any]] = field(default_factory=list)
    requests: list[tuple[str, str]] = field(default_factory=list)
    fail_commit: bool = False

    def readme(self, repo_id: str) -> bytes | None:
        return self.files.get(repo_id, {}).get("README.md")


_PREUPLOAD = re.compile(r"^/api/(?:models|datasets|spaces)/(?P<repo>.+)/preupload/(?P<rev>[^/]+)$")
_COMMIT = re.compile(r"^/api/(?:models|datasets|spaces)/(?P<repo>.+)/commit/(?P<rev>[^/]+)$")
_RESOLVE = re.compile(r"^/(?P<repo>[^/]+/[^/]+)/resolve/(?P<rev>[^/]+)/(?P<path>.+)$")


def _handler(hub: FakeHub) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # keep pytest output clean
            pass

        def _send(self, code: int, body: Any = None, headers: dict[str, str] | None = None) -> None:
            data = body if isinstance(body, bytes) else json.dumps(body if body is not None else {}).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _body(self) -> bytes:
            length = int(self.headers.get("Content-Length") or 0)
            return self.rfile.read(length) if length else b""

        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            hub.requests.append(("GET", path))
            m = _RESOLVE.match(path)
            if m and m["path"] in hub.files.get(m["repo"], {}):
                self._send(200, hub.files[m["repo"]][m["path"]], {"Content-Type": "text/plain"})
                return
            self._send(404, {"error": "Entry not found"}, {"X-Error-Code": "EntryNotFound"})

        do_HEAD = do_GET

        def do_POST(self) -> None:
            path = self.path.split("?")[0]
            hub.requests.append(("POST", path))
            body = self._body()
            if path == "/api/validate-yaml":
                self._send(200, {"errors": [], "warnings": []})
            elif path == "/api/repos/create":
                payload = json.loads(body)
                repo = "/".join(p for p in (payload.get("organization"), payload["name"]) if p)
                hub.files.setdefault(repo, {})
                self._send(200, {"url": f"{hub.endpoint}/{repo}"})
            elif m := _PREUPLOAD.match(path):
                files = json.loads(body)["files"]
                self._send(200, {"files": [{"path": f["path"], "uploadMode": "regular", "shouldIgnore": False,
                                            "oid": None} for f in files]})
            elif m := _COMMIT.match(path):
                if hub.fail_commit:
                    self._send(500, {"error": "boom"})
                    return
                received: dict[str, bytes] = {}
                header: dict[str, Any] = {}
                for line in body.splitlines():
                    item = json.loads(line)
                    if item["key"] == "header":
                        header = item["value"]
                    elif item["key"] == "file":
                        received[item["value"]["path"]] = base64.b64decode(item["value"]["content"])
                hub.commits.append({"repo": m["repo"], "summary": header.get("summary"), "files": received})
                hub.files.setdefault(m["repo"], {}).update(received)
                self._send(200, {"commitUrl": f"{hub.endpoint}/{m['repo']}/commit/{'a' * 40}",
                                 "commitOid": "a" * 40, "pullRequestUrl": None})
            else:
                self._send(404, {"error": f"no route {path}"})

    return Handler


@contextmanager
def hub_on_loopback(monkeypatch: pytest.MonkeyPatch, hub: Any, handler: type[BaseHTTPRequestHandler]) -> Iterator[Any]:
    """Serve ``hub`` on 127.0.0.1 and let huggingface_hub talk to it (offline mode off).

    tests/conftest.py keeps every test offline and blocks non-loopback connections; a Hub
    test switches only huggingface_hub's offline flag off, and drops proxies.
    """
    import huggingface_hub.constants

    monkeypatch.delenv("HF_HUB_OFFLINE", raising=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", False)
    for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(var, raising=False)
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    hub.endpoint = f"http://127.0.0.1:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield hub
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def serve_hub(monkeypatch: pytest.MonkeyPatch) -> Callable[[Any, type[BaseHTTPRequestHandler]], Any]:
    """``with serve_hub(hub, handler):`` runs a test's own fake Hub (see hub_on_loopback)."""
    return lambda hub, handler: hub_on_loopback(monkeypatch, hub, handler)


@pytest.fixture
def fake_hub(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeHub]:
    """A fake Hub on 127.0.0.1 that answers the upload endpoints."""
    hub = FakeHub()
    with hub_on_loopback(monkeypatch, hub, _handler(hub)):
        yield hub


@pytest.fixture
def hf_api(fake_hub: FakeHub) -> Any:
    from huggingface_hub import HfApi

    return HfApi(endpoint=fake_hub.endpoint, token="hf_fake")


def make_run(model_id: str, energy_kwh: float = 2.0, *, parents: list[str] | None = None,
             kind: str = "finetuning", quality: str = "measured", **extra: Any) -> RunReport:
    """A run at 0.25 kg/kWh (range 0.2-0.3), 1 L/kWh on site and 2 L/kWh off site."""
    e = Quantity.of(energy_kwh, "kWh", quality, low=0.9 * energy_kwh, high=1.1 * energy_kwh)
    op = e.times(0.25, 0.2, 0.3, unit="kgCO2e", quality="estimated")
    emb = Quantity.of(0.01 * energy_kwh, "kgCO2e", "estimated")
    on = e.times(1.0, 0.5, 1.5, unit="L", quality="estimated")
    off = e.times(2.0, 1.0, 3.0, unit="L", quality="estimated")
    fields: dict[str, Any] = dict(
        model_id=model_id, kind=kind, parents=parents or [], started_at=T0, ended_at=T0 + timedelta(hours=1),
        energy=Energy(it_kwh=e), carbon=Carbon(operational_kg=op, embodied_kg=emb, total_kg=op + emb),
        water=Water(onsite_l=on, offsite_l=off, total_l=on + off),
        hardware=Hardware(gpus=[GPU(name="NVIDIA A100-SXM4-40GB", count=4)]),
        location=Location(country="CAN", region="CA-ON", resolved_level="subnational"),
        meter="nvml", gpu_hours=4.0, host="build-box-7731",
        factors=[Factor(name="carbon_intensity", value=0.25, low=0.2, high=0.3, unit="kgCO2e/kWh",
                        source="IESO 2024", year=2024, granularity="subnational", key="CA-ON")],
    )
    fields.update(extra)
    return RunReport(**fields)


@pytest.fixture
def run_factory() -> Callable[..., RunReport]:
    return make_run


@pytest.fixture
def hub_store(tmp_path: Any) -> Iterator[Store]:
    """A store with a small family: org/base -> org/child (finetune, 2 runs + 1 inference)."""
    store = Store(f"sqlite:///{tmp_path}/hub.sqlite")
    store.save_runs([
        make_run("org/base", 10.0, kind="pretraining"),
        make_run("org/child", 2.0, parents=["org/base"]),
        make_run("org/child", 1.0, parents=["org/base"]),
        make_run("org/child", 5.0, kind="inference"),
    ])
    try:
        yield store
    finally:
        store.close()
