"""RunOptions: every argument of dia.track, checked once, before the user's code runs."""

from __future__ import annotations

import dataclasses
import inspect

import pytest

import dia
from dia.errors import InvalidArgumentError, InvalidSettingError
from dia.record.report import Parent, RunKind
from dia.tracker import Run, RunOptions
from dia.tracker._options import checkpoint_interval_s, location_inputs


def test_options_are_normalised_and_frozen() -> None:
    opts = RunOptions("me/tiny", parents=["org/a:lora", ("org/b", "merge")], kind="finetuning",
                      sample_interval_s=2)
    assert opts.kind is RunKind.FINETUNING
    assert all(isinstance(p, Parent) for p in opts.parents)
    assert [(p.model_id, p.relation.value) for p in opts.parents] == [("org/a", "adapter"), ("org/b", "merge")]
    assert isinstance(opts.sample_interval_s, float)
    with pytest.raises(dataclasses.FrozenInstanceError):
        opts.model_id = "me/other"  # type: ignore[misc]


@pytest.mark.parametrize("kwargs", [{"meter": "bogus"}, {"sample_interval_s": 0}, {"kind": "nonsense"},
                                    {"parents": ["org/a:no-such-relation"]}])
def test_bad_arguments_raise_value_errors_from_track(kwargs: dict[str, object]) -> None:
    ran = []
    with pytest.raises(ValueError):
        dia.track("me/tiny", store=False, **kwargs)(lambda: ran.append(1))()  # type: ignore[arg-type]
    assert ran == []


def test_track_and_run_take_the_options_signature() -> None:
    fields = [f.name for f in dataclasses.fields(RunOptions) if f.name != "_"]
    params = inspect.signature(dia.track).parameters
    assert list(params) == fields
    assert params["model_id"].kind is inspect.Parameter.POSITIONAL_OR_KEYWORD
    assert all(params[name].kind is inspect.Parameter.KEYWORD_ONLY for name in fields[1:])
    with pytest.raises(TypeError):
        dia.track("me/tiny", "org/parent")  # type: ignore[misc]  # parents by keyword only
    with pytest.raises(TypeError):
        Run("me/tiny", options=RunOptions("me/tiny"))


def test_decorator_runs_share_the_checked_options() -> None:
    decorated = dia.track("me/tiny", store=False, meter="estimate")

    @decorated
    def train() -> int:
        return 1

    train()
    first = train.dia_run  # type: ignore[attr-defined]
    train()
    second = train.dia_run  # type: ignore[attr-defined]
    assert first is not second and first.id != second.id
    assert first.options is second.options is decorated.options


def test_environment_defaults_are_read_per_run(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIA_COUNTRY", "FRA")
    monkeypatch.setenv("DIA_REGION", "from-env")
    loc = location_inputs(RunOptions())
    assert (loc["country"], loc["region"]) == ("FRA", "from-env")
    monkeypatch.setenv("DIA_COUNTRY", "DEU")
    assert location_inputs(RunOptions())["country"] == "DEU"
    # Arguments describe the whole place: the environment does not fill their gaps.
    loc = location_inputs(RunOptions(region="explicit"))
    assert (loc["country"], loc["region"]) == (None, "explicit")
    monkeypatch.setenv("DIA_CHECKPOINT_S", "7.5")
    assert checkpoint_interval_s(None) == 7.5
    assert checkpoint_interval_s(0.001) == 0.05  # floored: a checkpoint is a store write
    monkeypatch.setenv("DIA_CHECKPOINT_S", "often")  # refused, never silently replaced
    with pytest.raises(InvalidSettingError, match="DIA_CHECKPOINT_S"):
        checkpoint_interval_s(None)


def test_a_model_that_lists_itself_as_parent_is_refused_before_the_block_runs() -> None:
    ran = []
    with pytest.raises(InvalidArgumentError, match="itself as a parent"), \
            dia.track("org/self", parents=["org/self:lora"], store=False):
        ran.append(True)
    assert ran == []


@pytest.mark.parametrize("parent", [{"model_id": "x/y", "relation": "nope"}, {"foo": 1}])
def test_a_bad_parent_mapping_is_one_line_naming_the_field(parent: dict[str, object]) -> None:
    with pytest.raises(InvalidArgumentError) as err:
        dia.track("a/b", parents=[parent], store=False)
    message = str(err.value)
    assert "\n" not in message and ("relation" in message or "model_id" in message)
