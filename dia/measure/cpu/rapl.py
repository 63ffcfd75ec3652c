"""CPU package (and DRAM) energy from RAPL counters under Linux powercap.

Reads ``/sys/class/powercap/intel-rapl:N/energy_uj`` for each package (AMD CPUs expose
the same interface on recent kernels) and the ``dram`` sub-domains where present. The
counters wrap around at ``max_energy_range_uj``; :meth:`RaplMeter.sample` runs often
enough (every sampling interval) to see each wrap. RAPL counts the whole package, so
other processes on the machine are included (noted in the report).

**Interval.** RAPL readings carry +-5 % (CPU packages) and +-10 % (DRAM), DIA's reading of
the validation literature for Haswell and newer, where RAPL moved from an on-chip model to
measurement through the integrated voltage regulators (Hackenberg et al., "An Energy
Efficiency Feature Survey of the Intel Haswell Processor", IPDPSW 2015; Khan et al., "RAPL
in Action: Experiences in Using RAPL for Power Measurements", ACM TOMPECS 3(2), 2018: package
readings highly correlated with plug power). DRAM is wider: its RAPL figure follows actual
power up to a constant offset, worst on idle systems (Desrochers, Paradis and Weaver, "A
Validation of DRAM RAPL Power Measurements", MEMSYS 2016). Older (modelled, Sandy/Ivy
Bridge) and AMD counters are less validated; the interval does not widen for them.

The powercap root is injectable for tests:

>>> from dia.measure.cpu.rapl import RAPL_ACCURACY, find_domains
>>> find_domains("/nonexistent")
[]
>>> RAPL_ACCURACY["cpu"], RAPL_ACCURACY["ram"]
(0.05, 0.1)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from dia.measure.base import ComponentEnergy, Meter

POWERCAP_ROOT = "/sys/class/powercap"
# Relative half-width of a RAPL reading's interval, per component (sources in the docstring).
RAPL_ACCURACY: dict[str, float] = {"cpu": 0.05, "ram": 0.10}


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
        return [ComponentEnergy(c, j, j * (1 - RAPL_ACCURACY[c]), j * (1 + RAPL_ACCURACY[c]), "measured")  # type: ignore[arg-type]
                for c, j in joules.items()]
