"""``dia demo``: DIA's main job on the BIOSCAN family, end to end, on a fresh demo store.

1. ingests the published BIOSCAN family (estimated footprints) from model cards;
2. trains a real toy family on the CPU, every step measured by DIA;
3. prints family and upstream rollups and writes a filled model card;
4. serves the dashboard on the demo store (unless ``serve=False``).

>>> from dia.demo import run_demo
>>> result = run_demo(workdir=".demo", quick=True, serve=False)  # doctest: +SKIP
"""

from __future__ import annotations

from dia.demo.run import DemoResult, run_demo

__all__ = ["DemoResult", "run_demo"]
