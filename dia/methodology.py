"""The conventions behind DIA's figures, each named, sourced and stated once.

A footprint can only be defended if every choice behind it is written down: which
carbon intensity (lifecycle or combustion only), whether hydro reservoirs evaporate
"for" the electricity, how much of a machine's RAM a run is charged for. This module is
the one place those conventions are stated. The README's methodology section and the
dashboard's Methodology page show :func:`markdown_list` (a test checks the README), and
the factors DIA records name the convention they follow (``Factor.convention``).

>>> [c.name for c in CONVENTIONS][:3]
['Location-based carbon', 'Carbon intensity scope', 'Hydro reservoir evaporation']
>>> by_name("Carbon intensity scope").default
'lifecycle, labelled `convention: lifecycle`'
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Convention:
    """One methodological choice: the default DIA applies, what else is shown, and why."""

    name: str
    default: str  # the convention behind the central value
    other: str  # what happens to the other convention(s)
    source: str
    sentence: str  # one sentence a reader of a paper or a card can quote


CONVENTIONS: tuple[Convention, ...] = (
    Convention(
        "Location-based carbon",
        default="location-based",
        other="market-based figures (after renewable purchases) are never mixed into the same field",
        source="GHG Protocol Scope 2 Guidance (WRI/WBCSD, 2015)",
        sentence="Operational carbon is facility energy (IT energy x PUE) times the average carbon "
                 "intensity of the grid where the run happened.",
    ),
    Convention(
        "Carbon intensity scope",
        default="lifecycle, labelled `convention: lifecycle`",
        other="the direct-combustion figure is recorded beside it (`alternative`) and lies inside "
              "the interval",
        source="IPCC AR5 WGIII Annex III lifecycle and direct medians; country figures: Our World in "
               "Data / Ember (lifecycle)",
        sentence="Every carbon intensity counts the whole life cycle of the generation; combustion-only "
                 "rates (EPA eGRID states, cloud providers' grid figures) are converted with the AR5 "
                 "per-technology ratios applied to the grid's mix.",
    ),
    Convention(
        "Hydro reservoir evaporation",
        default="counted, labelled `convention: with_hydro_evaporation`",
        other="the figure without it is recorded beside it (`alternative`); the interval spans both "
              "conventions +-25 %, and `--hydro with|without` pins one",
        source="WRI, Guidance for calculating water use embedded in purchased electricity (Reig et "
               "al. 2020), as used by Li et al., Making AI Less Thirsty; per-technology factors: "
               "Macknick et al. 2012",
        sentence="Off-site water is facility energy times the water consumed to generate a kWh of the "
                 "grid's mix, evaporation from hydro reservoirs included; where the mix is unknown, "
                 "the world's mix under the same convention.",
    ),
    Convention(
        "One place per run",
        default="the most specific location given",
        other="a country or region that contradicts a cloud region is refused (on the tracker's "
              "path: a note, and the cloud region's grid is used)",
        source="DIA methodology (docs/conversion.md)",
        sentence="A cloud region fixes the country and grid; carbon intensity and off-site water come "
                 "from the same grid, at the finest level the data has for both, and each factor's "
                 "`granularity` says which level it came from.",
    ),
    Convention(
        "Embodied carbon",
        default="per accelerator class, over a 5-year life at 80 % utilisation",
        other="an unknown accelerator gets the A100 value with an interval spanning every class; "
              "4- and 6-year lives bound the interval",
        source="A100: Luccioni et al., BLOOM (JMLR 2023); other classes scaled by silicon area "
               "(Boavizta's GPU method); node share: BLOOM and Cloud Carbon Footprint",
        sentence="Manufacturing emissions of the accelerator and its share of the host node are "
                 "charged per GPU-hour; the figure is always `estimated`, and a GPU-hours interval is "
                 "carried end-point-wise.",
    ),
    Convention(
        "RAM estimate",
        default="the run's resident memory (RSS), at least 0.5 GB",
        other="the whole machine's RAM power, what an exclusive run would be charged, is the "
              "interval's upper end",
        source="3/8 W per GB of DRAM (eco2AI, Budennyy et al. 2022); 5 W per 8 GB module, at least "
               "10 W (CodeCarbon v3)",
        sentence="Without an energy counter, RAM power is 3/8 W per GB of the memory the run's "
                 "processes hold, so concurrent runs on one machine are not each charged for all of "
                 "its RAM.",
    ),
    Convention(
        "Not disclosed is not zero",
        default="null, shown as \"not disclosed\"",
        other="`coverage_by_quantity` gives the share of members that disclosed energy, carbon and "
              "water",
        source="DIA methodology (docs/lineage.md)",
        sentence="A figure no member disclosed is null in JSON and \"not disclosed\" in the CLI and "
                 "dashboard, never 0; a partly disclosed total is the sum of what was disclosed.",
    ),
    Convention(
        "Incremental reports, counted once",
        default="each model's own runs",
        other="cumulative figures on cards are kept for reference, never summed",
        source="DIA methodology (docs/lineage.md)",
        sentence="A family total sums the unique members of the lineage DAG once each; DIA "
                 "recognises its own cards by the run ids they carry, and a card whose carbon figure "
                 "is its base's own total, copied (quantizations often carry the base's card), is not "
                 "counted again.",
    ),
    Convention(
        "Consistent reports",
        default="refused when inconsistent",
        other="parts marked `unavailable` were not disclosed and are not summed",
        source="DIA methodology (docs/store.md)",
        sentence="A report is imported only if its totals equal the sum of their parts (1e-6 "
                 "relative), no total claims a better quality than its worst part, and every figure "
                 "has low <= value <= high; one that states energy only is converted at its place "
                 "(else the world default, `estimated`).",
    ),
    Convention(
        "Relations inferred like the Hub",
        default="the card's `base_model_relation`",
        other="when absent, inferred from tags, library, name and (with `--hub`) files; the "
              "edge's `method` says from what, e.g. `inferred:tag:gguf`",
        source="Hugging Face Hub model tree (docs/cards.md)",
        sentence="GGUF/GPTQ/AWQ/EXL2/bitsandbytes repos are quantizations, PEFT repos adapters, "
                 "several bases a merge, anything else a fine-tune.",
    ),
)

def by_name(name: str) -> Convention:
    """The convention called ``name`` (``KeyError`` if none)."""
    for convention in CONVENTIONS:
        if convention.name == name:
            return convention
    raise KeyError(name)


def markdown_list() -> str:
    """The conventions as a Markdown list: the README and the Methodology page show it."""
    return "\n".join(f"- **{c.name}.** {c.sentence} *Default:* {c.default}; {c.other}. *Source:* {c.source}."
                     for c in CONVENTIONS)


__all__ = ["CONVENTIONS", "Convention", "by_name", "markdown_list"]
