"""Inference metering: a torch module, a real tiny pipeline and a pipeline-like callable."""

from __future__ import annotations

from typing import Any

import pytest

torch = pytest.importorskip("torch")

from dia.integrations.torch import meter  # noqa: E402
from dia.integrations.transformers import meter_pipeline  # noqa: E402

import dia  # noqa: E402


def _mlp() -> torch.nn.Module:
    torch.manual_seed(0)
    return torch.nn.Sequential(torch.nn.Linear(4, 8), torch.nn.ReLU(), torch.nn.Linear(8, 2))


def test_metered_module_starts_and_stores_its_own_inference_run(dia_store: Any) -> None:
    net = _mlp()
    with meter(net, model_id="me/tiny-mlp") as metered, torch.no_grad():
        metered(torch.randn(8, 4))
        net(torch.randn(5, 4))  # calls on the module itself are counted too
    report = metered.report
    assert report is not None and dia_store.get_run(report.id) is not None
    stored = dia_store.get_run(report.id)
    assert stored.kind.value == "inference" and stored.model_id == "me/tiny-mlp"
    assert stored.status.value == "completed"
    assert stored.workload.inferences == 13  # sub-modules are not counted again
    per_1000 = stored.intensities.wh_per_1000_inferences
    assert per_1000 is not None and per_1000.unit == "Wh/1000 inferences"
    assert per_1000.value == pytest.approx(stored.energy.it_kwh.value * 1e6 / 13)
    # closed: further calls count nothing and start nothing
    net(torch.randn(3, 4))
    assert dia_store.get_run(report.id).workload.inferences == 13


def test_metered_module_counts_into_the_active_run(dia_store: Any) -> None:
    net = _mlp()
    metered = meter(net)
    with dia.track("me/serving-test", kind="inference") as run:
        metered(torch.randn(4, 4))
        metered(torch.randn(6, 4))
        run.count(tokens=100)
    metered.close()
    assert metered.report is None  # it never needed a run of its own
    stored = dia_store.get_run(run.id)
    assert stored.workload.inferences == 10 and stored.workload.tokens == 100
    assert stored.intensities.j_per_token is not None
    assert stored.intensities.j_per_token.value == pytest.approx(stored.energy.it_kwh.value * 3.6e6 / 100)


def test_meter_rejects_what_is_not_a_module() -> None:
    with pytest.raises(TypeError, match=r"torch\.nn\.Module"):
        meter(lambda x: x)  # type: ignore[arg-type]


def _tiny_text_generation():  # type: ignore[no-untyped-def]
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers
    from transformers import GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast, pipeline

    words = ["<eos>", "hello", "world", "the", "a", "cat", "dog", "runs", "sits", "on", "mat"]
    backend = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<eos>"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    backend.decoder = decoders.WordPiece(prefix="##")  # joins words with spaces
    tokenizer = PreTrainedTokenizerFast(tokenizer_object=backend, eos_token="<eos>", pad_token="<eos>")
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config(vocab_size=len(words), n_embd=8, n_layer=1, n_head=2,
                                       n_positions=32, bos_token_id=0, eos_token_id=0, pad_token_id=0))
    model.config._name_or_path = "me/tiny-gpt2"
    return pipeline("text-generation", model=model, tokenizer=tokenizer, device="cpu")


def test_metered_pipeline_counts_inputs_and_generated_tokens(dia_store: Any) -> None:
    generate = meter_pipeline(_tiny_text_generation())
    out = generate(["hello world", "the cat"], max_new_tokens=5, min_new_tokens=5, do_sample=False,
                   return_tensors=True)
    assert len(out) == 2
    generate("the dog", max_new_tokens=3, min_new_tokens=3, do_sample=False, return_tensors=True)
    report = generate.close()
    stored = dia_store.get_run(report.id)
    assert stored.model_id == "me/tiny-gpt2" and stored.kind.value == "inference"
    assert stored.workload.inferences == 3
    assert stored.workload.tokens == 5 + 5 + 3  # generated only, prompts excluded
    assert stored.intensities.j_per_token is not None


class EchoPipeline:
    """A pipeline-like callable: answers each prompt with a fixed number of new tokens."""

    def __init__(self, new_tokens: int) -> None:
        self.new_tokens = new_tokens
        self.tokenizer = None

    def __call__(self, inputs: Any, **kwargs: Any) -> Any:
        one = lambda p: [{"generated_token_ids": list(range(self.new_tokens))}]  # noqa: E731
        return [one(p) for p in inputs] if isinstance(inputs, list) else one(inputs)


def test_pipeline_like_callable_counts_into_the_active_run(dia_store: Any) -> None:
    generate = meter_pipeline(EchoPipeline(new_tokens=7), model_id="me/echo")
    with dia.track("me/echo", kind="inference") as run:
        generate(["a", "b", "c", "d"])
        generate("e")
    stored = dia_store.get_run(run.id)
    assert stored.workload.inferences == 5 and stored.workload.tokens == 35
    assert generate.close() is None
    with pytest.raises(TypeError, match="callable"):
        meter_pipeline(42)
