"""Every ``DIA_*`` environment variable, defined, parsed and documented in this one module.

Each variable has one accessor here; no other module reads a ``DIA_*`` variable itself (a
test enforces it). Values are read when asked for, not once at import: a program, a test or
``dia run`` may set them after ``import dia``, and the tracker must see the value in force
when a run starts. Parsing is cheap (one dictionary look-up).

Accessors take an optional ``env`` mapping so that code which inspects another process's
environment (``dia run``, the distributed launchers) parses it by the same rules.

>>> checkpoint_s({"DIA_CHECKPOINT_S": "30"})
30.0
>>> flag_on({"DIA_HUB_AUTOFILL": "yes"}, ENV_HUB_AUTOFILL)
True
>>> [v.name for v in VARIABLES][:2]
['DIA_DATABASE_URL', 'DIA_COUNTRY']
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping
from dataclasses import dataclass

from dia.errors import InvalidSettingError

ENV_DATABASE_URL = "DIA_DATABASE_URL"
ENV_COUNTRY = "DIA_COUNTRY"
ENV_REGION = "DIA_REGION"
ENV_CLOUD_PROVIDER = "DIA_CLOUD_PROVIDER"
ENV_CLOUD_REGION = "DIA_CLOUD_REGION"
ENV_CONFIG = "DIA_CONFIG"
ENV_CHECKPOINT_S = "DIA_CHECKPOINT_S"
ENV_HUB_AUTOFILL = "DIA_HUB_AUTOFILL"
ENV_RUN_GROUP = "DIA_RUN_GROUP"
ENV_RUN_NONCE = "DIA_RUN_NONCE"
ENV_DASHBOARD_DB = "DIA_DASHBOARD_DB"
ENV_DASHBOARD_PUBLIC = "DIA_DASHBOARD_PUBLIC"
ENV_OUTER_RUN = "DIA_OUTER_RUN"
ENV_WINDOWS_DIR = "DIA_WINDOWS_DIR"

DEFAULT_CHECKPOINT_S = 10.0
# A day: a longer interval would leave a killed run "running" for days, and the
# tracker's timers refuse waits beyond a few hundred years (a huge value crashed them).
MAX_CHECKPOINT_S = 86400.0

_TRUE = frozenset({"1", "true", "yes", "on"})
_FALSE = frozenset({"", "0", "false", "no", "off"})


@dataclass(frozen=True)
class Variable:
    """One environment variable: its name, default (as text), and what it does."""

    name: str
    default: str
    doc: str


VARIABLES: tuple[Variable, ...] = (
    Variable(ENV_DATABASE_URL, "the SQLite file in the user data directory",
             "The store: `sqlite:///path.sqlite` or `postgresql://user:password@host/db`. "
             "`--db` overrides it."),
    Variable(ENV_COUNTRY, "unset",
             "ISO 3166-1 alpha-3 country of the runs (`FRA`), when no argument gives one."),
    Variable(ENV_REGION, "unset",
             "Sub-national grid region (`quebec`, a US state) within the country."),
    Variable(ENV_CLOUD_PROVIDER, "unset", "Cloud provider of the runs: `gcp`, `aws` or `azure`."),
    Variable(ENV_CLOUD_REGION, "unset", "Cloud region of the runs (`europe-west9`)."),
    Variable(ENV_CONFIG, "`config.toml` in the user config directory",
             "A TOML file whose `[location]` table gives the location when no argument or "
             "variable does."),
    Variable(ENV_CHECKPOINT_S, "10",
             "Seconds between checkpoints of a running run (a positive number). A stored "
             "`running` run whose heartbeat is older than 3 intervals and whose process is "
             "gone is shown as interrupted."),
    Variable(ENV_HUB_AUTOFILL, "off",
             "`1`/`true`/`yes`/`on`: fill model cards on every Hub upload, without "
             "importing `dia.hub` (the same as `dia.hub.enable_autofill()`)."),
    Variable(ENV_RUN_GROUP, "unset",
             "Shared id of the ranks of one distributed job (give every rank the same "
             "value). Unset: derived from `TORCHELASTIC_RUN_ID`, `SLURM_JOB_ID`, or "
             "`MASTER_ADDR:MASTER_PORT`."),
    Variable(ENV_RUN_NONCE, "the launcher's pid",
             "Salt for run groups derived from `MASTER_ADDR:MASTER_PORT`, which later jobs "
             "reuse: give every rank of one job the same value."),
    Variable(ENV_DASHBOARD_DB, f"`{ENV_DATABASE_URL}`",
             "The store the dashboard reads (set by `dia dashboard --db`; a Space sets it)."),
    Variable(ENV_DASHBOARD_PUBLIC, "off",
             "`1`/`true`/`yes`/`on`: the dashboard runs public and read-only (`--public`)."),
    Variable(ENV_OUTER_RUN, "unset",
             "Set by DIA, not by hand: the id of the run (`dia run`, or an outermost `dia.track`) "
             "that the child processes run inside. A run started in such a child is recorded as a "
             "window of that run (its phases), not as a second measurement."),
    Variable(ENV_WINDOWS_DIR, "unset",
             "Set by DIA with `DIA_OUTER_RUN`: the private directory where the runs started in child "
             "processes leave their windows for the outer run. Missing directory: the run is measured "
             "as a run of its own."),
)


def _env(env: Mapping[str, str] | None) -> Mapping[str, str]:
    return os.environ if env is None else env


def _text(env: Mapping[str, str] | None, name: str) -> str | None:
    """The variable's value with surrounding blanks removed; an empty value counts as unset."""
    value = _env(env).get(name, "").strip()
    return value or None


