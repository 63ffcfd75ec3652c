"""Priors for members of a family that disclosed nothing (``dia rollup --impute``).

A member without any production run gets a GPU-hour prior chosen by its relation to its
parent, turned into energy with its recorded GPU (TDP x 60-80 % utilisation, the DIA
paper's draw range) and into carbon and water with :func:`dia.convert.footprint` at an unknown place (the
world defaults of ``docs: methodology section 2``, DIA's conventions, the embodied figure
of the recorded accelerator). Results carry quality ``imputed`` and are reported
apart from disclosed totals, never added to them.

Sources: GPU-hour priors lora 1, qlora 1.5, adapter 1, quantized 0.5, merge 0.2,
distill 200, finetune 100, fork 0 are from the DIA position paper (Raza, Zarubiieva et
al., arXiv 2601.21632) and its reference implementation; the priors for DIA's other
relations are DIA's own choices, documented in :data:`GPU_HOUR_PRIORS`.

>>> est = impute_member("adapter", "lora", gpu_name=None)
>>> round(est.gpu_hours.value, 2), est.quality
(1.0, 'imputed')
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from dia.record.report import Interval

# relation (or "relation:method") -> GPU hours. ``None``: no meaningful prior.
GPU_HOUR_PRIORS: dict[str, float | None] = {
    # From the DIA paper's reference implementation.
    "adapter:lora": 1.0,
    "adapter:qlora": 1.5,
    "adapter": 1.0,
    "quantization": 0.5,
    "merge": 0.2,
    "distillation": 200.0,
    "finetune": 100.0,
    "duplicate": 0.0,  # "fork": a copy costs nothing to produce
    # DIA's choices for the rest of its vocabulary (why in each comment).
    "instruction-tuning": 100.0,  # a full fine-tune on instruction data
    "preference-tuning": 50.0,  # DPO/RLHF stages are usually shorter than SFT
    "continued-pretraining": 500.0,  # more tokens than a fine-tune, far fewer than pretraining
    "adapter-merged": 1.0,  # an adapter's training plus a negligible merge
    "pruning": 10.0,  # scoring plus a short recovery fine-tune
    "conversion": 0.1,  # format conversion: minutes of compute, like a merge
    "upscaling": 100.0,  # depth up-scaling needs continued training, fine-tune sized
    "contrastive-alignment": 50.0,  # aligning frozen encoders: projection heads only
    "new-version": 100.0,  # treated as a fine-tune of the previous version
    "checkpoint": 0.0,  # a checkpoint's compute belongs to the run that wrote it
    "pretraining": None,  # a foundation model's cost spans orders of magnitude: not guessed
}

# The prior is a central guess: its interval spans half to double.
PRIOR_SPREAD: tuple[float, float] = (0.5, 2.0)
# GPU draw as a share of TDP (DIA paper: 60-80 %).
UTILISATION: tuple[float, float, float] = (0.7, 0.6, 0.8)
# When the member's GPU is unknown: an NVIDIA A100 SXM (400 W), the commonest training GPU
# on Hub cards.
DEFAULT_TDP_W = 400.0


@dataclass(frozen=True)
class Imputation:
    """An imputed footprint for one member (facility energy, total carbon, total water)."""

    gpu_hours: Interval
    energy_kwh: Interval
    carbon_kg: Interval
    water_l: Interval
    tdp_w: float
    basis: str
    quality: str = "imputed"


def prior_gpu_hours(relation: str | None, method: str | None = None) -> float | None:
    """The GPU-hour prior for a relation (method-specific where one exists)."""
    if relation is None:
        return None
    from dia.link.relations import plain_method

    method = plain_method(method)  # an inferred edge ("inferred:tag:qlora") keeps its sub-type's prior
    if method and f"{relation}:{method}" in GPU_HOUR_PRIORS:
        return GPU_HOUR_PRIORS[f"{relation}:{method}"]
    return GPU_HOUR_PRIORS.get(relation)


def _tdp_w(gpu_name: str | None) -> tuple[float, str]:
    from dia.convert import gpu_tdp_w

    tdp = gpu_tdp_w(gpu_name) if gpu_name else None
    if tdp:
        return float(tdp), gpu_name  # type: ignore[return-value]
    return DEFAULT_TDP_W, "default GPU (400 W)"


def impute_member(relation: str | None, method: str | None = None, *, gpu_name: str | None) -> Imputation | None:
    """Impute a member's footprint from its relation and GPU; ``None`` when no prior applies.

    Energy is the prior's GPU-hours x the GPU's board power x utilisation; carbon and water
    come from :func:`dia.convert.footprint` at an unknown place (world defaults, the same
    conventions and the same per-accelerator embodied figure as every other conversion).
    """
    from dia.convert import footprint
    from dia.record.report import Quantity

    hours = prior_gpu_hours(relation, method)
    if hours is None:
        return None
    tdp_w, gpu_label = _tdp_w(gpu_name)
    gh = Interval(value=hours, low=hours * PRIOR_SPREAD[0], high=hours * PRIOR_SPREAD[1])
    it_kwh = Quantity(value=gh.value * tdp_w / 1000 * UTILISATION[0], low=gh.low * tdp_w / 1000 * UTILISATION[1],
                      high=gh.high * tdp_w / 1000 * UTILISATION[2], unit="kWh", quality="imputed")
    # use_configured=False: this machine's DIA_COUNTRY says nothing about where a silent member trained.
    fp = footprint(it_kwh, gpu_hours=gh, gpu_name=gpu_name, on_unknown="world", use_configured=False)
    facility = fp.energy.facility_kwh
    assert facility is not None and fp.carbon.total_kg is not None
    basis = f"{relation}{':' + method if method else ''} prior {hours:g} GPU-h on {gpu_label}, default factors"
    return Imputation(gh, Interval.from_triple(facility.triple()), Interval.from_triple(fp.carbon.total_kg.triple()),
                      Interval.from_triple(fp.water.total_l.triple()), tdp_w, basis)


def recorded_gpu(metadata: dict[str, Any] | None) -> str | None:
    """The GPU named in a model's stored metadata (card ``hardware`` block), if any."""
    if not metadata:
        return None
    hardware = metadata.get("hardware") or (metadata.get("dia") or {}).get("hardware") or {}
    if isinstance(hardware, dict):
        gpus = hardware.get("gpus") or []
        if gpus and isinstance(gpus[0], dict) and gpus[0].get("name"):
            return str(gpus[0]["name"])
        if hardware.get("gpu"):
            return str(hardware["gpu"])
    name = metadata.get("gpu_name")
    return str(name) if name else None


__all__ = ["GPU_HOUR_PRIORS", "Imputation", "impute_member", "prior_gpu_hours", "recorded_gpu"]
