"""The limits of a run report: what the store can hold, and what a sane figure is.

Defined once here and used by both :mod:`dia.record.tables` (the column definitions) and
:mod:`dia.record.report` (the validators), so that a report that validates is a report
that SQLite and PostgreSQL store: ``dia validate`` and ``dia import`` agree on every file.

Text columns are ``VARCHAR(n)`` on PostgreSQL, which refuses a longer value (SQLite does
not): the validators refuse it first, naming the field. Integer columns are ``INTEGER``
(int32 on PostgreSQL); every integer of a report, stored in a column or only in the JSON,
is at most int64 (SQLite's INTEGER and the JSON readers of other tools).

Figures are finite and at most a bound per kind, far above any real run yet far enough
below the largest float that sums over millions of stored runs stay finite (a rollup
never prints ``Infinity``):

>>> MAX_ENERGY_KWH * 10**9 < 1e300
True
"""

from __future__ import annotations

# Lengths of the text columns (VARCHAR(n) on PostgreSQL).
RUN_ID_LENGTH = 36  # a UUID
MODEL_ID_LENGTH = 200  # more than the longest id validate_model_id accepts (193)
KIND_LENGTH = 32
STATUS_LENGTH = 16
QUALITY_LENGTH = 16
COUNTRY_LENGTH = 8  # ISO 3166-1 alpha-3 (3), with room for a zone code
RUN_GROUP_LENGTH = 64
HOST_LENGTH = 255  # a fully qualified domain name
SOURCE_LENGTH = 32
RELATION_LENGTH = 32
METHOD_LENGTH = 32

# Integers.
INT32_MAX = 2**31 - 1  # PostgreSQL INTEGER
INT64_MAX = 2**63 - 1  # SQLite INTEGER, PostgreSQL BIGINT
RANK_MAX = INT32_MAX  # rank and world_size (rank is an INTEGER column)
PID_MAX = INT64_MAX  # some systems have pids above int32; see tables.RunRow.pid
COUNT_MAX = INT64_MAX  # workload counters, GPU count, cores, years

# Figures, per run (one bound per kind).
# Each derived figure has room for the largest input times its factor: facility energy is
# IT energy x PUE, carbon and water are facility energy x their factors, so converting a
# report at the energy bound never produces a figure beyond its own bound.
MAX_ENERGY_KWH = 1e12  # IT energy and its parts: a thousand TWh, a large country's year
MAX_FACILITY_KWH = 1e13  # IT energy x a PUE of up to 10
MAX_CARBON_KG = 1e14  # facility energy x up to 10 kgCO2e/kWh
MAX_WATER_L = 1e16  # facility energy x up to 1,000 L/kWh
MAX_INTENSITY = 1e21  # Wh per 1,000 inferences, J per token (energy over a count of 1)
MAX_FACTOR = 1e9  # a conversion factor (kgCO2e/kWh, PUE, L/kWh, kgCO2e per GPU-hour)
MAX_DURATION_S = 1e10  # three centuries, for a run, a phase or a power sample's time
MAX_GPU_HOURS = 1e12
MAX_POWER_W = 1e12  # a power sample: a terawatt
MAX_RAM_GB = 1e12
