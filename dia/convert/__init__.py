"""Convert: energy to carbon (operational and embodied) and water (on-site and off-site).

Offline factor tables (``tables``), location resolution (``location``), the five factors
for a place (``factors``), embodied carbon per accelerator class (``embodied``), the
formulas (``footprint``) and the completion of imported energy-only reports (``complete``).

>>> from dia.convert import footprint
>>> fp = footprint(12.5, country="FRA")
>>> fp.carbon.total_kg.unit, fp.level
('kgCO2e', 'country')
"""

from __future__ import annotations

from dia.convert.complete import convert_if_missing
from dia.convert.embodied import embodied_factor
from dia.convert.factors import FACTOR_NAMES, ResolvedFactors, gpu_tdp_w, resolve_factors
from dia.convert.footprint import Footprint, convert_report, footprint
from dia.convert.location import known_locations, resolve_place

__all__ = ["FACTOR_NAMES", "Footprint", "ResolvedFactors", "convert_if_missing", "convert_report", "embodied_factor",
           "footprint", "gpu_tdp_w", "known_locations", "resolve_factors", "resolve_place"]
