"""``dia.track()``: measure a block of code, a function or a whole training job.

>>> import dia
>>> with dia.track("me/tiny-model", kind="finetuning", store=False) as run:
...     with run.phase("train"):
...         run.count(steps=1, samples=32)
>>> run.report.workload.steps
1

The report (energy per component, carbon and water with intervals, the factors used)
is saved to the store when the run stops; a running run is checkpointed every
``DIA_CHECKPOINT_S`` seconds so a crash leaves its energy up to the last checkpoint.
"""

from __future__ import annotations

from dia.tracker._lifecycle import current_run
from dia.tracker._options import RunOptions
from dia.tracker._run import Run, track

__all__ = ["Run", "RunOptions", "current_run", "track"]
