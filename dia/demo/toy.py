"""A toy BarcodeBERT family that trains in seconds on a CPU.

Synthetic DNA barcodes (species = a reference sequence plus point mutations), tokenised
into non-overlapping k-mers as BarcodeBERT does, feed a tiny BERT:

- ``toy-barcodebert``: masked-language-model pretraining;
- ``toy-barcodebert-species`` / ``-b``: species classifiers fine-tuned from it (two seeds);
- ``-lora``: a rank-4 LoRA adapter on the classifier's attention;
- ``-int8``: dynamic int8 quantization of the classifier;
- ``-merged``: weight average of the two fine-tunes;
- ``-distilled``: a one-layer student distilled from the classifier.

Everything here is plain torch and transformers model code; measuring is done by the
caller (``dia.demo.run``), so this module knows nothing about DIA.
"""

from __future__ import annotations

import copy
import itertools
import math
import random
import warnings
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

BASES = "ACGT"
SPECIALS = ["[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]"]
PAD, CLS, SEP, MASK, UNK = range(len(SPECIALS))


@dataclass(frozen=True)
class ToySizes:
    """Sizes of the toy data and models; ``quick`` is what the test suite uses."""

    species: int = 24
    per_species: int = 50
    barcode_bp: int = 96
    k: int = 4
    hidden: int = 48
    layers: int = 2
    epochs: int = 8
    batch: int = 32

    @classmethod
    def quick(cls) -> ToySizes:
        return cls(species=8, per_species=16, barcode_bp=48, hidden=16, layers=1, epochs=2, batch=32)


class KmerTokenizer:
    """Non-overlapping k-mers over ACGT plus five special tokens."""

    def __init__(self, k: int = 4) -> None:
        self.k = k
        kmers = ["".join(p) for p in itertools.product(BASES, repeat=k)]
        self.vocab = {tok: i for i, tok in enumerate(SPECIALS + kmers)}

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    def encode(self, seq: str) -> list[int]:
        kmers = [seq[i:i + self.k] for i in range(0, len(seq) - self.k + 1, self.k)]
        return [CLS] + [self.vocab.get(km, UNK) for km in kmers] + [SEP]


@dataclass
class BarcodeData:
    input_ids: torch.Tensor  # (n, length)
    labels: torch.Tensor  # (n,) species index
    tokenizer: KmerTokenizer

    def split(self, frac: float = 0.8) -> tuple[BarcodeData, BarcodeData]:
        n = int(len(self.labels) * frac)
        return (BarcodeData(self.input_ids[:n], self.labels[:n], self.tokenizer),
                BarcodeData(self.input_ids[n:], self.labels[n:], self.tokenizer))


def make_barcodes(sizes: ToySizes, seed: int = 0) -> BarcodeData:
    """Synthetic barcodes: each species is a random reference with ~3 % point mutations."""
    rng = random.Random(seed)
    tok = KmerTokenizer(sizes.k)
    refs = ["".join(rng.choice(BASES) for _ in range(sizes.barcode_bp)) for _ in range(sizes.species)]
    rows: list[tuple[list[int], int]] = []
    for label, ref in enumerate(refs):
        for _ in range(sizes.per_species):
            seq = [b if rng.random() > 0.03 else rng.choice(BASES) for b in ref]
            rows.append((tok.encode("".join(seq)), label))
    rng.shuffle(rows)
    ids = torch.tensor([r[0] for r in rows], dtype=torch.long)
    labels = torch.tensor([r[1] for r in rows], dtype=torch.long)
    return BarcodeData(ids, labels, tok)


def bert_config(sizes: ToySizes, vocab_size: int, *, layers: int | None = None, hidden: int | None = None,
                num_labels: int = 2) -> Any:
    from transformers import BertConfig

    h = hidden or sizes.hidden
    return BertConfig(  # type: ignore[call-arg]  # num_labels goes through **kwargs
        vocab_size=vocab_size, hidden_size=h, num_hidden_layers=layers or sizes.layers,
        num_attention_heads=2, intermediate_size=2 * h, max_position_embeddings=128,
        num_labels=num_labels, pad_token_id=PAD,
    )


def mask_tokens(input_ids: torch.Tensor, generator: torch.Generator, prob: float = 0.15) -> tuple[torch.Tensor, torch.Tensor]:
    """BERT-style masking of k-mer tokens (specials never masked); labels -100 elsewhere."""
    labels = input_ids.clone()
    special = input_ids < len(SPECIALS)
    chosen = (torch.rand(input_ids.shape, generator=generator) < prob) & ~special
    labels[~chosen] = -100
    masked = input_ids.clone()
    masked[chosen] = MASK
    return masked, labels


class MLMDataset(torch.utils.data.Dataset):  # type: ignore[type-arg]
    """Masked k-mer sequences for the Transformers Trainer."""

    def __init__(self, data: BarcodeData, seed: int = 0) -> None:
        gen = torch.Generator().manual_seed(seed)
        self.inputs, self.labels = mask_tokens(data.input_ids, gen)

    def __len__(self) -> int:
        return len(self.inputs)

    def __getitem__(self, i: int) -> dict[str, torch.Tensor]:
        return {"input_ids": self.inputs[i], "attention_mask": torch.ones_like(self.inputs[i]),
                "labels": self.labels[i]}


