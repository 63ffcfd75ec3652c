"""``run.phase(name)``: a named, nestable sub-window of a run, with its own energy.

A context manager that callbacks may also drive by hand (``__enter__``/``__exit__``).
Nested phases are named by path: ``"fit/validate"``.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any, Literal

from dia.record.report import Phase, Quantity
from dia.tracker import _build

if TYPE_CHECKING:  # pragma: no cover
    from dia.tracker._run import Run


def _now() -> Any:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc)


class PhaseWindow:
    """One ``run.phase(name)`` window: a context manager usable by hand (callbacks)."""

    def __init__(self, run: Run, name: str) -> None:
        self.run, self.name = run, name
        self.path = ""

    def __enter__(self) -> PhaseWindow:
        self.path = "/".join([*self.run._phase_stack, self.name])
        self.run._phase_stack.append(self.name)
        self.run._sync_edge()
        self._t0 = time.perf_counter()
        self._started_at = _now()
        self._e0 = self.run._safe_readings()
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> Literal[False]:
        stack = self.run._phase_stack
        if stack and stack[-1] == self.name:
            stack.pop()
        elif self.name in stack:
            stack.remove(self.name)
        self.run._sync_edge()
        duration_s = time.perf_counter() - self._t0
        e1 = self.run._safe_readings()
        energy: Quantity | None = None
        if (e0 := self._e0) and e1 is not None:
            try:
                before, after = _build.energy_from(e0), _build.energy_from(e1)
                a, b = after.it_kwh, before.it_kwh
                value = max(0.0, a.value - b.value)
                energy = Quantity.of(value, "kWh", a.quality, low=min(value, max(0.0, a.low - b.low)),
                                     high=max(value, a.high - b.high))
            except Exception:  # a failed reading leaves this phase without energy, nothing more
                energy = None
        try:
            phase = Phase(name=self.path, started_at=self._started_at, ended_at=_now(),
                          duration_s=duration_s, energy_kwh=energy)
        except Exception as exc:  # a phase the report refuses is left out, the user's code goes on
            self.run._degrade(f"phase {self.path[:80]!r}", exc)
            return False
        with self.run._lock:
            self.run._phases.append(phase)
        self.run._flag_short(f"phase {self.path[:80]!r}", duration_s)
        return False
