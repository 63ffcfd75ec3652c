"""Complete an imported report that states energy but no carbon or water.

``dia import`` and ``dia ingest`` of report files pass :func:`convert_if_missing` to the
record layer (which never imports :mod:`dia.convert` itself). It runs the tracker's own
conversion (:func:`~dia.convert.footprint.convert_report`: the report's location, an
unknown or missing one falling back to the world default with quality ``estimated`` and a
note; never the importing machine's ``DIA_COUNTRY`` or config file, since the run happened
elsewhere) and keeps the energy exactly as stated:

* no carbon (and energy disclosed): carbon and water are filled, with their factors;
* carbon but no water: water alone is filled (on-site from IT energy x WUE, off-site
  from facility energy x EWIF); the stated carbon is kept and only the PUE, WUE and EWIF
  factors are added;
* a stated facility energy is kept, and its ratio to IT energy is the PUE used (outside
  1-5: :class:`~dia.errors.InvalidReportError`, the record is refused);
* energy not disclosed (quality ``unavailable``) or carbon and water both stated:
  the report is returned unchanged.

>>> from dia.record.report import RunReport
>>> r = RunReport(energy={"it_kwh": {"value": 10.0, "unit": "kWh", "quality": "measured"}},
...               location={"country": "FRA"})
>>> done = convert_if_missing(r)
>>> done.energy.it_kwh == r.energy.it_kwh, done.carbon.total_kg.value > 0, done.water is not None
(True, True, True)
"""

from __future__ import annotations

from dia.convert.footprint import convert_report
from dia.errors import InvalidFactorError, InvalidReportError
from dia.record.report import Factor, Quality, RunReport

NOTE_CONVERTED = "carbon and water converted on import from the stated energy"
NOTE_WATER = "water converted on import from the stated energy (carbon as stated)"
_WATER_FACTORS = frozenset({"pue", "wue", "ewif"})


def _converted(report: RunReport) -> RunReport:
    """``convert_report`` of ``report``, its stated energy kept (a stated facility sets the PUE)."""
    energy = report.energy
    facility, it = energy.facility_kwh, energy.it_kwh
    stated_pue = (facility is not None and facility.quality is not Quality.UNAVAILABLE and it.value > 0)
    if stated_pue:
        assert facility is not None
        ratio = facility.value / it.value
        try:
            done = convert_report(report, use_configured=False, pue=ratio)
        except InvalidFactorError:
            raise InvalidReportError(
                f"energy.facility_kwh: {facility.value:.6g} is {ratio:.3g} x it_kwh, a PUE outside 1-5:"
                " not converted (check the units of the two energies)") from None
        factors = [_stated_pue(f) if f.name == "pue" else f for f in done.factors]
        done = done.model_copy(update={"factors": factors})
    else:
        done = convert_report(report, use_configured=False)
    return done.model_copy(update={"energy": energy if stated_pue else done.energy})


def _stated_pue(f: Factor) -> Factor:
    return f.model_copy(update={"source": "the report's facility energy / IT energy", "granularity": "explicit"})


def _merged_factors(kept: list[Factor], new: list[Factor]) -> list[Factor]:
    names = {f.name for f in new}
    return [*(f for f in kept if f.name not in names), *new]


def _with_note(notes: list[str], *added: str) -> list[str]:
    return [*notes, *(n for n in added if n not in notes)]


def convert_if_missing(report: RunReport) -> RunReport:
    """``report`` with carbon and/or water converted from its energy where it states none."""
    if report.energy.it_kwh.quality is Quality.UNAVAILABLE:
        return report
    if report.carbon is None:
        done = _converted(report)
        return done.model_copy(update={
            "factors": _merged_factors(report.factors, done.factors),
            "notes": _with_note(done.notes, NOTE_CONVERTED),
        })
    if report.water is None:
        done = _converted(report)
        water_factors = [f for f in done.factors if f.name in _WATER_FACTORS]
        added = [n for n in done.notes if n not in report.notes]
        return report.model_copy(update={
            "water": done.water,
            "factors": _merged_factors(report.factors, water_factors),
            "notes": _with_note(report.notes, *added, NOTE_WATER),
        })
    return report


__all__ = ["NOTE_CONVERTED", "NOTE_WATER", "convert_if_missing"]