def is_set(name: str, env: Mapping[str, str] | None = None) -> bool:
    """Whether the variable has a non-blank value (whatever it is)."""
    return _text(env, name) is not None


def flag_on(env: Mapping[str, str] | None, name: str) -> bool:
    """The one reading of an on/off variable: ``1``, ``true``, ``yes`` or ``on`` (any case).

    Any other non-empty value is refused, so that a typo never silently means "off".
    """
    value = _env(env).get(name, "").strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise InvalidSettingError(f"{name}={value!r}: expected 1, true, yes or on (or 0, false, no, off)")


def database_url(env: Mapping[str, str] | None = None) -> str | None:
    """``DIA_DATABASE_URL``, or ``None`` for the default embedded store."""
    return _text(env, ENV_DATABASE_URL)


def location(env: Mapping[str, str] | None = None) -> dict[str, str | None]:
    """The location variables: ``country``, ``region``, ``cloud_provider``, ``cloud_region``."""
    return {"country": _text(env, ENV_COUNTRY), "region": _text(env, ENV_REGION),
            "cloud_provider": _text(env, ENV_CLOUD_PROVIDER),
            "cloud_region": _text(env, ENV_CLOUD_REGION)}


def config_path(env: Mapping[str, str] | None = None) -> str | None:
    """``DIA_CONFIG``: an explicit location config file, or ``None`` for the default one."""
    return _text(env, ENV_CONFIG)


def checkpoint_s(env: Mapping[str, str] | None = None) -> float:
    """``DIA_CHECKPOINT_S`` in seconds (default 10). Raises :class:`InvalidSettingError`
    unless it is a number above zero and at most :data:`MAX_CHECKPOINT_S` (NaN, infinity
    and ``1e300`` are refused in one line naming the variable).

    >>> checkpoint_s({"DIA_CHECKPOINT_S": "nan"})
    Traceback (most recent call last):
    dia.errors.InvalidSettingError: DIA_CHECKPOINT_S='nan': expected a number of seconds above 0 and at most 86400
    """
    raw = _text(env, ENV_CHECKPOINT_S)
    if raw is None:
        return DEFAULT_CHECKPOINT_S
    try:
        seconds = float(raw)
    except ValueError:
        seconds = math.nan
    if not math.isfinite(seconds) or not 0 < seconds <= MAX_CHECKPOINT_S:
        shown = raw if len(raw) <= 40 else raw[:37] + "..."
        raise InvalidSettingError(
            f"{ENV_CHECKPOINT_S}={shown!r}: expected a number of seconds above 0 and at most {MAX_CHECKPOINT_S:g}")
    return seconds


def hub_autofill(env: Mapping[str, str] | None = None) -> bool:
    """``DIA_HUB_AUTOFILL``: fill cards on Hub uploads."""
    return flag_on(env, ENV_HUB_AUTOFILL)


def run_group(env: Mapping[str, str] | None = None) -> str | None:
    """``DIA_RUN_GROUP``: the run group given by ``dia run`` or the user."""
    return _text(env, ENV_RUN_GROUP)


def run_nonce(env: Mapping[str, str] | None = None) -> str | None:
    """``DIA_RUN_NONCE``: salt for run groups derived from the master address and port."""
    return _text(env, ENV_RUN_NONCE)


def dashboard_db(env: Mapping[str, str] | None = None) -> str | None:
    """``DIA_DASHBOARD_DB``: the dashboard's store (``None``: the default store)."""
    return _text(env, ENV_DASHBOARD_DB)


def dashboard_public(env: Mapping[str, str] | None = None) -> bool:
    """``DIA_DASHBOARD_PUBLIC``: public, read-only dashboard."""
    return flag_on(env, ENV_DASHBOARD_PUBLIC)


def outer_run(env: Mapping[str, str] | None = None) -> tuple[str, str] | None:
    """``(DIA_OUTER_RUN, DIA_WINDOWS_DIR)`` when both are set: this process runs inside that run.

    >>> outer_run({"DIA_OUTER_RUN": "0a56", "DIA_WINDOWS_DIR": "/tmp/dia-windows-x"})
    ('0a56', '/tmp/dia-windows-x')
    >>> outer_run({"DIA_OUTER_RUN": "0a56"}) is None
    True
    >>> outer_run({"DIA_OUTER_RUN": "not a run id", "DIA_WINDOWS_DIR": "/tmp/x"})
    Traceback (most recent call last):
    ...
    dia.errors.InvalidSettingError: DIA_OUTER_RUN is not a run id (set by DIA for nested runs; unset it)
    """
    run_id, directory = _text(env, ENV_OUTER_RUN), _text(env, ENV_WINDOWS_DIR)
    if not (run_id and directory):
        return None
    # DIA sets it to a run id; anything else was set by hand and would end up in notes.
    if len(run_id) > 128 or not all(c.isprintable() and not c.isspace() for c in run_id):
        raise InvalidSettingError(f"{ENV_OUTER_RUN} is not a run id (set by DIA for nested runs; unset it)")
    return run_id, directory


def outer_run_env(run_id: str, directory: str) -> dict[str, str]:
    """The variables a run exports to its child processes (the inverse of :func:`outer_run`)."""
    return {ENV_OUTER_RUN: run_id, ENV_WINDOWS_DIR: directory}


def markdown_table() -> str:
    """The variables as a Markdown table (the docs' settings page is checked against it)."""
    rows = ["| variable | default | what it does |", "|---|---|---|"]
    rows += [f"| `{v.name}` | {v.default} | {v.doc} |" for v in VARIABLES]
    return "\n".join(rows)
