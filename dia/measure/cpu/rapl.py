"""CPU package (and DRAM) energy from RAPL counters under Linux powercap.

Reads ``/sys/class/powercap/intel-rapl:N/energy_uj`` for each package (AMD CPUs expose
the same interface on recent kernels) and the ``dram`` sub-domains where present. The
counters wrap around at ``max_energy_range_uj``; :meth:`RaplMeter.sample` runs often
enough (every sampling interval) to see each wrap. RAPL counts the whole package, so
other processes on the machine are included (noted in the report).

The powercap root is injectable for tests:

>>> from dia.measure.cpu.rapl import find_domains
>>> find_domains("/nonexistent")
[]
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dia.measure.base import ComponentEnergy, Meter

POWERCAP_ROOT = "/sys/class/powercap"


@dataclass
class RaplDomain:
    path: Path
    name: str  # package-0, dram, ...
    max_uj: int

    @property
    def component(self) -> str:
        return "ram" if self.name.startswith("dram") else "cpu"

    def read_uj(self) -> int:
        return int((self.path / "energy_uj").read_text().strip())


def find_domains(root: str | Path = POWERCAP_ROOT) -> list[RaplDomain]:
    """Readable package and DRAM domains under ``root`` (empty when unreadable or absent)."""
    root = Path(root)
    out: list[RaplDomain] = []
    try:
        candidates = sorted(p for p in root.iterdir() if p.name.startswith("intel-rapl:"))
    except OSError:
        return []
    for path in candidates:
        try:
            name = (path / "name").read_text().strip()
            if not (name.startswith("package") or name.startswith("dram")):
                continue  # core/uncore are parts of the package: counting them would double it
            max_uj = int((path / "max_energy_range_uj").read_text().strip())
            domain = RaplDomain(path, name, max_uj)
            domain.read_uj()  # often root-only: unreadable means not usable
        except (OSError, ValueError):
            continue
        out.append(domain)
    return out


class RaplMeter(Meter):
    """Energy of the CPU packages (and DRAM where exposed); quality ``measured``."""

    def __init__(self, domains: list[RaplDomain]) -> None:
        super().__init__(name="rapl")
        self.domains = domains
        self._last_uj: dict[Path, int] = {}
        self._total_uj: dict[Path, int] = {}

    @property
    def components(self) -> set[str]:
        return {d.component for d in self.domains}

    def start(self) -> None:
        with self._lock:
            for d in self.domains:
                self._last_uj[d.path] = d.read_uj()
                self._total_uj[d.path] = 0
            self.note("CPU energy from RAPL package counters: includes other processes on this machine")

    def _advance(self, d: RaplDomain) -> None:
        try:
            now = d.read_uj()
        except (OSError, ValueError):
            self.note(f"RAPL domain {d.path.name} became unreadable: counted up to its last reading")
            return
        last = self._last_uj[d.path]
        delta = now - last if now >= last else now + d.max_uj - last  # wrapped once
        self._total_uj[d.path] += delta
        self._last_uj[d.path] = now

    def sample(self) -> None:
        with self._lock:
            for d in self.domains:
                self._advance(d)

    def read(self) -> list[ComponentEnergy]:
        self.sample()
        with self._lock:
            joules: dict[str, float] = {}
            for d in self.domains:
                joules[d.component] = joules.get(d.component, 0.0) + self._total_uj[d.path] / 1e6
        return [ComponentEnergy(c, j, j, j, "measured") for c, j in joules.items()]  # type: ignore[arg-type]