def new_mlm(sizes: ToySizes, vocab_size: int) -> nn.Module:
    from transformers import BertForMaskedLM

    torch.manual_seed(0)
    return BertForMaskedLM(bert_config(sizes, vocab_size))


def classifier_from(mlm: nn.Module, num_labels: int, seed: int) -> nn.Module:
    """A species classifier whose encoder starts from the pretrained MLM's encoder."""
    from transformers import BertForSequenceClassification

    torch.manual_seed(seed)
    config: Any = copy.deepcopy(mlm.config)
    config.num_labels = num_labels
    clf = BertForSequenceClassification(config)
    clf.bert.load_state_dict(mlm.bert.state_dict(), strict=False)  # type: ignore[union-attr]
    return clf


def batches(data: BarcodeData, batch: int, seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    order = torch.randperm(len(data.labels), generator=gen)
    return [(data.input_ids[order[i:i + batch]], data.labels[order[i:i + batch]])
            for i in range(0, len(order), batch)]


def train_classifier(model: nn.Module, data: BarcodeData, *, epochs: int, batch: int, seed: int,
                     lr: float = 3e-3, on_step: Any = None, params: Any = None) -> None:
    """A plain supervised loop (used for the second fine-tune and the LoRA adapter)."""
    opt = torch.optim.AdamW(params if params is not None else model.parameters(), lr=lr)
    model.train()
    for epoch in range(epochs):
        for x, y in batches(data, batch, seed + epoch):
            loss = model(input_ids=x, labels=y).loss
            opt.zero_grad()
            loss.backward()
            opt.step()
            if on_step:
                on_step(len(y))


@torch.no_grad()
def accuracy(model: nn.Module, data: BarcodeData) -> float:
    model.eval()
    logits = model(input_ids=data.input_ids).logits
    return float((logits.argmax(-1) == data.labels).float().mean())


class LoRALinear(nn.Module):
    """``W x + (B A x) * alpha / r`` with the base weight frozen."""

    def __init__(self, base: nn.Linear, r: int = 4, alpha: float = 8.0) -> None:
        super().__init__()
        self.base = base
        for p in self.base.parameters():
            p.requires_grad_(False)
        self.lora_a = nn.Parameter(torch.randn(r, base.in_features) / math.sqrt(base.in_features))
        self.lora_b = nn.Parameter(torch.zeros(base.out_features, r))
        self.scale = alpha / r

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.base(x) + (x @ self.lora_a.T @ self.lora_b.T) * self.scale


def add_lora(model: nn.Module, r: int = 4) -> list[nn.Parameter]:
    """Freeze ``model`` and put LoRA on every attention query and value; returns trainable params."""
    for p in model.parameters():
        p.requires_grad_(False)
    trainable: list[nn.Parameter] = []
    for layer in model.bert.encoder.layer:  # type: ignore[union-attr]
        for name in ("query", "value"):
            lora = LoRALinear(getattr(layer.attention.self, name), r=r)
            setattr(layer.attention.self, name, lora)
            trainable += [lora.lora_a, lora.lora_b]
    for p in model.classifier.parameters():  # type: ignore[union-attr]
        p.requires_grad_(True)
        trainable.append(p)
    return trainable


def quantize_int8(model: nn.Module) -> nn.Module:
    """Dynamic int8 quantization of every Linear layer (weights int8, activations at run time)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization announces its move to torchao
        return torch.ao.quantization.quantize_dynamic(copy.deepcopy(model), {nn.Linear}, dtype=torch.qint8)


def merge_average(a: nn.Module, b: nn.Module) -> nn.Module:
    """Uniform weight averaging of two fine-tunes of the same base (a 'model soup')."""
    merged = copy.deepcopy(a)
    sb = b.state_dict()
    merged.load_state_dict({k: (v + sb[k]) / 2 if v.is_floating_point() else v for k, v in a.state_dict().items()})
    return merged


def distill(teacher: nn.Module, data: BarcodeData, sizes: ToySizes, num_labels: int, *, seed: int = 3,
            temperature: float = 2.0, on_step: Any = None) -> nn.Module:
    """A one-layer, half-width student trained on the teacher's softened logits and the labels."""
    from transformers import BertForSequenceClassification

    torch.manual_seed(seed)
    student = BertForSequenceClassification(
        bert_config(sizes, data.tokenizer.vocab_size, layers=1, hidden=max(8, sizes.hidden // 2), num_labels=num_labels))
    opt = torch.optim.AdamW(student.parameters(), lr=3e-3)
    teacher.eval()
    student.train()
    for epoch in range(sizes.epochs + 1):
        for x, y in batches(data, sizes.batch, seed + epoch):
            with torch.no_grad():
                t_logits = teacher(input_ids=x).logits
            s_logits = student(input_ids=x).logits
            soft = F.kl_div(F.log_softmax(s_logits / temperature, -1), F.softmax(t_logits / temperature, -1),
                            reduction="batchmean") * temperature**2
            loss = 0.5 * soft + 0.5 * F.cross_entropy(s_logits, y)
            opt.zero_grad()
            loss.backward()
            opt.step()
            if on_step:
                on_step(len(y))
    return student
