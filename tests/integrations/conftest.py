"""Tiny real models built from configs (no downloads) for the integration tests."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")


class RandomTokens(torch.utils.data.Dataset):
    """A deterministic toy classification set: ``n`` sequences of ``length`` token ids."""

    def __init__(self, n: int = 16, length: int = 8, vocab_size: int = 32) -> None:
        self.n, self.length, self.vocab_size = n, length, vocab_size

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        g = torch.Generator().manual_seed(i)
        return {"input_ids": torch.randint(0, self.vocab_size, (self.length,), generator=g),
                "labels": torch.tensor(i % 2)}


def _tiny_bert():  # type: ignore[no-untyped-def]
    from transformers import BertConfig, BertForSequenceClassification

    torch.manual_seed(0)
    config = BertConfig(vocab_size=32, hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                        intermediate_size=16, max_position_embeddings=16, num_labels=2)
    return BertForSequenceClassification(config)


@pytest.fixture
def tiny_bert():  # type: ignore[no-untyped-def]
    """A factory of tiny BertForSequenceClassification models built from a config."""
    pytest.importorskip("transformers")
    return _tiny_bert


@pytest.fixture
def random_tokens() -> type[RandomTokens]:
    return RandomTokens


@pytest.fixture
def dia_store():  # type: ignore[no-untyped-def]
    """The isolated default store (``DIA_DATABASE_URL`` set by the autouse fixture)."""
    from dia.record.store import Store

    store = Store()
    yield store
    store.close()
