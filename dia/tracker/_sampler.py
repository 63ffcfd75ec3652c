"""The background sampler of a run: meters, the power trace, periodic checkpoints.

It owns the started meters and the thread that samples them. Every meter failure goes
to the ``degrade`` callback (a note and a warning), never to the user's code.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from dia.measure.base import ComponentEnergy, Meter
from dia.record.report import PowerSample
from dia.tracker import _build

MAX_POWER_SAMPLES = 2000  # beyond this, every other sample is dropped (trace kept whole)
FIRST_CHECKPOINT_S = 1.0

Degrade = Callable[[str, BaseException], object]


class Sampler:
    """Samples ``meters`` every ``interval_s`` and calls ``checkpoint`` every ``checkpoint_s``.

    ``start()`` launches the thread, ``stop()`` ends it and returns the meters' final
    readings; ``readings()`` is safe to call from any thread (``None`` if a meter failed).
    """

    def __init__(self, *, interval_s: float, checkpoint_s: float, degrade: Degrade,
                 checkpoint: Callable[[], None]) -> None:
        self.interval_s = interval_s
        self.checkpoint_s = checkpoint_s
        self.meters: list[Meter] = []
        self._degrade = degrade
        self._checkpoint = checkpoint
        self._lock = threading.Lock()
        self._power: list[PowerSample] = []
        self._stop_event = threading.Event()
        self._thread: threading.Thread | None = None
        self._t0 = 0.0
        self._offset_s = 0.0

    def open(self, meters: list[Meter], power: list[PowerSample] | None = None) -> None:
        """Start ``meters`` (those that fail are left out) and keep an earlier power trace."""
        self._power = list(power or [])
        for m in meters:
            try:
                m.start()
                self.meters.append(m)
            except Exception as exc:
                self._degrade(f"meter {m.name}", exc)

    def start(self, t0: float, *, offset_s: float = 0.0, name: str = "dia-run") -> None:
        """Sample in a daemon thread; power samples are timed from ``t0`` plus ``offset_s``."""
        self._t0, self._offset_s = t0, offset_s
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._thread.start()

    def stop(self) -> list[ComponentEnergy]:
        """End the thread, stop the meters, return their final readings."""
        self._stop_event.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=5.0)
        final: list[ComponentEnergy] = []
        for m in self.meters:
            try:
                final += m.stop()
            except Exception as exc:
                self._degrade(f"meter {m.name}", exc)
        return final

    def readings(self) -> list[ComponentEnergy] | None:
        """The meters' cumulative readings now; ``None`` when one of them failed."""
        out: list[ComponentEnergy] = []
        for m in self.meters:
            try:
                out += m.read()
            except Exception as exc:
                self._degrade(f"meter {m.name}", exc)
                return None
        return out

    def power(self) -> list[PowerSample]:
        with self._lock:
            return list(self._power)

    def _loop(self) -> None:
        try:
            last_t, last_j = time.perf_counter(), 0.0
            # The first checkpoint comes early (a crash then leaves the run in the store),
            # but not at once: a block shorter than that is saved once, by stop().
            next_cp = last_t + min(self.checkpoint_s, FIRST_CHECKPOINT_S)
            while True:
                now = time.perf_counter()
                wait = max(0.0, min(self.interval_s, next_cp - now))
                if self._stop_event.wait(wait):
                    return
                for m in self.meters:
                    m.sample()
                now = time.perf_counter()
                readings = self.readings()
                if readings is not None and self.meters and now > last_t:
                    joules = _build.total_j(readings)
                    self._record_power(now, max(0.0, joules - last_j) / (now - last_t))
                    last_t, last_j = now, joules
                if now >= next_cp:
                    self._checkpoint()
                    next_cp = now + self.checkpoint_s
        except Exception as exc:  # the sampler died: the final reading at stop still counts
            self._degrade("background sampler", exc)

    def _record_power(self, now: float, watts: float) -> None:
        with self._lock:
            self._power.append(PowerSample(t_s=self._offset_s + now - self._t0, power_w=watts))
            if len(self._power) > MAX_POWER_SAMPLES:
                self._power = self._power[::2]
