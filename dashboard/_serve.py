"""Serving the Streamlit dashboard in a child process (``dia.dashboard.serve``, ``dia dashboard``).

Library code: problems raise :class:`~dia.errors.DashboardError` (or the store's
:class:`~dia.errors.StoreError`); the CLI turns them into one-line messages.

>>> from dia.dashboard._serve import app_path
>>> app_path().name
'app.py'
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from pathlib import Path

from dia import settings
from dia.errors import DashboardError

START_TIMEOUT_S = 60.0


def app_path() -> Path:
    """The installed Streamlit script (``dia.dashboard/app.py``)."""
    return Path(__file__).resolve().parent / "app.py"


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port nobody listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def hidden_error_details() -> str | bool:
    """The ``client.showErrorDetails`` value that shows no message and no traceback.

    Newer Streamlit takes ``"none"`` (where its legacy ``False`` still shows the
    traceback); older versions had a boolean, and ``False`` hid the details.
    """
    from streamlit import config

    options = getattr(config, "ShowErrorDetailsConfigOptions", None)
    return "none" if options is not None and hasattr(options, "NONE") else False


def _check_store(db_url: str, public: bool) -> None:
    """Fail early, in one line, when the store cannot be opened (not inside Streamlit)."""
    from dia.dashboard._data import open_store

    open_store(db_url, public).close()


def start(db_url: str | None = None, *, public: bool = False, port: int | None = None,
          host: str | None = None) -> tuple[str, subprocess.Popen[bytes]]:
    """Start the dashboard server in a child process; return (URL, process) once it answers.

    ``public`` binds every interface and opens the store read-only; otherwise the server
    listens on loopback only. Raises :class:`~dia.errors.DashboardError` when Streamlit is
    missing or the server does not come up.
    """
    try:
        import streamlit  # noqa: F401
    except ImportError:
        raise DashboardError("the dashboard needs Streamlit: pip install 'dia[dashboard]'") from None
    from dia.record.store import default_database_url

    url_db = db_url or default_database_url()
    _check_store(url_db, public)
    host = host or ("0.0.0.0" if public else "127.0.0.1")
    port = port or free_port()
    env = {**os.environ, settings.ENV_DASHBOARD_DB: url_db, settings.ENV_DASHBOARD_PUBLIC: "1" if public else "0"}
    cmd = [sys.executable, "-m", "streamlit", "run", str(app_path()),
           "--server.port", str(port), "--server.address", host, "--server.headless", "true",
           "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
           "--client.toolbarMode", "viewer", "--global.developmentMode", "false"]
    if public:
        # Pages catch their own errors (one line and a reference); this covers the rest.
        cmd += ["--client.showErrorDetails", str(hidden_error_details()).lower()]
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    shown = f"http://{'localhost' if host in ('127.0.0.1', '0.0.0.0') else host}:{port}"
    _wait_healthy(f"http://127.0.0.1:{port}/_stcore/health", proc)
    # The server log (tracebacks of page errors, under the reference a page shows) goes to
    # our stderr; a pipe nobody reads would also block the server once full.
    threading.Thread(target=_forward_log, args=(proc,), daemon=True).start()
    return shown, proc


def _forward_log(proc: subprocess.Popen[bytes]) -> None:
    if proc.stderr is None:
        return
    for line in proc.stderr:
        try:
            sys.stderr.write(line.decode(errors="replace"))
            sys.stderr.flush()
        except (OSError, ValueError):  # our stderr closed: keep draining
            continue


def _wait_healthy(health: str, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = (proc.stderr.read().decode(errors="replace") if proc.stderr else "").strip().splitlines()
            raise DashboardError(f"the dashboard server exited: {err[-1] if err else proc.returncode}")
        try:
            with urllib.request.urlopen(health, timeout=2) as resp:
                if resp.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    stop_server(proc)
    raise DashboardError(f"the dashboard did not answer within {START_TIMEOUT_S:.0f} s")


def stop_server(proc: subprocess.Popen[bytes], timeout_s: float = 10.0) -> None:
    """Ask the server process to end (SIGTERM); kill it if it has not within ``timeout_s``."""
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _print_url(url: str, public: bool) -> None:
    # Plain print: the caller may be a script or a notebook, not the dia CLI.
    print(f"DIA dashboard: {url}" + ("  (public, read-only)" if public else ""), flush=True)


def serve(db_url: str | None = None, *, public: bool = False, port: int | None = None,
          block: bool = True, wait: bool | None = None, open_browser: bool = False,
          announce: Callable[[str, bool], None] | None = _print_url) -> str:
    """Serve the dashboard on ``db_url``; announce and return its URL.

    ``block=True`` (or ``wait=True``) keeps serving until Ctrl-C; ``block=False`` returns
    while the server keeps running in the background. ``announce(url, public)`` is called
    once the server answers (default: print the URL; ``None``: say nothing).

    >>> url = serve("sqlite:///demo.sqlite", block=False)  # doctest: +SKIP
    DIA dashboard: http://localhost:8501
    """
    block = block if wait is None else wait
    url, proc = start(db_url, public=public, port=port)
    if announce is not None:
        announce(url, public)
    if open_browser:
        import webbrowser

        webbrowser.open(url)
    if block:
        try:
            proc.wait()
        except KeyboardInterrupt:
            pass
        finally:
            stop_server(proc)
    return url
