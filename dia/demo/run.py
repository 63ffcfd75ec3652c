"""The steps of ``dia demo``. Each training step of the toy family runs under DIA's
tracker (``dia.track``) or one of its framework callbacks, so every figure printed at the
end was measured (or, on a machine without energy counters, estimated and labelled so)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.text import Text

TOY_ORG = "dia-demo"
TOY = {
    "base": f"{TOY_ORG}/toy-barcodebert",
    "species": f"{TOY_ORG}/toy-barcodebert-species",
    "species_b": f"{TOY_ORG}/toy-barcodebert-species-b",
    "lora": f"{TOY_ORG}/toy-barcodebert-species-lora",
    "int8": f"{TOY_ORG}/toy-barcodebert-species-int8",
    "merged": f"{TOY_ORG}/toy-barcodebert-species-merged",
    "distilled": f"{TOY_ORG}/toy-barcodebert-species-distilled",
}
# Illustrative link: the toy model does not really derive from BarcodeBERT's weights; the
# edge shows how a lab's own derivatives add to the published family's footprint.
ILLUSTRATIVE_PARENT = ("bioscan-ml/BarcodeBERT", "continued-pretraining")
PUBLISHED_ROOT = "bioscan-ml/BarcodeBERT"


@dataclass
class DemoResult:
    db_url: str
    card_path: Path | None
    ingested: int
    toy_runs: list[str] = field(default_factory=list)
    accuracies: dict[str, float] = field(default_factory=dict)
    rollups: dict[str, Any] = field(default_factory=dict)
    dashboard_url: str | None = None


def default_cards_dir() -> Path:
    """``examples/bioscan/cards`` of the source tree (the demo runs from a checkout)."""
    here = Path(__file__).resolve()
    for root in (Path.cwd(), *here.parents):
        cand = root / "examples" / "bioscan" / "cards"
        if cand.is_dir():
            return cand
    raise FileNotFoundError("examples/bioscan/cards not found: run `dia demo` from a DIA checkout or pass --cards")


def run_demo(
    *,
    workdir: str | os.PathLike[str] = ".demo",
    quick: bool = False,
    serve: bool = True,
    port: int | None = None,
    cards_dir: str | os.PathLike[str] | None = None,
    console: Console | None = None,
) -> DemoResult:
    """Run the whole demo in ``workdir`` (its store is recreated each time)."""
    from dia.demo.toy import ToySizes

    console = console or Console()
    work = Path(workdir).resolve()
    work.mkdir(parents=True, exist_ok=True)
    db_path = work / "dia-demo.sqlite"
    for suffix in ("", "-wal", "-shm"):
        Path(str(db_path) + suffix).unlink(missing_ok=True)
    db_url = f"sqlite:///{db_path}"
    cards = Path(cards_dir) if cards_dir else default_cards_dir()
    sizes = ToySizes.quick() if quick else ToySizes()
    result = DemoResult(db_url=db_url, card_path=None, ingested=0)

    from dia.record.store import Store

    store = Store(db_url)
    console.rule("[bold]DIA demo: the BIOSCAN family")
    console.print(f"demo store: {db_path}", markup=False, highlight=False)
    from dia import settings

    if not any(settings.location().values()):
        console.print("[dim]location of this machine unknown: world-average grid factors, wide intervals "
                      "(set DIA_COUNTRY=CAN, DIA_REGION=ON ... to use yours)[/]")

    steps: list[tuple[str, Callable[[], None]]] = []
    state: dict[str, Any] = {}

    def ingest() -> None:
        from dia.hub import ingest as ingest_cards

        summary = ingest_cards([cards], store=store)
        result.ingested = summary.ingested
        state["ingest"] = summary

    steps.append(("Ingest the published BIOSCAN family (estimated)", ingest))
    for title, fn in _toy_steps(store, sizes, state, result):
        steps.append((title, fn))

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                  console=console, transient=False) as progress:
        task = progress.add_task("demo", total=len(steps))
        for title, fn in steps:
            progress.update(task, description=title)
            fn()
            progress.advance(task)
            line = Text("done", style="green")
            line.append(f" {title}")
            line.append(_detail(title, state), style="dim")
            progress.console.print(line)
        progress.update(task, description="all steps done")

    _print_rollups(store, console, result)
    result.card_path = _write_card(store, work, console)
    store.close()
    if serve:
        from dia.dashboard import serve as serve_dashboard

        def announce(url: str, public: bool) -> None:
            console.print(Text.assemble("DIA dashboard: ", (url, "bold"), "  press Ctrl-C to stop"))

        result.dashboard_url = serve_dashboard(db_url, port=port, block=True, announce=announce)
    else:
        console.print(Text.assemble("dashboard: ", (f"dia dashboard --db {db_url}", "bold")))
    return result


def _detail(title: str, state: dict[str, Any]) -> str:
    detail = state.get("detail", {}).get(title)
    return f" ({detail})" if detail else ""


def _toy_steps(store: Any, sizes: Any, state: dict[str, Any], result: DemoResult) -> list[tuple[str, Callable[[], None]]]:
    """The toy family's training steps, in order; each adds its models to ``state``."""
    import dia
    from dia.demo import toy

    details: dict[str, str] = state.setdefault("detail", {})

    def tracked(model_id: str, kind: str, parents: list[Any]) -> Any:
        return dia.track(model_id, kind=kind, parents=parents, store=store, sample_interval_s=0.5)

    def data() -> None:
        state["data"] = toy.make_barcodes(sizes)
        state["train"], state["test"] = state["data"].split()
        details["Make synthetic DNA barcodes"] = (
            f"{len(state['data'].labels)} barcodes, {sizes.species} species, {sizes.k}-mer tokens")

    def pretrain() -> None:
        state["mlm"] = _pretrain_with_transformers(store, sizes, state["train"], toy)
        result.toy_runs.append(TOY["base"])

    def finetune() -> None:
        clf = toy.classifier_from(state["mlm"], sizes.species, seed=1)
        _finetune_with_lightning(store, sizes, clf, state["train"], toy)
        state["species"] = clf
        acc = toy.accuracy(clf, state["test"])
        result.accuracies[TOY["species"]] = acc
        details["Fine-tune a species classifier (Lightning callback)"] = f"test accuracy {acc:.0%}"

    def finetune_b() -> None:
        # Same head initialisation as the first fine-tune, other data order: the two can be
        # weight-averaged (a model soup).
        clf = toy.classifier_from(state["mlm"], sizes.species, seed=1)
        with tracked(TOY["species_b"], "finetuning", [f"{TOY['base']}:finetune"]) as run:
            toy.train_classifier(clf, state["train"], epochs=sizes.epochs, batch=sizes.batch, seed=20,
                                 on_step=lambda n: run.count(steps=1, samples=n))
        state["species_b"] = clf
        result.accuracies[TOY["species_b"]] = toy.accuracy(clf, state["test"])

    def lora() -> None:
        import copy

        model = copy.deepcopy(state["species"])
        with tracked(TOY["lora"], "adapter", [(TOY["species"], "lora")]) as run:
            params = toy.add_lora(model)
            toy.train_classifier(model, state["train"], epochs=max(1, sizes.epochs // 2), batch=sizes.batch,
                                 seed=30, params=params, on_step=lambda n: run.count(steps=1, samples=n))
        result.accuracies[TOY["lora"]] = toy.accuracy(model, state["test"])

    def quantize() -> None:
        with tracked(TOY["int8"], "quantization", [(TOY["species"], "int8")]):
            q = toy.quantize_int8(state["species"])
        result.accuracies[TOY["int8"]] = toy.accuracy(q, state["test"])

    def merge() -> None:
        with tracked(TOY["merged"], "merge", [(TOY["species"], "merge"), (TOY["species_b"], "merge")]):
            merged = toy.merge_average(state["species"], state["species_b"])
        result.accuracies[TOY["merged"]] = toy.accuracy(merged, state["test"])

    def distill() -> None:
        with tracked(TOY["distilled"], "distillation", [(TOY["species"], "distillation")]) as run:
            student = toy.distill(state["species"], state["train"], sizes, sizes.species,
                                  on_step=lambda n: run.count(steps=1, samples=n))
        result.accuracies[TOY["distilled"]] = toy.accuracy(student, state["test"])

    def inference() -> None:
        import torch

        from dia.show import format_value

        model = state["species"].eval()
        test = state["test"]
        with tracked(TOY["species"], "inference", []) as run, torch.no_grad():
            for _ in range(3 if sizes.epochs > 1 else 1):
                for i in range(0, len(test.labels), sizes.batch):
                    x = test.input_ids[i:i + sizes.batch]
                    model(input_ids=x)
                    run.count(inferences=len(x), tokens=int(x.numel()))
        rep = run.report
        wh = rep.intensities.wh_per_1000_inferences if rep else None
        if wh is not None:
            details["Inference run of the classifier (counters)"] = (
                f"{rep.workload.inferences:,} inferences, {format_value(wh.value, wh.unit)} ({wh.quality.value})")

    return [
        ("Make synthetic DNA barcodes", data),
        ("Pretrain toy-barcodebert (Transformers callback)", pretrain),
        ("Fine-tune a species classifier (Lightning callback)", finetune),
        ("Fine-tune a second classifier (dia.track)", finetune_b),
        ("Train a LoRA adapter", lora),
        ("Quantize to int8", quantize),
        ("Merge the two fine-tunes", merge),
        ("Distil a smaller student", distill),
        ("Inference run of the classifier (counters)", inference),
    ]


def _pretrain_with_transformers(store: Any, sizes: Any, train: Any, toy: Any) -> Any:
    """Masked-LM pretraining with the Transformers Trainer and DIA's TrainerCallback."""
    import tempfile

    from transformers import PrinterCallback, Trainer, TrainingArguments

    from dia.integrations.transformers import DIACallback

    model = toy.new_mlm(sizes, train.tokenizer.vocab_size)
    with tempfile.TemporaryDirectory() as out:
        args = TrainingArguments(
            output_dir=out, per_device_train_batch_size=sizes.batch, num_train_epochs=sizes.epochs,
            learning_rate=3e-3, logging_steps=5, report_to="none", save_strategy="no",
            disable_tqdm=True, use_cpu=True, seed=0,
        )
        callback = DIACallback(model_id=TOY["base"], parents=[ILLUSTRATIVE_PARENT], kind="pretraining",
                               store=store)
        trainer = Trainer(model=model, args=args, train_dataset=toy.MLMDataset(train), callbacks=[callback])
        trainer.remove_callback(PrinterCallback)  # the demo shows DIA's progress, not raw log dicts
        trainer.train()
    return model


def _finetune_with_lightning(store: Any, sizes: Any, clf: Any, train: Any, toy: Any) -> None:
    """Species fine-tuning with Lightning and DIA's Lightning Callback."""
    import logging
    import warnings

    import lightning.pytorch as pl
    import torch

    # Lightning's start-up banners and tips would drown the demo's own progress output.
    for name in ("lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", module="lightning")

    from dia.integrations.lightning import DIACallback

    class SpeciesModule(pl.LightningModule):
        def __init__(self) -> None:
            super().__init__()
            self.model = clf

        def training_step(self, batch: Any, _idx: int) -> Any:
            x, y = batch
            return self.model(input_ids=x, labels=y).loss

        def configure_optimizers(self) -> Any:
            return torch.optim.AdamW(self.parameters(), lr=3e-3)

    dataset = torch.utils.data.TensorDataset(train.input_ids, train.labels)
    loader = torch.utils.data.DataLoader(dataset, batch_size=sizes.batch, shuffle=True)
    trainer = pl.Trainer(
        max_epochs=sizes.epochs, accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
        enable_progress_bar=False, enable_model_summary=False,
        callbacks=[DIACallback(model_id=TOY["species"], parents=[f"{TOY['base']}:finetune"], kind="finetuning",
                               store=store)],
    )
    trainer.fit(SpeciesModule(), loader)


def _print_rollups(store: Any, console: Console, result: DemoResult) -> None:
    from dia.aggregate.rollup import rollup
    from dia.show import evidence, format_figure

    queries: list[tuple[str, Literal["family", "upstream"]]] = [
        (PUBLISHED_ROOT, "family"),
        (TOY["merged"], "upstream"),
        ("bioscan-ml/clibd", "upstream"),
    ]
    # One block per rollup, not a wide table: ids and intervals stay whole at 80 columns.
    console.print("Cumulative footprints (unique members; value (low–high))", style="bold",
                  markup=False, highlight=False)
    for model_id, scope in queries:
        r = rollup(model_id, scope=scope, store=store)
        result.rollups[f"{model_id}:{scope}"] = r
        ev = evidence(r.members, r.with_report, r.by_quality)
        console.print(Text.assemble((model_id, "bold"), f"  {scope}: {ev.badge}"), soft_wrap=True)
        for label, line in (("energy", format_figure(r.energy_kwh, "energy_kwh")),
                            ("carbon", format_figure(r.carbon_kg, "carbon_kg")),
                            ("water", format_figure(r.water_l, "water_l")), ("evidence", ev.summary)):
            console.print(f"  {label}: {line}", markup=False, highlight=False, soft_wrap=True)
    toy_family = rollup(TOY["base"], scope="family", store=store)
    result.rollups[f"{TOY['base']}:family"] = toy_family
    mix = evidence(toy_family.members, toy_family.with_report, toy_family.by_quality).mix
    console.print(
        f"toy family ({toy_family.members} models, tracked on this machine; quality: {mix or '-'}): "
        f"{format_figure(toy_family.energy_kwh, 'energy_kwh')}, {format_figure(toy_family.carbon_kg, 'carbon_kg')}, "
        f"{format_figure(toy_family.water_l, 'water_l')}; "
        f"use (inference) {format_figure(toy_family.use['energy_kwh'], 'energy_kwh')}",
        markup=False, highlight=False,
    )


def _write_card(store: Any, work: Path, console: Console) -> Path:
    from dia.hub import write_card

    target = work / "cards" / TOY["species"] / "README.md"
    if target.parent.exists():
        shutil.rmtree(target.parent)
    target.parent.mkdir(parents=True, exist_ok=True)
    path = Path(write_card(TOY["species"], target, store=store, format="hf", upstream=True))
    console.print(f"model card with DIA metadata: {path}", markup=False, highlight=False)
    return path
