"""``meter="codecarbon"``: CodeCarbon's offline tracker as the energy source.

For users who want CodeCarbon's numbers in DIA reports. CodeCarbon measures CPU, GPU
and RAM energy (RAPL/NVML where it can, its own TDP model where not); DIA still does
the conversion to carbon and water, so the factors stay DIA's and are listed in the
report. CodeCarbon gives no interval: DIA reports +-20 % around its figures, quality
``estimated`` (the report's ``meter`` says ``codecarbon``). CodeCarbon is imported only
when this meter starts: it takes about a second.

In a distributed job each rank's tracker watches only the GPUs that rank counts
(``gpu_ids``, NVML indices, decided by the same ownership rule as DIA's own NVML meter),
and only local rank 0 keeps CodeCarbon's CPU and RAM figures (``host=False`` drops them
elsewhere): CodeCarbon would otherwise count every GPU and the host once per rank.

>>> from dia.measure.codecarbon_meter import CodeCarbonMeter
>>> CodeCarbonMeter(country="FRA").name
'codecarbon'
"""

from __future__ import annotations

import logging
import tempfile
from typing import Any

from dia.measure.base import ComponentEnergy, GPUDevice, GPUInfo, Meter

UNCERTAINTY = 0.2  # DIA's assumption: CodeCarbon publishes no interval
_J_PER_KWH = 3.6e6


class CodeCarbonMeter(Meter):
    """Wraps ``codecarbon.OfflineEmissionsTracker``; ``tracker_factory`` is injectable for tests.

    ``gpus``: the GPUs this rank counts (``None``: let CodeCarbon pick, as a lone process
    does; ``[]``: none). ``host``: whether this process reports the host's CPU and RAM.
    """

    def __init__(self, *, country: str | None = None, tracker_factory: Any = None,
                 measure_power_secs: float = 1.0, gpus: list[GPUDevice] | None = None,
                 host: bool = True) -> None:
        super().__init__(name="codecarbon")
        self.country = (country or "USA").upper()
        self._factory = tracker_factory
        self._interval = measure_power_secs
        # CodeCarbon's gpu_ids are NVML indices (it resolves them against nvmlDeviceGetHandleByIndex).
        self.gpu_ids: list[int] | None = None if gpus is None else [d.index for d in gpus]
        self.host = host
        for d in gpus or []:
            self.gpus.append(GPUInfo(index=d.index, name=d.name, uuid=d.uuid))
        self._tracker: Any = None
        self._final: dict[str, float] | None = None
        self._tmp: tempfile.TemporaryDirectory[str] | None = None

    def start(self) -> None:
        factory = self._factory
        if factory is None:
            from codecarbon import OfflineEmissionsTracker

            logging.getLogger("codecarbon").setLevel(logging.ERROR)
            factory = OfflineEmissionsTracker
        self._tmp = tempfile.TemporaryDirectory(prefix="dia-codecarbon-")
        kwargs: dict[str, Any] = {}
        if self.gpu_ids is not None:
            # Several ranks of a node each run a tracker: CodeCarbon's one-instance lock must not stop them.
            kwargs.update(gpu_ids=list(self.gpu_ids), allow_multiple_runs=True)
        self._tracker = factory(country_iso_code=self.country, save_to_file=False, log_level="error",
                                measure_power_secs=self._interval, output_dir=self._tmp.name,
                                tracking_mode="process", **kwargs)
        self._tracker.start()
        self.note("energy from CodeCarbon's OfflineEmissionsTracker (DIA assumes +-20 %)")
        if self.gpu_ids is not None:
            self.note("CodeCarbon watches this rank's GPUs only: "
                      + (", ".join(GPUDevice(g.index, g.uuid, g.name).label for g in self.gpus) or "none"))
        if not self.host:
            self.note("CodeCarbon's CPU and RAM figures are left out on this rank: local rank 0 reports the host")

    def _kwh(self) -> dict[str, float]:
        t = self._tracker
        if self._final is not None:
            return self._final
        if t is None:
            return {}
        return {"cpu": float(t._total_cpu_energy.kWh), "gpu": float(t._total_gpu_energy.kWh),
                "ram": float(t._total_ram_energy.kWh)}

    def sample(self) -> None:
        """CodeCarbon samples in its own thread; nothing to do here."""

    def read(self) -> list[ComponentEnergy]:
        with self._lock:
            kwh = self._kwh()
        out = []
        for component in ("gpu", "cpu", "ram") if self.host else ("gpu",):
            j = kwh.get(component, 0.0) * _J_PER_KWH
            if component == "gpu" and j == 0.0:
                continue  # no GPU seen by CodeCarbon
            out.append(ComponentEnergy(component, j, j * (1 - UNCERTAINTY), j * (1 + UNCERTAINTY),  # type: ignore[arg-type]
                                       "estimated"))
        return out

    def stop(self) -> list[ComponentEnergy]:
        with self._lock:
            if self._tracker is not None and self._final is None:
                self._tracker.stop()  # measures once more, then final totals
                self._final = {"cpu": float(self._tracker._total_cpu_energy.kWh),
                               "gpu": float(self._tracker._total_gpu_energy.kWh),
                               "ram": float(self._tracker._total_ram_energy.kWh)}
            if self._tmp is not None:
                self._tmp.cleanup()
                self._tmp = None
        return self.read()
