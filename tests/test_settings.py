"""dia.settings: every DIA_* variable is parsed there, by one set of rules, and nowhere else."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import dia
from dia import settings
from dia.errors import InvalidSettingError

ROOT = Path(__file__).resolve().parents[1]
NAMES = {v.name for v in settings.VARIABLES}


def test_checkpoint_s_parses_and_defaults() -> None:
    assert settings.checkpoint_s({}) == settings.DEFAULT_CHECKPOINT_S
    assert settings.checkpoint_s({"DIA_CHECKPOINT_S": " 2.5 "}) == 2.5
    assert settings.checkpoint_s({"DIA_CHECKPOINT_S": ""}) == settings.DEFAULT_CHECKPOINT_S
    assert settings.checkpoint_s({"DIA_CHECKPOINT_S": "86400"}) == settings.MAX_CHECKPOINT_S


@pytest.mark.parametrize("raw", ["nan", "inf", "-inf", "1e300", "86401", "0", "-1", "ten"])
def test_checkpoint_s_refuses_unusable_values_in_one_line(raw: str) -> None:
    with pytest.raises(InvalidSettingError) as err:
        settings.checkpoint_s({"DIA_CHECKPOINT_S": raw})
    message = str(err.value)
    assert "DIA_CHECKPOINT_S" in message and repr(raw) in message and "\n" not in message


@pytest.mark.parametrize(("raw", "on"), [("1", True), ("TRUE", True), (" yes ", True), ("on", True),
                                         ("", False), ("0", False), ("off", False), ("No", False)])
def test_one_reading_of_flags(raw: str, on: bool) -> None:
    assert settings.hub_autofill({"DIA_HUB_AUTOFILL": raw}) is on
    assert settings.dashboard_public({"DIA_DASHBOARD_PUBLIC": raw}) is on


def test_a_flag_typo_is_refused_not_read_as_off() -> None:
    # A public dashboard configured with a typo must not silently run private (or public).
    with pytest.raises(InvalidSettingError, match="DIA_DASHBOARD_PUBLIC"):
        settings.dashboard_public({"DIA_DASHBOARD_PUBLIC": "ture"})


def test_blank_values_count_as_unset() -> None:
    env = {"DIA_DATABASE_URL": "  ", "DIA_COUNTRY": "FRA", "DIA_REGION": ""}
    assert settings.database_url(env) is None
    assert settings.location(env) == {"country": "FRA", "region": None, "cloud_provider": None,
                                      "cloud_region": None}
    assert settings.is_set("DIA_COUNTRY", env) and not settings.is_set("DIA_REGION", env)


def test_accessors_read_the_environment_when_called(monkeypatch: pytest.MonkeyPatch) -> None:
    # Read on each call, not once at import: dia run and tests set variables after import dia.
    monkeypatch.setenv("DIA_CHECKPOINT_S", "3")
    assert settings.checkpoint_s() == 3.0
    monkeypatch.setenv("DIA_CHECKPOINT_S", "4")
    assert settings.checkpoint_s() == 4.0


def test_tracker_refuses_a_bad_checkpoint_setting_before_the_block_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIA_CHECKPOINT_S", "nan")
    ran = []
    with pytest.raises(InvalidSettingError, match="DIA_CHECKPOINT_S"), dia.track("me/m", store=False):
        ran.append(True)
    assert ran == []


def test_store_listing_survives_a_bad_checkpoint_setting(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    store = dia.Store(f"sqlite:///{tmp_path}/s.sqlite")
    with dia.track("me/m", store=store):
        pass
    monkeypatch.setenv("DIA_CHECKPOINT_S", "-5")
    assert [r.status.value for r in store.list_runs()] == ["completed"]


def _variable_literals(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return [node.value for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in NAMES]


def test_no_module_but_settings_names_a_dia_variable() -> None:
    offenders = []
    for folder in ("dia", "integrations", "dashboard"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path == ROOT / "dia" / "settings.py":
                continue
            offenders += [f"{path.relative_to(ROOT)}: {name}" for name in _variable_literals(path)]
    assert offenders == []


def test_every_variable_is_documented_in_the_readme_and_the_settings_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert sorted(name for name in NAMES if f"`{name}`" not in readme) == []
    # The settings page holds the table made from the definitions, so the two cannot drift.
    assert settings.markdown_table() in (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
